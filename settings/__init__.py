"""Stack settings: Pulumi config turned into frozen, typed, validated models.

Every default lives here, once. ``load_settings()`` reads the project's config namespace,
validates all of it and raises ``SettingsError`` listing every problem (key, value, rule)
before any resource is registered. ``__main__.py`` turns that into ``pulumi.RunError``, which
Pulumi prints without a traceback.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import ErrorDetails

from settings.aks import SUPPORTED_KUBERNETES_MINORS, AksSettings, NodePoolSettings, PostgresPoolSettings, SystemPoolSettings
from settings.alerting import AlertingSettings
from settings.backup import BackupSettings
from settings.capacity import capacity_problems
from settings.databases import DatabaseSettings, RoleSettings, database_problems
from settings.disaster_recovery import DisasterRecoverySettings
from settings.migration import MigrationSettings
from settings.names import SUFFIX_LENGTH, NameScheme, drill_cluster_name, federated_credential_problems
from settings.network import NetworkSettings
from settings.observability import GrafanaAdmin, ObservabilitySettings
from settings.operators import OperatorSettings
from settings.placeholders import placeholder_problems
from settings.platform import ClientAccess, ClusterKey, ClusterSettings, merged_entry, platform_problems
from settings.pooler import PoolerSettings, pooler_problems
from settings.postgres import PostgresResources, PostgresSettings, PostgresStorage
from settings.public_endpoint import PublicEndpointSettings
from settings.restore import RestoreSettings
from settings.rules import AzureRegion, NamePrefix, SettingsModel, cpu_millicores, quantity_bytes
from sizing.postgres_parameters import archive_timeout_problem

__all__ = [
    "PLACEHOLDER_WARNING",
    "PROJECT",
    "SUFFIX_LENGTH",
    "SUPPORTED_KUBERNETES_MINORS",
    "AksSettings",
    "AlertingSettings",
    "BackupSettings",
    "DisasterRecoverySettings",
    "GrafanaAdmin",
    "MigrationSettings",
    "NameScheme",
    "NetworkSettings",
    "NodePoolSettings",
    "ObservabilitySettings",
    "OperatorSettings",
    "PoolerSettings",
    "PostgresPoolSettings",
    "PostgresResources",
    "PostgresSettings",
    "PostgresStorage",
    "PublicEndpointSettings",
    "RestoreSettings",
    "Settings",
    "SettingsError",
    "SystemPoolSettings",
    "cpu_millicores",
    "load_settings",
    "parse_settings",
    "placeholder_problems",
    "quantity_bytes",
]

PROJECT = "aks-postgres-ha"


class SettingsError(Exception):
    """All problems found in the stack settings; ``str()`` lists one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "invalid stack settings (fix every line, then run again):\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


class Settings(SettingsModel):
    """The whole stack configuration."""

    environment: Literal["dev", "prod"]
    """dev or prod: prod enforces 3 zones, a paid tier, 3 instances, config.prod.json policies; prod-named stacks say prod."""
    location: AzureRegion
    """Required. Azure region with availability zones."""
    name_prefix: NamePrefix = "cnpg"
    """Prefix of every Azure name (2-10 lowercase letters/digits)."""
    zones: list[Literal["1", "2", "3"]] = ["1", "2", "3"]
    """Availability zones of node pools and the public IP."""
    tags: dict[str, str] = {}
    """Tags on every Azure resource."""
    protect_stateful_resources: bool = False
    """Pulumi protect on the AKS cluster, identities, backup storage, public IP, database Namespace and Cluster."""
    allow_database_replacement: bool = False
    """Let a change of postgres.namespace/clusterName replace the live Cluster and its volumes (data loss)."""
    aks: AksSettings
    """AKS cluster."""
    backup: BackupSettings = BackupSettings()
    """Backups and backup storage."""
    observability: ObservabilitySettings = ObservabilitySettings()
    """Azure monitoring."""
    alerting: AlertingSettings = AlertingSettings()
    """Alert receivers."""
    public_endpoint: PublicEndpointSettings
    """Required. Public database endpoints."""
    network: NetworkSettings = NetworkSettings()
    """Virtual network, cluster address ranges, internal endpoints and private backup storage."""
    operators: OperatorSettings = OperatorSettings()
    """Operator chart versions."""
    postgres: PostgresSettings = PostgresSettings()
    """The PostgreSQL cluster."""
    restore: RestoreSettings = RestoreSettings()
    """Restore into a new cluster."""
    pooler: PoolerSettings = PoolerSettings()
    """PgBouncer connection poolers (read-write and read-only)."""
    disaster_recovery: DisasterRecoverySettings | None = None
    """Set: this stack and a peer stack in another region run one CNPG distributed topology (a primary and a replica cluster)."""
    migration: MigrationSettings | None = None
    """Set: the cluster is created by importing an existing PostgreSQL (first deployment only; README 'Migrating in')."""
    clients: ClientAccess = ClientAccess()
    """Application namespaces and client networks allowed to connect (with clusters: every cluster's default)."""
    databases: dict[str, DatabaseSettings] = {}
    """Databases CNPG creates beside postgres.database (a stack without clusters; each cluster has its own)."""
    roles: dict[str, RoleSettings] = {}
    """Roles CNPG manages, login roles with generated passwords (a stack without clusters; each cluster has its own)."""
    clusters: dict[ClusterKey, ClusterSettings] | None = None
    """Set: the stack runs these database clusters, each its entry over the shared defaults (settings/platform.py)."""

    @model_validator(mode="before")
    @classmethod
    def _entries_over_defaults(cls, data: Any) -> Any:
        entries = data.get("clusters") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            return data
        merged = {key: merged_entry(key, entry, data) if isinstance(entry, dict) else entry for key, entry in entries.items()}
        return {**data, "clusters": merged}

    @field_validator("zones")
    @classmethod
    def _distinct_zones(cls, zones: list[str]) -> list[str]:
        if len(set(zones)) != len(zones) or not zones:
            raise ValueError("must list distinct availability zones, at least one")
        return zones

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Settings:
        problems = NameScheme(self.name_prefix).problems()
        stack = (info.context or {}).get(STACK_CONTEXT)
        if self.environment != "prod" and stack and production_stack_name(stack):
            problems.append(
                f"environment: {self.environment!r}, but stack {stack!r} is named as a production stack (a name part "
                "'prod' or 'production'), and its environment selects the prod policies; set environment: prod"
            )
        if self.environment == "prod":
            if len(self.zones) != 3:
                problems.append(f"zones: {self.zones!r}, but prod spreads over 3 distinct zones")
            if self.aks.sku_tier == "Free":
                problems.append("aks.skuTier: 'Free', but prod needs the Standard or Premium tier (uptime SLA)")
            problems += self.aks.production_problems()
            problems += self.observability.production_problems()
        if self.aks.postgres_pool.min_count < len(self.zones):
            problems.append(
                f"aks.postgresPool.minCount: {self.aks.postgres_pool.min_count}, but it must be at least the "
                f"number of zones ({len(self.zones)}) so every zone has a PostgreSQL node"
            )
        if self.clusters is None:
            problems += self._cluster_problems(self)
            problems += database_problems("", self.databases, self.roles, self.postgres)
        else:
            problems += self._platform_problems()
        problems += capacity_problems(self)
        if self.disaster_recovery:
            problems += self.disaster_recovery.problems((info.context or {}).get(STACK_CONTEXT))
            problems += self._paired_cluster_problems()
        if self.migration:
            problems += self.migration.problems()
            if self.disaster_recovery and self.disaster_recovery.created_as_replica:
                problems.append(
                    "migration: set, but disasterRecovery.createdAs is 'replica': a replica cluster is created from the "
                    "peer's backups; import on the primary stack"
                )
        problems += self.alerting.problems(
            prod=self.environment == "prod",
            azure_monitoring=self.observability.azure_monitoring,
            self_managed_monitoring=self.operators.self_managed_monitoring,
        )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @staticmethod
    def _cluster_problems(view: Settings) -> list[str]:
        """One database cluster's rules, on the stack as that cluster sees it (``database_clusters``)."""
        problems = []
        postgres = view.postgres
        if view.environment == "prod" and postgres.instances < 3:
            problems.append(f"postgres.instances: {postgres.instances}, but prod runs at least 3 instances")
        if view.aks.postgres_pool.max_count < postgres.instances:
            problems.append(
                f"aks.postgresPool.maxCount: {view.aks.postgres_pool.max_count}, but it must be at least "
                f"postgres.instances ({postgres.instances})"
            )
        problems += view.restore.problems(postgres.cluster_name)
        trusted = [postgres.cluster_name, drill_cluster_name(postgres.cluster_name)]
        problems += federated_credential_problems(
            postgres.namespace, trusted + ([view.restore.cluster_name] if view.restore.enabled else [])
        )
        problems += view.network.problems(
            view.aks.node_ceiling(), poolers=view.pooler.enabled, cluster_clients=view.clients.cidrs
        )
        load_balanced = view.public_endpoint.enabled or view.network.internal_endpoint.enabled
        problems += view.clients.problems(postgres.namespace, load_balanced)
        problems += pooler_problems(view)
        return problems

    def _platform_problems(self) -> list[str]:
        """``clusters``: each cluster's rules under its key, then what the clusters would share."""
        assert self.clusters is not None
        problems = [
            f"{section}: set, but with clusters {rule}"
            for section, on, rule in (
                ("publicEndpoint.enabled", self.public_endpoint.enabled, "each cluster opts in: clusters.<name>.publicEndpoint"),
                (
                    "network.internalEndpoint.enabled",
                    self.network.internal_endpoint.enabled,
                    "each cluster opts in: clusters.<name>.internalEndpoint",
                ),
                ("migration", self.migration is not None, "an import is not supported yet"),
                ("databases", bool(self.databases), "each cluster declares its own: clusters.<name>.databases"),
                ("roles", bool(self.roles), "each cluster declares its own: clusters.<name>.roles"),
            )
            if on
        ]
        seen: set[str] = set()
        for key, cluster in self.database_clusters().items():
            problems += database_problems(f"clusters.{key}", cluster.entry.databases, cluster.entry.roles, cluster.entry.postgres)
            for line in self._cluster_problems(cluster.settings):
                # A cluster's own keys are named under its entry; the stack's (aks.*, network.*) as they are.
                line = line.replace("network.internalEndpoint.", "internalEndpoint.")
                line = f"clusters.{key}.{line}" if line.startswith(CLUSTER_KEYS) else line
                if line not in seen:
                    seen.add(line)
                    problems.append(line)
        problems += platform_problems(self.clusters, self.backup)
        return problems

    def _paired_cluster_problems(self) -> list[str]:
        """disasterRecovery: what each cluster's topology needs, under its entry (the one-cluster stack's at the top level)."""
        assert self.disaster_recovery is not None
        problems = self._promotion_token_problems(self.disaster_recovery)
        for key, cluster in self.database_clusters().items():
            where = "" if self.clusters is None else f"clusters.{key}."
            if cluster.entry.databases or cluster.entry.roles:
                problems.append(
                    f"{where}databases/roles: set, but with disasterRecovery the replica cluster would not create them "
                    "(CloudNativePG reconciles neither on a replica); not supported yet"
                )
            archive_problem = archive_timeout_problem(cluster.settings.postgres.parameters_for(paired_region=True))
            if archive_problem:
                problems.append(f"{where}postgres.parameters.{archive_problem}")
        return problems

    def _promotion_token_problems(self, dr: DisasterRecoverySettings) -> list[str]:
        """Each cluster is promoted with its own demoted namesake's token: one for the one-cluster stack, one
        per cluster of a platform (primary is the stack's, so a switchover promotes every cluster at once)."""
        if self.clusters is None:
            if dr.promotion_tokens:
                return ["disasterRecovery.promotionTokens: set, but this stack runs one cluster: set promotionToken"]
            return []
        if dr.promotion_token is not None:
            return [
                "disasterRecovery.promotionToken: set, but with clusters each cluster has its own demotion token: "
                "set promotionTokens.<cluster>"
            ]
        if not dr.promotion_tokens:
            return []
        parts = []
        if missing := [key for key in self.clusters if key not in dr.promotion_tokens]:
            parts.append(f"lacks {', '.join(missing)}")
        if unknown := [key for key in dr.promotion_tokens if key not in self.clusters]:
            parts.append(f"names {', '.join(unknown)}, not clusters of this stack")
        if not parts:
            return []
        return [
            f"disasterRecovery.promotionTokens: {'; '.join(parts)} — a switchover promotes every cluster, each with "
            "its demoted namesake's .status.demotionToken"
        ]

    def database_clusters(self) -> dict[str, DatabaseCluster]:
        """Every database cluster of the stack by name: the ``clusters`` entries, or the one cluster of a stack
        without them (named by postgres.clusterName, under the one-cluster names)."""
        if self.clusters is None:
            only = ClusterSettings(
                postgres=self.postgres,
                backup=self.backup,
                pooler=self.pooler,
                restore=self.restore,
                clients=self.clients,
                public_endpoint=self.public_endpoint,
                internal_endpoint=self.network.internal_endpoint,
                databases=self.databases,
                roles=self.roles,
                stack_names=True,
            )
            return {self.postgres.cluster_name: DatabaseCluster(self.postgres.cluster_name, only, self)}
        return {
            key: DatabaseCluster(key, cluster, self._as_seen_by(cluster))
            for key, cluster in self.clusters.items()
            if not cluster.retired
        }

    def _as_seen_by(self, cluster: ClusterSettings) -> Settings:
        return self.model_copy(
            update={
                "postgres": cluster.postgres,
                "backup": cluster.backup,
                "pooler": cluster.pooler,
                "restore": cluster.restore,
                "clients": cluster.clients,
                "public_endpoint": cluster.public_endpoint,
                "network": self.network.model_copy(update={"internal_endpoint": cluster.internal_endpoint}),
                "clusters": None,
            }
        )

    @property
    def names(self) -> NameScheme:
        return NameScheme(self.name_prefix)


# The keys of a cluster's entry that problem lines start with.
CLUSTER_KEYS = ("postgres.", "backup.", "pooler.", "restore.", "clients.", "publicEndpoint.", "internalEndpoint.")


@dataclass(frozen=True)
class DatabaseCluster:
    """One database cluster of the platform."""

    key: str
    entry: ClusterSettings
    # The stack settings as this cluster sees them: its postgres, backup, pooler, restore, clients and
    # endpoints in place of the top-level ones, so every per-cluster rule and builder reads them as before.
    settings: Settings

    @property
    def own_key(self) -> str | None:
        """The name its own resources, alert groups and outputs go by; None for the one-cluster stack's database,
        which keeps the one-cluster names, identity, container and top-level outputs (their URNs stay)."""
        return None if self.entry.stack_names else self.key

    @property
    def resource_prefix(self) -> str:
        """Prefix of its Pulumi resource names: none under the one-cluster names."""
        return "" if self.own_key is None else f"{self.own_key}-"


# --------------------------------------------------------------------------- loading

# Validation context: the stack being deployed (rules that name it, e.g. disasterRecovery.primary).
STACK_CONTEXT = "stack"


def production_stack_name(stack: str) -> bool:
    """Whether a stack's name says production: a part (split on '-', '_', '.', '/') is prod or production,
    case-insensitive (prod, PROD, prod-eu, org/project/prod; not product)."""
    return any(part in ("prod", "production") for part in re.split(r"[-_./]", stack.lower()))


# Prefix of the offline render's warning for each placeholder setting (the render lists them first).
PLACEHOLDER_WARNING = "placeholder: "

# The settings the program keeps secret wherever they go (pulumi.Output.secret), by section: the CLI
# decrypts a value set with --secret and marks its whole top-level key secret, as Config.get_secret
# would read it. A section not listed here would reach resources and the state in plain text.
SECRET_SETTINGS = {"alerting": "alerting.webhookUrl", "disasterRecovery": "disasterRecovery.promotionToken"}
# What a problem line shows instead of a value from a secret section.
SECRET_VALUE = "[secret]"


def _config_keys(project: str) -> dict[str, Any]:
    """Raw config values of this project's namespace, from the runtime (CLI or mocks)."""
    from pulumi.runtime import config as runtime_config

    raw: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{project}:"
    return {key[len(prefix) :]: value for key, value in raw.items() if key.startswith(prefix)}


def _secret_config_keys(project: str) -> set[str]:
    """This project's config keys the CLI marks secret (set with --secret; it passes them decrypted)."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.get_config_secret_keys_env()) | {
        key for key in runtime_config.CONFIG.get() if runtime_config.is_config_secret(key)
    }
    prefix = f"{project}:"
    return {key[len(prefix) :] for key in keys if key.startswith(prefix)}


def secret_problems(secret_keys: Collection[str], project: str = PROJECT) -> list[str]:
    """A setting stored as a secret that the program would not keep secret, one line each."""
    kept = ", ".join(SECRET_SETTINGS.values())
    return [
        f"{project}:{key}: stored as a secret (pulumi config set --secret), but the program keeps only {kept} "
        "secret and would write this setting to resources and the state in plain text; store it without --secret"
        for key in sorted(secret_keys)
        if key not in SECRET_SETTINGS
    ]


def _decode(value: Any) -> Any:
    """Config values arrive as strings; objects, lists, numbers and booleans are JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _config_path(loc: tuple[int | str, ...]) -> str:
    """A location as ``pulumi config set --path`` writes it: ``aks.ranges[0]``, ``parameters["pg_stat_statements.max"]``."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif re.search(r'[.\[\]"]', part):
            parts.append(f"[{json.dumps(part)}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts)


def _lookup(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _loc(item: ErrorDetails) -> tuple[int | str, ...]:
    # Validator-function steps in a location are pydantic internals, not config keys.
    return tuple(part for part in item["loc"] if not isinstance(part, str) or not part.startswith(("function-", "constrained-")))


def _validate(values: Mapping[str, Any], stack: str | None) -> tuple[Settings | None, list[ErrorDetails]]:
    try:
        return Settings.model_validate(dict(values), context={STACK_CONTEXT: stack} if stack else None), []
    except ValidationError as error:
        return None, error.errors()


def _integers_as_text(values: Mapping[str, Any], errors: list[ErrorDetails]) -> dict[str, Any] | None:
    """``pulumi config set --path 'postgres.resources.cpu' 2`` stores a number; a text setting takes it as written.

    Returns the values with those numbers turned into text, or None when there are none.
    """
    numbers = [_loc(item) for item in errors if item["type"] == "string_type" and type(item["input"]) is int]
    if not numbers:
        return None
    fixed = copy.deepcopy(dict(values))
    for loc in numbers:
        container = _lookup(fixed, loc[:-1])
        if isinstance(container, dict | list) and type(_lookup(container, loc[-1:])) is int:
            container[loc[-1]] = str(container[loc[-1]])  # type: ignore[index]
    return fixed


def _text_setting_fix(project: str, loc: tuple[int | str, ...], value: float | bool) -> str:
    """A float or boolean where text belongs, with the exact command that stores the text."""
    path = _config_path(loc)
    text = json.dumps(value)
    why = "a boolean (unquoted in YAML, or set with --path)" if isinstance(value, bool) else "a number (1.10 reads as 1.1)"
    command = f"pulumi config set --path '{path}' {text} --type string" if len(loc) > 1 else f"pulumi config set {path} {text}"
    return f"{project}:{path}: {text} is {why}, but this setting is text; store it as text: {command} (or quote it in the file)"


def _problem_lines(item: ErrorDetails, values: Mapping[str, Any], project: str, secret_keys: Collection[str]) -> list[str]:
    loc = _loc(item)
    if loc and loc[-1] == "[key]":  # a map's key broke its rule: the key is the value
        loc = loc[:-1]
        return [f"{project}:{_config_path(loc)}: {loc[-1]!r} — {str(item['msg']).removeprefix('Value error, ')}"]
    secret = bool(loc) and loc[0] in secret_keys
    key = f"{project}:{_config_path(loc)}" if loc else project
    message = str(item["msg"]).removeprefix("Value error, ")
    if item["type"] == "missing":
        return [f"{key}: required setting is missing"]
    if item["type"] == "extra_forbidden":
        return [f"{key}: unknown setting (check the spelling against the README configuration reference)"]
    if item["type"] == "string_type" and isinstance(item["input"], float | bool) and not secret:
        return [_text_setting_fix(project, loc, item["input"])]
    if not loc or (item["type"] == "value_error" and "\n" in message):
        return [f"{project}:{line}" for line in message.splitlines()]
    value = _lookup(values, loc)
    # An object-level rule names its fields itself; repeating the whole object adds noise.
    if isinstance(value, dict):
        return [f"{key}: {message}"]
    return [f"{key}: {SECRET_VALUE if secret else repr(value)} — {message}"]


def parse_settings(
    values: Mapping[str, Any],
    project: str = PROJECT,
    *,
    stack: str | None = None,
    refuse_placeholders: bool = False,
    secret_keys: Collection[str] = (),
) -> Settings:
    """Validate decoded config values; raise SettingsError listing every problem.

    Integers in text settings (CPU ``2``, ``work_mem: 64``) are read as the text meant; floats and
    booleans there are refused with the command that stores text. ``stack``: the stack being
    deployed, for the rules that name it (disasterRecovery). ``refuse_placeholders`` adds the
    documentation-range check a real deployment makes. ``secret_keys``: the top-level keys stored as
    secrets (their values are never printed; only SECRET_SETTINGS' sections may be secret).
    """
    settings, errors = _validate(values, stack)
    as_meant = _integers_as_text(values, errors)
    if as_meant is not None:
        values = as_meant
        settings, errors = _validate(values, stack)
    problems = [line for item in errors for line in _problem_lines(item, values, project, secret_keys)]
    problems += secret_problems(secret_keys, project)
    if refuse_placeholders:
        problems += placeholder_problems(values, project)
    if settings is None or problems:
        raise SettingsError(problems)
    return settings


def _rendering_offline() -> bool:
    """True only under the offline render's mock monitor (``offline.engine.RecordingMonitor``).

    Under the Pulumi CLI the monitor is a gRPC stub without that attribute, so a real preview or
    update can never take the offline path, whatever the environment holds.
    """
    from pulumi.runtime.settings import get_monitor

    return getattr(get_monitor(), "offline_render", False) is True


def load_settings(project: str | None = None) -> Settings:
    """Read and validate this stack's config (call inside the Pulumi program).

    A real deployment refuses the shipped placeholder ranges; the offline render accepts them
    and warns, so the render works on the shipped files and says what is still a placeholder.
    """
    import pulumi

    project = project or pulumi.get_project()
    values = {key: _decode(value) for key, value in _config_keys(project).items()}
    offline = _rendering_offline()
    settings = parse_settings(
        values,
        project,
        stack=pulumi.get_stack(),
        refuse_placeholders=not offline,
        secret_keys=_secret_config_keys(project),
    )
    if offline:
        for problem in placeholder_problems(values, project):
            pulumi.log.warn(PLACEHOLDER_WARNING + problem)
    return settings
