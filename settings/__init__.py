"""Stack settings: Pulumi config turned into frozen, typed, validated models.

Every default lives here, once. ``load_settings()`` reads the project's config namespace,
validates all of it and raises ``SettingsError`` listing every problem (key, value, rule)
before any resource is registered. ``__main__.py`` turns that into ``pulumi.RunError``, which
Pulumi prints without a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ValidationError, field_validator, model_validator

from settings.aks import SUPPORTED_KUBERNETES_MINORS, AksSettings, NodePoolSettings, PostgresPoolSettings, SystemPoolSettings
from settings.alerting import AlertingSettings
from settings.backup import BackupSettings
from settings.capacity import capacity_problems
from settings.names import SUFFIX_LENGTH, NameScheme
from settings.observability import GrafanaAdmin, ObservabilitySettings
from settings.operators import OperatorSettings
from settings.postgres import PostgresResources, PostgresSettings, PostgresStorage
from settings.public_endpoint import PublicEndpointSettings
from settings.restore import RestoreSettings
from settings.rules import AzureRegion, NamePrefix, SettingsModel, cpu_millicores, quantity_bytes

__all__ = [
    "PROJECT",
    "SUFFIX_LENGTH",
    "SUPPORTED_KUBERNETES_MINORS",
    "AksSettings",
    "AlertingSettings",
    "BackupSettings",
    "GrafanaAdmin",
    "NameScheme",
    "NodePoolSettings",
    "ObservabilitySettings",
    "OperatorSettings",
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
    """dev or prod (prod enforces 3 zones, a paid tier, 3 instances)."""
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
    operators: OperatorSettings = OperatorSettings()
    """Operator chart versions."""
    postgres: PostgresSettings = PostgresSettings()
    """The PostgreSQL cluster."""
    restore: RestoreSettings = RestoreSettings()
    """Restore into a new cluster."""

    @field_validator("zones")
    @classmethod
    def _distinct_zones(cls, zones: list[str]) -> list[str]:
        if len(set(zones)) != len(zones) or not zones:
            raise ValueError("must list distinct availability zones, at least one")
        return zones

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        problems = NameScheme(self.name_prefix).problems()
        if self.environment == "prod":
            if len(self.zones) != 3:
                problems.append(f"zones: {self.zones!r}, but prod spreads over 3 distinct zones")
            if self.aks.sku_tier == "Free":
                problems.append("aks.skuTier: 'Free', but prod needs the Standard or Premium tier (uptime SLA)")
            if self.postgres.instances < 3:
                problems.append(f"postgres.instances: {self.postgres.instances}, but prod runs at least 3 instances")
            problems += self.aks.production_problems()
            problems += self.observability.production_problems()
        if self.aks.postgres_pool.min_count < len(self.zones):
            problems.append(
                f"aks.postgresPool.minCount: {self.aks.postgres_pool.min_count}, but it must be at least the "
                f"number of zones ({len(self.zones)}) so every zone has a PostgreSQL node"
            )
        if self.aks.postgres_pool.max_count < self.postgres.instances:
            problems.append(
                f"aks.postgresPool.maxCount: {self.aks.postgres_pool.max_count}, but it must be at least "
                f"postgres.instances ({self.postgres.instances})"
            )
        problems += self.restore.problems(self.postgres.cluster_name)
        problems += capacity_problems(self)
        problems += self.alerting.problems(
            prod=self.environment == "prod",
            azure_monitoring=self.observability.azure_monitoring,
            self_managed_monitoring=self.operators.self_managed_monitoring,
        )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def names(self) -> NameScheme:
        return NameScheme(self.name_prefix)


# --------------------------------------------------------------------------- loading


def _config_keys(project: str) -> dict[str, Any]:
    """Raw config values of this project's namespace, from the runtime (CLI or mocks)."""
    from pulumi.runtime import config as runtime_config

    raw: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{project}:"
    return {key[len(prefix) :]: value for key, value in raw.items() if key.startswith(prefix)}


def _decode(value: Any) -> Any:
    """Config values arrive as strings; objects, lists, numbers and booleans are JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
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


def parse_settings(values: Mapping[str, Any], project: str = PROJECT) -> Settings:
    """Validate decoded config values; raise SettingsError listing every problem."""
    problems: list[str] = []
    try:
        return Settings.model_validate(dict(values))
    except ValidationError as error:
        for item in error.errors():
            loc = tuple(
                part for part in item["loc"] if not isinstance(part, str) or not part.startswith(("function-", "constrained-"))
            )
            key = f"{project}:{_location(loc)}" if loc else f"{project}"
            message = str(item["msg"]).removeprefix("Value error, ")
            if item["type"] == "missing":
                problems.append(f"{key}: required setting is missing")
            elif item["type"] == "extra_forbidden":
                problems.append(f"{key}: unknown setting (check the spelling against the README configuration reference)")
            elif not loc or (item["type"] == "value_error" and "\n" in message):
                problems.extend(f"{project}:{line}" for line in message.splitlines())
            else:
                value = _lookup(values, loc)
                # An object-level rule names its fields itself; repeating the whole object adds noise.
                problems.append(f"{key}: {message}" if isinstance(value, dict) else f"{key}: {value!r} — {message}")
    raise SettingsError(problems)


def load_settings(project: str | None = None) -> Settings:
    """Read and validate this stack's config (call inside the Pulumi program)."""
    import pulumi

    project = project or pulumi.get_project()
    values = {key: _decode(value) for key, value in _config_keys(project).items()}
    return parse_settings(values, project)
