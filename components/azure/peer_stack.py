"""Peer stack: the other region's stack of a disaster-recovery pair, read through a StackReference,
checked against this stack's settings, and its backup container made readable to this stack's
identity (either cluster replays the other's WAL archive when it is the replica)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import authorization

from components.azure.blob_private_endpoint import BlobPrivateEndpoint, BlobPrivateEndpointArgs
from components.azure.roles import BuiltInRole, assign_role
from settings import Settings
from settings.disaster_recovery import DisasterRecoverySettings, peer_problems


@dataclass(frozen=True)
class Topology:
    """What PostgresCluster needs to join the distributed topology (spec.replica, externalClusters)."""

    # This stack's and the peer's names in the topology (externalClusters entries, replica.self/primary/source).
    self_name: str
    peer_name: str
    # The stack name spec.replica.primary names.
    primary: str
    # A secret although it holds no credential (pg_controldata fields): the no-plaintext-credentials
    # policy, like any reader of the state, treats a *Token field as one.
    promotion_token: pulumi.Output[str] | None
    # Resolves only when the peer's outputs passed every check: the namespace waits for it,
    # so a refused topology registers no Kubernetes object.
    checked: pulumi.Output[Any]
    # The peer's ObjectStore destinationPath and serverName: where its WAL and base backups are.
    peer_destination_path: pulumi.Output[str]
    peer_server_name: pulumi.Output[str]
    # Set when this cluster was created as a replica (bootstrapped from the peer's backups): the
    # application owner's password lives in the replicated database, so it keeps the peer's and the
    # connection URIs work after promotion. None: created as primary (initdb).
    peer_app_password: pulumi.Output[str] | None
    # Storage Blob Data Reader on the peer's container and, with private storage, the private
    # endpoint to the peer's account with its DNS record: reading the archive fails until they exist.
    peer_access: Sequence[pulumi.Resource]


@dataclass(frozen=True)
class PeerStackArgs:
    settings: Settings
    dr: DisasterRecoverySettings
    # This stack's workload identity (the cluster's service account is federated to it).
    reader_principal_id: pulumi.Input[str]
    # Private storage: this stack's private endpoint to the peer's account, given the account's ID
    # (in this stack's network, its privatelink zone resolving the peer's account too); None: the
    # peer is reached publicly.
    private_endpoint: Callable[..., BlobPrivateEndpointArgs] | None = None


class PeerStack(pulumi.ComponentResource):
    """Reads the peer stack's outputs and refuses, before anything depends on them, a peer in the
    same region, with the same name prefix or another PostgreSQL major, in another tenant, with
    overlapping maintenance windows, paired with another stack, or still primary while this stack is
    told to be."""

    topology: Topology

    def __init__(self, name: str, args: PeerStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:PeerStack", name, None, opts)
        peer = pulumi.StackReference(f"{name}-outputs", stack_name=args.dr.peer_stack, opts=pulumi.ResourceOptions(parent=self))
        # This stack's tenant, as the deploying identity sees it (the peer exports its own).
        tenant_id = authorization.get_client_config_output(opts=pulumi.InvokeOptions(parent=self)).tenant_id
        checked = pulumi.Output.all(peer.outputs, tenant_id).apply(lambda both: self._checked(both[0], both[1], args))

        def peer_output(output_name: str) -> pulumi.Output[str]:
            """One of the peer's outputs, once every check passed."""
            return checked.apply(lambda outputs: str(outputs[output_name]))

        reader_role = assign_role(
            f"{name}-reader",
            scope=peer_output("backupContainerId"),
            principal_id=args.reader_principal_id,
            role=BuiltInRole.STORAGE_BLOB_DATA_READER,
            parent=self,
        )
        peer_access: list[pulumi.Resource] = [reader_role]
        if args.private_endpoint is not None:
            # Cross-region private endpoints are allowed; the peer's account may deny public networks.
            endpoint = BlobPrivateEndpoint(
                f"{name}-blob",
                args.private_endpoint(storage_account_id=peer_output("backupStorageAccountId")),
                opts=pulumi.ResourceOptions(parent=self),
            )
            peer_access.append(endpoint.dns_ready)
        self.topology = Topology(
            self_name=pulumi.get_stack(),
            peer_name=args.dr.peer,
            primary=args.dr.primary,
            promotion_token=pulumi.Output.secret(args.dr.promotion_token) if args.dr.promotion_token else None,
            checked=checked,
            peer_destination_path=peer_output("backupDestinationPath"),
            peer_server_name=peer_output("backupServerName"),
            peer_app_password=pulumi.Output.secret(peer_output("applicationPassword"))
            if args.dr.created_as_replica
            else None,
            peer_access=peer_access,
        )
        self.register_outputs({"peerStack": args.dr.peer_stack, "peerBackups": self.topology.peer_destination_path})

    @staticmethod
    def _checked(outputs: Mapping[str, Any] | None, tenant_id: str, args: PeerStackArgs) -> Mapping[str, Any]:
        settings = args.settings
        problems = peer_problems(
            outputs or {},
            stack=pulumi.get_stack(),
            organization=pulumi.get_organization(),
            dr=args.dr,
            location=settings.location,
            name_prefix=settings.name_prefix,
            postgres_major=settings.postgres.major_version,
            private_storage=settings.network.private_storage,
            address_space=settings.network.address_space,
            private_dns_zone=settings.network.private_dns_zone,
            maintenance=settings.aks.maintenance,
            tenant_id=tenant_id,
        )
        if problems:
            raise pulumi.RunError(
                "this stack cannot join its disaster-recovery peer (fix every line, then run again):\n"
                + "\n".join(f"  - {problem}" for problem in problems)
            )
        return outputs or {}
