"""A cluster's declared roles (``Cluster.spec.managed.roles``) and databases (CloudNativePG ``Database``
objects), and the names of their Kubernetes objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from settings.databases import DatabaseSettings, RoleSettings, kubernetes_name

DATABASE_API_VERSION = "postgresql.cnpg.io/v1"
DATABASE_KIND = "Database"
# CloudNativePG reads a role's password from a Secret of this type, whose username must equal the role's
# name (internal/management/controller/roles/runnable.go getPassword @ v1.30.0); a changed password in a
# Secret labelled cnpg.io/reload is applied at once, in another only at a later reconciliation
# (docs/src/declarative_role_management.md).
ROLE_SECRET_TYPE = "kubernetes.io/basic-auth"
RELOAD_LABEL = {"cnpg.io/reload": "true"}


def role_secret_name(cluster_name: str, role: str) -> str:
    """The Secret holding a login role's password: ``<cluster>-role-<role>``."""
    return f"{cluster_name}-role-{kubernetes_name(role)}"


def database_object_name(cluster_name: str, database: str) -> str:
    """The ``Database`` object of a declared database: ``<cluster>-<database>``, so clusters sharing a
    namespace never collide."""
    return f"{cluster_name}-{kubernetes_name(database)}"


def managed_roles(roles: Mapping[str, RoleSettings], password_secret_names: Mapping[str, str]) -> list[dict[str, Any]]:
    """``spec.managed.roles``: every declared role, by name; a login role reads its password from
    ``password_secret_names[role]``. No superuser, replication or bypassrls: the settings do not offer them."""
    entries = []
    for name in sorted(roles):
        role = roles[name]
        entry: dict[str, Any] = {
            "name": name,
            "ensure": "present",
            "login": role.login,
            "connectionLimit": role.connection_limit,
            "inherit": role.inherit,
            "createdb": role.createdb,
            "createrole": role.createrole,
            "inRoles": list(role.member_of),
        }
        if role.login:
            entry["passwordSecret"] = {"name": password_secret_names[name]}
        entries.append(entry)
    return entries


def database_spec(cluster_name: str, name: str, settings: DatabaseSettings) -> dict[str, Any]:
    """The ``spec`` of a declared database's ``Database`` object. Extensions and schemas are ensured
    present; one removed from the settings is left as it is (only ``ensure: absent`` would drop it)."""
    spec: dict[str, Any] = {
        "cluster": {"name": cluster_name},
        "name": name,
        "owner": settings.owner,
        "ensure": "present",
        "databaseReclaimPolicy": settings.reclaim_policy,
    }
    if settings.extensions:
        spec["extensions"] = [{"name": extension, "ensure": "present"} for extension in settings.extensions]
    if settings.schemas:
        # Without an owner, CREATE SCHEMA would make the superuser (postgres) its owner.
        spec["schemas"] = [{"name": schema, "owner": settings.owner, "ensure": "present"} for schema in settings.schemas]
    return spec
