"""A cluster's declared databases and roles: a generated password per login role, in the basic-auth Secret
the Cluster's ``spec.managed.roles`` names, and a CloudNativePG ``Database`` per declared database.

Two steps, because the Cluster sits between them: the component's constructor creates the password Secrets,
which the Cluster spec names (``managed_roles()``); ``declare_databases(cluster)`` registers the ``Database``
objects once the Cluster is Ready (CloudNativePG reconciles them on its primary only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.builders.cluster_spec import ClusterRef
from components.builders.databases import (
    DATABASE_API_VERSION,
    DATABASE_KIND,
    RELOAD_LABEL,
    ROLE_SECRET_TYPE,
    database_object_name,
    database_spec,
    managed_roles,
    role_secret_name,
)
from settings.databases import DatabaseSettings, RoleSettings

ROLE_PASSWORD_LENGTH = 32
# CloudNativePG sets status.applied once the database, its extensions and schemas are in place; an owner
# that does not exist or an extension that fails shows up in the deployment, not only in the object's status.
DATABASE_APPLIED = "jsonpath={.status.applied}=true"
DATABASE_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class DatabasesAndRolesArgs:
    provider: pulumi.ProviderResource
    namespace: str
    cluster_name: str
    databases: Mapping[str, DatabaseSettings]
    roles: Mapping[str, RoleSettings]
    # The Secrets wait for these (the Namespace they go into).
    secrets_depend_on: Sequence[pulumi.Resource] = ()


class DatabasesAndRoles(pulumi.ComponentResource):
    """Password Secrets of a cluster's login roles, and its declared ``Database`` objects."""

    password_secret_names: dict[str, str]
    """The Secret of each login role, by role name (what ``managed_roles()`` names)."""
    passwords: dict[str, pulumi.Output[str]]
    """The generated password of each login role, by role name (secret outputs)."""
    secrets: list[pulumi.Resource]
    """The password Secrets, for the Cluster to wait for (its managed roles read them)."""

    def __init__(self, name: str, args: DatabasesAndRolesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:DatabasesAndRoles", name, None, opts)
        self._name = name
        self._args = args
        self.password_secret_names = {}
        self.passwords = {}
        self.secrets = []
        in_namespace = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.secrets_depend_on))
        for role in sorted(name for name, settings in args.roles.items() if settings.login):
            password = random.RandomPassword(
                f"{name}-role-{role}-password",
                length=ROLE_PASSWORD_LENGTH,
                special=False,
                opts=pulumi.ResourceOptions(parent=self),
            ).result
            secret_name = role_secret_name(args.cluster_name, role)
            secret = k8s.core.v1.Secret(
                f"{name}-role-{role}",
                metadata={"name": secret_name, "namespace": args.namespace, "labels": RELOAD_LABEL},
                type=ROLE_SECRET_TYPE,
                # CloudNativePG refuses a Secret whose username is not the role's name.
                string_data={"username": role, "password": password},
                opts=in_namespace,
            )
            self.secrets.append(secret)
            self.password_secret_names[role] = secret_name
            self.passwords[role] = pulumi.Output.secret(password)
        self.register_outputs({"passwordSecretNames": self.password_secret_names})

    def managed_roles(self) -> list[dict[str, Any]]:
        """The Cluster's ``spec.managed.roles``, naming this component's Secrets."""
        return managed_roles(self._args.roles, self.password_secret_names)

    def declare_databases(self, cluster: ClusterRef) -> None:
        """One ``Database`` object per declared database, registered after ``cluster.resource`` (awaited
        until Ready): CloudNativePG creates the database on the primary."""
        opts = pulumi.ResourceOptions(
            parent=self,
            provider=cluster.provider,
            depends_on=[cluster.resource],
            # Both are immutable (the CRD's CEL rules): another cluster or name is another object.
            replace_on_changes=["spec.cluster", "spec.name"],
        )
        for database in sorted(self._args.databases):
            k8s.apiextensions.CustomResource(
                f"{self._name}-database-{database}",
                api_version=DATABASE_API_VERSION,
                kind=DATABASE_KIND,
                metadata={
                    "name": database_object_name(cluster.name, database),
                    "namespace": cluster.namespace,
                    "annotations": {
                        "pulumi.com/waitFor": DATABASE_APPLIED,
                        "pulumi.com/timeoutSeconds": str(DATABASE_TIMEOUT_SECONDS),
                    },
                },
                spec=database_spec(cluster.name, database, self._args.databases[database]),
                opts=opts,
            )

    def connection_uris(self, host: pulumi.Input[str], port: pulumi.Input[int]) -> dict[str, pulumi.Output[str]]:
        """``postgresql://`` URIs (sslmode=verify-full) of every login role to every declared database, keyed
        ``<role>@<database>``, as secrets. Whether a role may use a database is up to its grants."""
        return {
            f"{role}@{database}": pulumi.Output.secret(
                pulumi.Output.format("postgresql://{0}:{1}@{2}:{3}/{4}?sslmode=verify-full", role, password, host, port, database)
            )
            for role, password in self.passwords.items()
            for database in sorted(self._args.databases)
        }
