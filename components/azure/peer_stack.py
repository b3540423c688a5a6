"""Peer stack: the other region's stack of a disaster-recovery pair, read through a StackReference,
checked against this stack's settings, and each of its clusters' backup container made readable to
the identity of this stack's cluster of the same name (either cluster replays the other's WAL archive
when it is the replica)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import authorization

from components.azure.blob_private_endpoint import BlobPrivateEndpoint, BlobPrivateEndpointArgs
from components.azure.roles import BuiltInRole, assign_role
from settings import DatabaseCluster, Settings
from settings.disaster_recovery import DisasterRecoverySettings, peer_cluster, peer_problems


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
    # Private storage: this stack's private endpoint to the peer's account, given the account's ID
    # (in this stack's network, its privatelink zone resolving the peer's account too); None: the
    # peer is reached publicly.
    private_endpoint: Callable[..., BlobPrivateEndpointArgs] | None = None


class PeerStack(pulumi.ComponentResource):
    """Reads the peer stack's outputs and refuses, before anything depends on them, a peer in the
    same region, with the same name prefix, other clusters or another PostgreSQL major, in another
    tenant, with overlapping maintenance windows, paired with another stack, or still primary while
    this stack is told to be. ``topology_for`` joins one of this stack's clusters to the peer's."""

    def __init__(self, name: str, args: PeerStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:PeerStack", name, None, opts)
        self._name, self._args = name, args
        # Each cluster's key among the peer's outputs: a platform's by name, the one-cluster stack's top level.
        self._peer_keys: dict[str, str | None] = {
            key: None if args.settings.clusters is None else key for key in args.settings.database_clusters()
        }
        peer = pulumi.StackReference(f"{name}-outputs", stack_name=args.dr.peer_stack, opts=pulumi.ResourceOptions(parent=self))
        # This stack's tenant, as the deploying identity sees it (the peer exports its own).
        tenant_id = authorization.get_client_config_output(opts=pulumi.InvokeOptions(parent=self)).tenant_id
        self._checked = pulumi.Output.all(peer.outputs, tenant_id).apply(lambda both: self._checked_outputs(both[0], both[1]))
        # One endpoint to the peer's account, whichever clusters' containers are read through it.
        self._endpoint_ready: list[pulumi.Resource] = []
        if args.private_endpoint is not None:
            # Cross-region private endpoints are allowed; the peer's account may deny public networks.
            endpoint = BlobPrivateEndpoint(
                f"{name}-blob",
                args.private_endpoint(storage_account_id=self._peer_output(None, "backupStorageAccountId")),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self._endpoint_ready.append(endpoint.dns_ready)
        self.register_outputs({"peerStack": args.dr.peer_stack})

    def topology_for(self, cluster: DatabaseCluster, reader_principal_id: pulumi.Input[str]) -> Topology:
        """``cluster``'s place in its topology with the peer's cluster of the same name; ``reader_principal_id``:
        its workload identity (its service account is federated to it), granted read on that cluster's container."""
        dr, peer_key = self._args.dr, self._peer_keys[cluster.key]

        def peer_output(name: str) -> pulumi.Output[str]:
            return self._peer_output(peer_key, name)

        reader_role = assign_role(
            f"{self._name}-{cluster.resource_prefix}reader",
            scope=peer_output("backupContainerId"),
            principal_id=reader_principal_id,
            role=BuiltInRole.STORAGE_BLOB_DATA_READER,
            parent=self,
        )
        return Topology(
            self_name=pulumi.get_stack(),
            peer_name=dr.peer,
            primary=dr.primary,
            promotion_token=pulumi.Output.secret(token) if (token := dr.promotion_token_for(peer_key)) else None,
            checked=self._checked,
            peer_destination_path=peer_output("backupDestinationPath"),
            peer_server_name=peer_output("backupServerName"),
            peer_app_password=pulumi.Output.secret(peer_output("applicationPassword")) if dr.created_as_replica else None,
            peer_access=[reader_role, *self._endpoint_ready],
        )

    def _peer_output(self, peer_key: str | None, name: str) -> pulumi.Output[str]:
        """One of the peer's values (a cluster's by its key, None: the top level), once every check passed."""
        return self._checked.apply(lambda outputs: str(peer_cluster(outputs, peer_key)[name]))

    def _checked_outputs(self, outputs: Mapping[str, Any] | None, tenant_id: str) -> Mapping[str, Any]:
        settings = self._args.settings
        clusters = settings.database_clusters()
        problems = peer_problems(
            outputs or {},
            stack=pulumi.get_stack(),
            organization=pulumi.get_organization(),
            dr=self._args.dr,
            location=settings.location,
            name_prefix=settings.name_prefix,
            postgres_majors={
                peer_key: clusters[key].settings.postgres.major_version for key, peer_key in self._peer_keys.items()
            },
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
