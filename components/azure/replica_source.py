"""Replica source: the primary stack a disaster-recovery stack follows, read through a
StackReference, checked against this stack's settings, and made readable to this stack's identity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.azure.roles import BuiltInRole, assign_role
from settings import Settings
from settings.disaster_recovery import DisasterRecoverySettings, primary_problems

# The externalClusters entry naming the primary (spec.replica.source, bootstrap.recovery.source).
REPLICA_SOURCE = "primary"


@dataclass(frozen=True)
class ReplicaOf:
    """What PostgresCluster needs to run as a replica of another stack's primary."""

    # Resolves only when the primary's outputs passed every check: the namespace waits for it,
    # so a refused replica registers no Kubernetes object.
    checked: pulumi.Output[Any]
    # The primary's ObjectStore destinationPath and serverName: where its WAL and base backups are.
    destination_path: pulumi.Output[str]
    server_name: pulumi.Output[str]
    # The application owner's password lives in the replicated database; the replica's secret
    # must hold the same one so the connection URIs work after promotion.
    app_password: pulumi.Output[str]
    # Storage Blob Data Reader on the primary's container: recovery fails until it exists.
    reader_role: pulumi.Resource
    # disasterRecovery.promote: spec.replica.enabled false.
    promote: bool


@dataclass(frozen=True)
class ReplicaSourceArgs:
    settings: Settings
    dr: DisasterRecoverySettings
    # This stack's workload identity (the replica cluster's service account is federated to it).
    reader_principal_id: pulumi.Input[str]


class ReplicaSource(pulumi.ComponentResource):
    """Reads the primary stack's outputs and refuses, before anything depends on them, a primary
    in the same region, with the same name prefix or another PostgreSQL major."""

    replica_of: ReplicaOf

    def __init__(self, name: str, args: ReplicaSourceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:ReplicaSource", name, None, opts)
        primary = pulumi.StackReference(
            f"{name}-primary", stack_name=args.dr.primary_stack, opts=pulumi.ResourceOptions(parent=self)
        )
        checked = primary.outputs.apply(lambda outputs: self._checked(outputs, args))
        reader_role = assign_role(
            f"{name}-reader",
            scope=checked.apply(lambda outputs: str(outputs["backupContainerId"])),
            principal_id=args.reader_principal_id,
            role=BuiltInRole.STORAGE_BLOB_DATA_READER,
            parent=self,
        )
        self.replica_of = ReplicaOf(
            checked=checked,
            destination_path=checked.apply(lambda outputs: str(outputs["backupDestinationPath"])),
            server_name=checked.apply(lambda outputs: str(outputs["backupServerName"])),
            app_password=pulumi.Output.secret(checked.apply(lambda outputs: str(outputs["applicationPassword"]))),
            reader_role=reader_role,
            promote=args.dr.promote,
        )
        self.register_outputs({"primaryStack": args.dr.primary_stack, "primaryBackups": self.replica_of.destination_path})

    @staticmethod
    def _checked(outputs: Mapping[str, Any] | None, args: ReplicaSourceArgs) -> Mapping[str, Any]:
        outputs = outputs or {}
        settings = args.settings
        problems = primary_problems(
            outputs,
            stack=pulumi.get_stack(),
            dr=args.dr,
            location=settings.location,
            name_prefix=settings.name_prefix,
            postgres_major=settings.postgres.major_version,
        )
        if problems:
            raise pulumi.RunError(
                "this stack cannot replicate its primary (fix every line, then run again):\n"
                + "\n".join(f"  - {problem}" for problem in problems)
            )
        return outputs
