"""Disaster-recovery settings: this stack and a peer stack in another region run one CNPG
distributed topology. Each stack's Cluster lists both clusters' WAL archives in
``externalClusters`` (named by stack) and ``spec.replica`` says which of the two is the primary;
the other replays the primary's archive. Changing ``primary`` on both stacks moves the primary
(README 'Disaster recovery'). A platform stack (``clusters``) pairs each cluster with the peer's
cluster of the same name: one topology per cluster, and both stacks run the same clusters.

What can be checked from this stack's config (and its stack name) is checked here; what needs
the peer stack's outputs (its region, PostgreSQL major, name prefix, which cluster it considers
primary) is checked by ``peer_problems`` at run time, before the Cluster is registered.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator

from settings.maintenance import MaintenanceSettings
from settings.network import overlaps
from settings.platform import CLUSTERS_OUTPUT, CONNECTION_URIS_OUTPUT
from settings.rules import SettingsModel

# The peer's outputs this stack reads (exported by program/outputs.py of every stack): the stack's,
PEER_STACK_OUTPUTS = (
    "location",
    "namePrefix",
    "backupStorageAccountId",
    "backupStoragePrivate",
    "networkAddressSpace",
    "privateDnsZone",
)
# and each database cluster's: a one-cluster stack's top-level outputs, a platform's entry of its clusters output.
PEER_CLUSTER_OUTPUTS = ("postgresMajorVersion", "backupContainerId", "backupDestinationPath", "backupServerName")
PEER_OUTPUTS = PEER_STACK_OUTPUTS + PEER_CLUSTER_OUTPUTS
# Exported since the version that added their checks: a peer deployed with an earlier version lacks them.
# Requiring them would deadlock the upgrade of an existing pair (each stack waiting for the other's new
# outputs), so they are checked once the peer has them: from the pair's second upgraded deployment on.
CHECKED_WHEN_EXPORTED = ("maintenanceWindows", "tenantId")
# A cluster created as a replica keeps the peer's application password: it lives in the replicated database
# (a platform's: in its entry of the clusterConnectionUris output).
REPLICA_OUTPUTS = ("applicationPassword",)
# What this stack exports about its place in the topology (read back by the peer's checks).
PRIMARY_OUTPUT = "disasterRecoveryPrimary"
PEER_STACK_OUTPUT = "disasterRecoveryPeerStack"
# How a pair changes its major. A replica cluster replays the primary's WAL, and pg_upgrade starts a new
# system (new identifier, timeline 1) whose WAL no replica of the old one can replay, so the pair cannot
# be upgraded in place together; CNPG (v1.30.0 postgres_upgrades.md) documents the in-place upgrade for
# one cluster only.
PAIR_UPGRADE_ORDER = (
    "a pair runs one major, and a replica cannot replay a pg_upgrade'd primary, so upgrade it in this order: "
    "1. destroy the replica stack's cluster (pulumi destroy there); 2. remove disasterRecovery from the primary "
    "stack and upgrade it alone (backup first, new archive folder); 3. recreate the replica stack at the new major "
    "(createdAs: replica, a new backup.archiveGeneration) and add disasterRecovery back on both "
    "(README 'Major-version upgrade')"
)
# The config key of this section (the offline engine reads peerStack from it to answer the StackReference).
CONFIG_KEY = "disasterRecovery"
_QUALIFIED_STACK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/aks-postgres-ha/[A-Za-z0-9_.-]+")
# cloudnative-pg pkg/utils/parser.go PgControldataTokenContent.IsValid: every field non-empty.
DEMOTION_TOKEN_FIELDS = (
    "latestCheckpointTimelineID",
    "redoWalFile",
    "databaseSystemIdentifier",
    "latestCheckpointREDOLocation",
    "timeOfLatestCheckpoint",
    "operatorVersion",
)


def _qualified_stack(value: str) -> str:
    if not _QUALIFIED_STACK.fullmatch(value):
        raise ValueError(
            "must name the peer's stack fully qualified as <organization>/aks-postgres-ha/<stack> "
            "(the same program deploys both regions)"
        )
    return value


def demotion_token_content(token: str) -> dict[str, Any]:
    """The decoded token (LSN, WAL file, timeline, system identifier); {} when it cannot be decoded."""
    try:
        content = json.loads(base64.b64decode(token, validate=True))
    except (binascii.Error, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def demotion_token_problem(token: str) -> str | None:
    """Why CNPG's webhook would refuse ``token`` as a promotionToken, or None."""
    content = demotion_token_content(token)
    if not content:
        return "is not a CNPG demotion token (base64 of a JSON object); copy .status.demotionToken of the demoted Cluster"
    missing = [name for name in DEMOTION_TOKEN_FIELDS if not content.get(name)]
    if missing:
        return f"is a demotion token without {', '.join(missing)}; CNPG refuses it, copy the whole .status.demotionToken"
    return None


class DisasterRecoverySettings(SettingsModel):
    peer_stack: Annotated[str, AfterValidator(_qualified_stack)]
    """The other region's stack: <organization>/aks-postgres-ha/<stack>."""
    primary: str
    """The stack whose cluster is the primary, by stack name: this stack's or the peer's
    (the same on both stacks except during a switchover)."""
    created_as: Literal["primary", "replica"]
    """Fixed for the cluster's life. primary: created empty (initdb); replica: created
    from the peer's backups (keeps the peer's application password)."""
    promotion_token: str | None = None
    """Only while promoting this stack in a controlled switchover: the demoted peer Cluster's
    .status.demotionToken. CNPG promotes once it has replayed the peer's WAL up to the token."""
    promotion_tokens: dict[str, str] = {}
    """A platform stack's promotionToken: each cluster's, by its name (each demoted namesake has its own)."""
    failover: bool = False
    """true promotes this stack without a token while the peer still claims the primary: only
    after the peer is fenced or its region is lost (the peer must then be rebuilt as a replica)."""

    @property
    def peer(self) -> str:
        """The peer's stack name: its externalClusters entry and, when it is primary, spec.replica.primary."""
        return self.peer_stack.rsplit("/", 1)[-1]

    @property
    def created_as_replica(self) -> bool:
        """This stack's cluster was bootstrapped from the peer's archive (and shares its app password)."""
        return self.created_as == "replica"

    @property
    def replica_here(self) -> bool:
        """This stack's cluster replays the peer's WAL (settings refuse a primary naming neither stack)."""
        return self.primary == self.peer

    @property
    def promoting(self) -> bool:
        """A controlled switchover promotes this stack: a token is set (the one-cluster stack's or the clusters')."""
        return self.promotion_token is not None or bool(self.promotion_tokens)

    def promotion_token_for(self, cluster: str | None) -> str | None:
        """The token that promotes ``cluster`` (None: the one-cluster stack's), or None."""
        return self.promotion_token if cluster is None else self.promotion_tokens.get(cluster)

    def problems(self, stack: str | None) -> list[str]:
        """What CNPG would refuse in this topology; ``stack``: the stack being deployed (None: not known)."""
        problems = []
        if stack is not None and self.peer == stack:
            problems.append(f"peerStack: {self.peer_stack!r} is this stack itself; the peer is the other region's stack")
        elif stack is not None and self.primary not in (stack, self.peer):
            problems.append(f"primary: {self.primary!r} is neither this stack ({stack!r}) nor the peer ({self.peer!r})")
        primary_here = not self.replica_here
        if self.promoting and not primary_here:
            problems.append(
                f"{'promotionToken' if self.promotion_token is not None else 'promotionTokens'}: set, but primary is "
                "the peer; a token only promotes this stack "
                "(CNPG refuses it on a replica cluster): remove it when demoting"
            )
        tokens = {"promotionToken": self.promotion_token} if self.promotion_token is not None else {}
        tokens |= {f"promotionTokens.{cluster}": token for cluster, token in self.promotion_tokens.items()}
        for key, token in tokens.items():
            problem = demotion_token_problem(token)
            if problem:
                problems.append(f"{key}: {token[:24]!r}... {problem}")
        if self.failover and (not primary_here or self.promoting):
            problems.append(
                "failover: true promotes this stack without a token, so it needs primary: this stack and no promotionToken"
            )
        return [f"{CONFIG_KEY}.{problem}" for problem in problems]


def _names_stack(qualified: str, organization: str | None, stack: str) -> bool:
    """Whether ``<organization>/aks-postgres-ha/<stack>`` names this stack (any organization when unknown)."""
    org, _, name = qualified.split("/")
    return name == stack and organization in (None, org)


def peer_cluster(peer: Mapping[str, Any], key: str | None) -> dict[str, Any]:
    """The peer's values of one of this stack's database clusters (PEER_CLUSTER_OUTPUTS, REPLICA_OUTPUTS):
    ``key``, those of the peer's cluster of that name (a platform pairs each cluster with its namesake);
    None, the one-cluster stack's, its top-level outputs."""
    if key is None:
        return dict(peer)
    return {**_entry(peer, CLUSTERS_OUTPUT, key), **_entry(peer, CONNECTION_URIS_OUTPUT, key)}


def _entry(peer: Mapping[str, Any], output: str, key: str) -> Mapping[str, Any]:
    entries = peer.get(output)
    entry = entries.get(key) if isinstance(entries, Mapping) else None
    return entry if isinstance(entry, Mapping) else {}


def _output_name(name: str, key: str | None) -> str:
    """Where the peer exports a cluster's value ``name``."""
    if key is None:
        return name
    return f"{CONNECTION_URIS_OUTPUT if name in REPLICA_OUTPUTS else CLUSTERS_OUTPUT}.{key}.{name}"


def _unpaired_clusters(peer: Mapping[str, Any], keys: list[str], peer_stack: str) -> str | None:
    """Why the platform's clusters ``keys`` cannot each pair with the peer's namesake, or None."""
    peer_keys = peer.get(CLUSTERS_OUTPUT)
    peer_keys = set(peer_keys) if isinstance(peer_keys, Mapping) else set()
    parts = []
    if only_here := sorted(set(keys) - peer_keys):
        parts.append(f"{', '.join(only_here)} not on the peer")
    if only_there := sorted(peer_keys - set(keys)):
        parts.append(f"{', '.join(only_there)} only on the peer")
    if not parts:
        return None
    return (
        f"clusters: {'; '.join(parts)} ({peer_stack!r}): each cluster pairs with the peer's cluster of its name, "
        "so both stacks run the same clusters; add or remove them on both"
    )


def peer_problems(
    peer: Mapping[str, Any],
    *,
    stack: str,
    organization: str | None,
    dr: DisasterRecoverySettings,
    location: str,
    name_prefix: str,
    postgres_majors: Mapping[str | None, int],
    private_storage: bool,
    address_space: str,
    private_dns_zone: str,
    maintenance: MaintenanceSettings,
    tenant_id: str,
) -> list[str]:
    """Why this stack cannot join a topology with the peer whose outputs are ``peer``, one line each.
    ``postgres_majors``: each database cluster's PostgreSQL major by its key in the peer's outputs
    (``peer_cluster``: None for the one-cluster stack)."""
    key = f"disasterRecovery.peerStack: {dr.peer_stack!r}"
    platform_keys = [cluster for cluster in postgres_majors if cluster is not None]
    if platform_keys and (unpaired := _unpaired_clusters(peer, platform_keys, dr.peer_stack)):
        return [unpaired]
    cluster_outputs = PEER_CLUSTER_OUTPUTS + (REPLICA_OUTPUTS if dr.created_as_replica else ())
    missing = [name for name in PEER_STACK_OUTPUTS if peer.get(name) in (None, "")]
    missing += [
        _output_name(name, cluster)
        for cluster in postgres_majors
        for name in cluster_outputs
        if peer_cluster(peer, cluster).get(name) in (None, "")
    ]
    if missing:
        return [
            f"{key} has no output {', '.join(missing)}: deploy the peer stack (pulumi up) with this "
            "program's version first, so it exports what this stack reads"
        ]
    problems = []
    if peer["location"] == location:
        problems.append(f"location: {location!r} is the peer's region too; the two stacks run in different regions")
    if peer["namePrefix"] == name_prefix:
        problems.append(
            f"namePrefix: {name_prefix!r} is the peer's too; storage accounts and resource groups would collide, "
            "choose another prefix"
        )
    for cluster, postgres_major in postgres_majors.items():
        peer_major = int(peer_cluster(peer, cluster)["postgresMajorVersion"])
        if peer_major != postgres_major:
            where, whose = ("", "the peer") if cluster is None else (f"clusters.{cluster}.", f"the peer's {cluster}")
            problems.append(
                f"{where}postgres.image: PostgreSQL {postgres_major}, but {whose} runs PostgreSQL {peer_major}; "
                f"{PAIR_UPGRADE_ORDER}"
            )
    if peer["backupStoragePrivate"] is True and not private_storage:
        problems.append(
            "network.privateStorage: false, but the peer's backup storage is reachable through private endpoints "
            "only; set it true so this stack reads the peer's archive through a private endpoint of its own"
        )
    if overlaps(str(peer["networkAddressSpace"]), address_space):
        problems.append(
            f"network.addressSpace: {address_space!r} overlaps the peer's {peer['networkAddressSpace']!r}; Azure "
            "refuses to peer overlapping networks, so the two regions (and a client network peered with both) could not connect"
        )
    if peer["privateDnsZone"] == private_dns_zone:
        problems.append(
            f"network.privateDnsZone: {private_dns_zone!r} is the peer's too; a client network peered with both regions "
            "can link only one private DNS zone of a name, so one region's endpoints would not resolve there"
        )
    if peer.get("tenantId") and str(peer["tenantId"]).lower() != tenant_id.lower():
        problems.append(
            f"{key} runs in Entra tenant {peer['tenantId']!r}, this stack in {tenant_id!r}: a private endpoint to the "
            "peer's storage across tenants waits for manual approval (auto-approval fails) and this stack's identity "
            "cannot be granted on the peer's container; pair stacks of one tenant"
        )
    if peer.get("maintenanceWindows"):
        problems += maintenance.overlap_problems(peer["maintenanceWindows"])
    peer_of_peer = peer.get(PEER_STACK_OUTPUT)
    if peer_of_peer is not None and not _names_stack(str(peer_of_peer), organization, stack):
        problems.append(f"{key} pairs with {peer_of_peer!r}, not with this stack ({stack!r})")
    # A stack without the section is its own primary.
    peer_primary = peer.get(PRIMARY_OUTPUT) or dr.peer
    if not dr.replica_here and peer_primary == dr.peer and not dr.failover:
        if dr.promoting:
            problems.append(
                f"disasterRecovery.promotionToken: set, but the peer still runs the primary; demote it first "
                f"(disasterRecovery.primary: {stack!r} on {dr.peer!r}, pulumi up there) and use its new demotion token"
            )
        else:
            problems.append(
                f"disasterRecovery.primary: {stack!r}, but the peer still runs the primary: two primaries would diverge. "
                f"For a switchover demote the peer first and pass its demotion token as promotionToken; if the peer's "
                "region is lost, fence it and set disasterRecovery.failover: true"
            )
    return problems
