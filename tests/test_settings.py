"""Settings: the shipped stacks validate, and bad settings stop the program with one clear line
per problem (key, value, rule) before any resource is registered."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from offline.engine import StackRun, run_stack, stack_config
from settings import PLACEHOLDER_WARNING, PROJECT, SettingsError, parse_settings, placeholder_problems

P = "aks-postgres-ha:"


def _section(stack: str, key: str, **changes: Any) -> dict[str, Any]:
    """A config section of the shipped stack file with some keys changed."""
    section = dict(stack_config(stack)[P + key])
    section.update(changes)
    return section


def _nested(stack: str, key: str, child: str, **changes: Any) -> dict[str, Any]:
    section = dict(stack_config(stack)[P + key])
    section[child] = {**section[child], **changes}
    return section


BAD_SETTINGS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("region with spaces", {P + "location": "West Europe"}, ["location: 'West Europe'", "lowercase"]),
    ("prod on two zones", {P + "zones": ["1", "2"]}, ["zones: ['1', '2']", "3 distinct zones"]),
    ("repeated zone", {P + "zones": ["1", "1", "2"]}, ["zones:", "distinct"]),
    ("prefix too long for storage names", {P + "namePrefix": "averylongpre"}, ["namePrefix: 'averylongpre'", "2-10"]),
    ("prefix with upper case", {P + "namePrefix": "Cnpg"}, ["namePrefix: 'Cnpg'", "lowercase"]),
    (
        "out-of-support Kubernetes",
        {P + "aks": _section("prod", "aks", kubernetesVersion="1.29")},
        ["aks.kubernetesVersion: '1.29'", "1.35, 1.36"],
    ),
    (
        "Kubernetes 1.34 at its end of life",
        {P + "aks": _section("prod", "aks", kubernetesVersion="1.34")},
        ["aks.kubernetesVersion: '1.34'", "AKS supports for new clusters"],
    ),
    (
        "Kubernetes 1.37, which CloudNativePG 1.30 does not support",
        {P + "aks": _section("prod", "aks", kubernetesVersion="1.37.1")},
        ["aks.kubernetesVersion: '1.37.1'", "CloudNativePG 1.30"],
    ),
    ("unknown region", {P + "location": "westeurope2"}, ["location: 'westeurope2'", "availability zones"]),
    ("region without zones", {P + "location": "westus"}, ["location: 'westus'", "availability zones"]),
    (
        "cert-manager at end of life",
        {P + "operators": _section("prod", "operators", certManagerVersion="v1.19.1")},
        ["operators.certManagerVersion: 'v1.19.1'", "v1.21.x"],
    ),
    (
        "CloudNativePG without the pg_rewind fix",
        {P + "operators": _section("prod", "operators", cnpgOperatorVersion="1.30.0")},
        ["operators.cnpgOperatorVersion: '1.30.0'", "from 1.30.1", "pg_rewind"],
    ),
    (
        "CloudNativePG minor the chart's CRDs do not match",
        {P + "operators": _section("prod", "operators", cnpgOperatorVersion="1.31.0")},
        ["operators.cnpgOperatorVersion: '1.31.0'", "1.30.x"],
    ),
    (
        "Barman Cloud plugin without the pg_rewind fix",
        {P + "operators": _section("prod", "operators", barmanCloudPluginVersion="v0.13.0")},
        ["operators.barmanCloudPluginVersion: 'v0.13.0'", "v0.14.0", "pg_rewind"],
    ),
    (
        "CloudNativePG release without a pinned digest",
        {P + "operators": _section("prod", "operators", cnpgOperatorVersion="1.30.2")},
        ["operators.cnpgOperatorVersion: '1.30.2'", "image digests are pinned in settings/images.py (1.30.1)"],
    ),
    (
        "cert-manager release without pinned digests",
        {P + "operators": _section("prod", "operators", certManagerVersion="v1.21.2")},
        ["operators.certManagerVersion: 'v1.21.2'", "settings/images.py (v1.21.1)"],
    ),
    (
        "kube-prometheus-stack release without pinned digests",
        {P + "operators": _section("prod", "operators", kubePrometheusStackVersion="88.6.1")},
        ["operators.kubePrometheusStackVersion: '88.6.1'", "settings/images.py (88.5.3)"],
    ),
    (
        "Barman Cloud plugin release without a pinned sidecar digest",
        {P + "operators": _section("prod", "operators", barmanCloudPluginVersion="v0.15.0")},
        ["operators.barmanCloudPluginVersion: 'v0.15.0'", "settings/images.py", "v0.14.0"],
    ),
    (
        "malformed Kubernetes version",
        {P + "aks": _section("prod", "aks", kubernetesVersion="v1.35")},
        ["aks.kubernetesVersion: 'v1.35'", "1.35"],
    ),
    (
        "API open to the world",
        {P + "aks": _section("prod", "aks", apiServerAuthorizedIpRanges=["0.0.0.0/0"])},
        ["apiServerAuthorizedIpRanges[0]: '0.0.0.0/0'", "whole internet"],
    ),
    (
        "API open to the IPv6 world",
        {P + "aks": _section("prod", "aks", apiServerAuthorizedIpRanges=["::/0"])},
        ["apiServerAuthorizedIpRanges[0]: '::/0'", "whole internet"],
    ),
    (
        "invalid CIDR",
        {P + "aks": _section("prod", "aks", apiServerAuthorizedIpRanges=["10.0.0.300/32"])},
        ["'10.0.0.300/32'", "CIDR"],
    ),
    (
        "CIDR with host bits",
        {P + "aks": _section("prod", "aks", apiServerAuthorizedIpRanges=["10.1.2.3/16"])},
        ["'10.1.2.3/16'", "host bits"],
    ),
    (
        "no API ranges",
        {P + "aks": _section("prod", "aks", apiServerAuthorizedIpRanges=[])},
        ["apiServerAuthorizedIpRanges: []", "at least 1"],
    ),
    (
        "pool min above max",
        {P + "aks": _nested("prod", "aks", "systemPool", minCount=4, maxCount=3)},
        ["aks.systemPool", "minCount (4) must not exceed maxCount (3)"],
    ),
    (
        "postgres pool below zones",
        {P + "aks": _nested("prod", "aks", "postgresPool", minCount=2)},
        ["aks.postgresPool.minCount: 2", "number of zones (3)"],
    ),
    (
        "pool name too long",
        {P + "aks": _nested("prod", "aks", "postgresPool", name="postgresqlpool")},
        ["aks.postgresPool.name: 'postgresqlpool'", "1-12 lowercase"],
    ),
    ("empty VM size", {P + "aks": _nested("prod", "aks", "postgresPool", vmSize="")}, ["aks.postgresPool.vmSize: ''", "VM size"]),
    ("Free tier in prod", {P + "aks": _section("prod", "aks", skuTier="Free")}, ["aks.skuTier: 'Free'", "Standard or Premium"]),
    (
        "prod without cluster administrators",
        {P + "aks": _section("prod", "aks", adminGroupObjectIds=[])},
        ["aks.adminGroupObjectIds: []", "prod needs at least one Entra group", "local accounts are disabled"],
    ),
    (
        "administrator that is not an object ID",
        {P + "aks": _section("prod", "aks", adminGroupObjectIds=["platform-admins"])},
        ["aks.adminGroupObjectIds[0]: 'platform-admins'", "Entra object ID"],
    ),
    (
        "prod system pool below 4 vCPU",
        {P + "aks": _nested("prod", "aks", "systemPool", vmSize="Standard_D2s_v5")},
        ["aks.systemPool.vmSize: 'Standard_D2s_v5' has 2 vCPU", "at least 4 vCPU"],
    ),
    (
        "maintenance window shorter than AKS accepts",
        {P + "aks": _nested("prod", "aks", "maintenance", autoUpgrade={"dayOfWeek": "Sunday", "durationHours": 3})},
        ["aks.maintenance.autoUpgrade.durationHours: 3", "greater than or equal to 4"],
    ),
    (
        "maintenance start that is not a time of day",
        {P + "aks": _nested("prod", "aks", "maintenance", nodeOsUpgrade={"dayOfWeek": "Saturday", "startTime": "24:00"})},
        ["aks.maintenance.nodeOsUpgrade.startTime: '24:00'", "HH:MM from 00:00 to 23:59"],
    ),
    (
        "maintenance UTC offset beyond +14:00",
        {P + "aks": _nested("prod", "aks", "maintenance", nodeOsUpgrade={"dayOfWeek": "Saturday", "utcOffset": "+15:00"})},
        ["aks.maintenance.nodeOsUpgrade.utcOffset: '+15:00'", "-12:00 to +14:00"],
    ),
    (
        "maintenance day misspelt",
        {P + "aks": _nested("prod", "aks", "maintenance", autoUpgrade={"dayOfWeek": "sunday"})},
        ["aks.maintenance.autoUpgrade.dayOfWeek: 'sunday'", "'Sunday'"],
    ),
    (
        "maintenance every five weeks",
        {P + "aks": _nested("prod", "aks", "maintenance", autoUpgrade={"dayOfWeek": "Sunday", "intervalWeeks": 5})},
        ["aks.maintenance.autoUpgrade.intervalWeeks: 5", "less than or equal to 4"],
    ),
    (
        "database open to the world",
        {P + "publicEndpoint": _section("prod", "publicEndpoint", allowedClientCidrs=["0.0.0.0/0"])},
        ["publicEndpoint.allowedClientCidrs[0]: '0.0.0.0/0'", "whole internet"],
    ),
    (
        "public without client ranges",
        {P + "publicEndpoint": _section("prod", "publicEndpoint", enabled=True, allowedClientCidrs=[])},
        ["publicEndpoint:", "allowedClientCidrs must list"],
    ),
    (
        "retention format",
        {P + "backup": _section("prod", "backup", retention="30 days")},
        ["backup.retention: '30 days'", "d, w or m"],
    ),
    (
        "5-field cron",
        {P + "backup": _section("prod", "backup", schedule="0 2 * * *")},
        ["backup.schedule: '0 2 * * *'", "5 fields", "seconds first"],
    ),
    (
        "cron seconds out of range",
        {P + "backup": _section("prod", "backup", schedule="60 0 2 * * *")},
        ["backup.schedule: '60 0 2 * * *'", "second field '60'", "0-59"],
    ),
    (
        "cron hour out of range",
        {P + "backup": _section("prod", "backup", schedule="0 0 24 * * *")},
        ["backup.schedule: '0 0 24 * * *'", "hour field '24'", "0-23"],
    ),
    (
        "cron day of month zero",
        {P + "backup": _section("prod", "backup", schedule="0 0 2 0 * *")},
        ["backup.schedule", "day-of-month field '0'", "1-31"],
    ),
    (
        "cron step of zero",
        {P + "backup": _section("prod", "backup", schedule="0 */0 * * * *")},
        ["backup.schedule", "minute field '*/0'", "positive"],
    ),
    (
        "cron backwards range and unknown name",
        {P + "backup": _section("prod", "backup", schedule="0 0 2 * * FRI-MON")},
        ["backup.schedule", "day-of-week field 'FRI-MON'", "backwards"],
    ),
    (
        "storage quantity",
        {P + "postgres": _nested("prod", "postgres", "storage", dataSize="64GB")},
        ["postgres.storage.dataSize: '64GB'", "quantity"],
    ),
    (
        "image on latest",
        {P + "postgres": _section("prod", "postgres", image="ghcr.io/cloudnative-pg/postgresql:latest")},
        ["postgres.image", "version tag"],
    ),
    (
        "image on a weekly rebuilt tag",
        {P + "postgres": _section("prod", "postgres", image="ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie")},
        ["postgres.image", "rebuilt weekly", "timestamped tag"],
    ),
    (
        "image without its digest",
        {
            P
            + "postgres": _section(
                "prod", "postgres", image="ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-standard-trixie"
            )
        },
        ["postgres.image", "must carry the image's digest (@sha256:...)"],
    ),
    (
        "image on a major-only tag",
        {P + "postgres": _section("prod", "postgres", image="ghcr.io/cloudnative-pg/postgresql:18")},
        ["postgres.image", "rebuilt weekly"],
    ),
    (
        "system image with the plugin",
        {P + "postgres": _section("prod", "postgres", image="ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie")},
        ["postgres.image", "'standard' or 'minimal'"],
    ),
    (
        "parameter CNPG manages",
        {P + "postgres": _section("prod", "postgres", parameters={"wal_level": "minimal"})},
        ["postgres:", "'wal_level'", "managed by CloudNativePG"],
    ),
    (
        "pg_failover_slots parameter CNPG fixes",
        {
            P + "postgres": _section(
                "prod", "postgres", parameters={"pg_failover_slots.standby_slot_names": "x", "hot_standby_feedback": "on"}
            )
        },
        ["postgres:", "pg_failover_slots.standby_slot_names", "managed by CloudNativePG"],
    ),
    (
        "parameter name with two dots",
        {P + "postgres": _section("prod", "postgres", parameters={"a.b.c": "1"})},
        ["postgres.parameters", "'a.b.c'", "at most one '.'"],
    ),
    (
        "boolean CNPG parses",
        {P + "postgres": _section("prod", "postgres", parameters={"hot_standby_feedback": "maybe"})},
        ["postgres.parameters", "hot_standby_feedback 'maybe'", "boolean"],
    ),
    (
        "max_wal_size not below the WAL volume",
        {P + "postgres": _section("prod", "postgres", parameters={"max_wal_size": "16GB"})},
        ["postgres:", "max_wal_size (16384MB) must be below the WAL volume", "16384MiB"],
    ),
    (
        "min_wal_size not below max_wal_size",
        {P + "postgres": _section("prod", "postgres", parameters={"min_wal_size": "8GB"})},
        ["postgres:", "min_wal_size (8192MB) must be below max_wal_size"],
    ),
    (
        "cluster name too long for CNPG",
        {P + "postgres": _section("prod", "postgres", clusterName="pg-" + "a" * 48)},
        ["postgres.clusterName", "50 characters"],
    ),
    (
        "cluster name starting with a digit",
        {P + "postgres": _section("prod", "postgres", clusterName="1pg")},
        ["postgres.clusterName: '1pg'", "DNS-1035"],
    ),
    *(
        (
            f"reserved owner {owner}",
            {P + "postgres": _section("prod", "postgres", owner=owner)},
            [f"postgres.owner: '{owner}'", "reserved"],
        )
        for owner in ("postgres", "streaming_replica", "pg_monitor", "cnpg_pooler_pgbouncer")
    ),
    (
        "database every instance already has",
        {P + "postgres": _section("prod", "postgres", database="template1")},
        ["postgres.database: 'template1'", "reserved"],
    ),
    *(
        (
            f"namespace {namespace} already owned",
            {P + "postgres": _section("prod", "postgres", namespace=namespace)},
            [f"postgres.namespace: '{namespace}'", "already own"],
        )
        for namespace in ("default", "kube-system", "kube-node-lease", "cnpg-system", "cert-manager", "monitoring")
    ),
    (
        "pod too small for its connections",
        {P + "postgres": _section("prod", "postgres", resources={"cpu": "1", "memory": "1Gi"}, maxConnections=2000)},
        ["postgres:", "does not hold maxConnections 2000"],
    ),
    (
        "one instance, no synchronous standby",
        {P + "postgres": _section("prod", "postgres", instances=1)},
        ["postgres.instances: 1", "synchronously to 1 standby"],
    ),
    (
        "two instances in prod",
        {P + "postgres": _section("prod", "postgres", instances=2)},
        ["postgres.instances: 2", "at least 3"],
    ),
    (
        "restore to a point in time without a time",
        {P + "restore": {"enabled": True, "target": "time"}},
        ["restore.targetTime: missing", "target 'time' needs it"],
    ),
    (
        "restore to a time in the future",
        {P + "restore": {"enabled": True, "target": "time", "targetTime": "2999-01-01T00:00:00Z"}},
        ["restore.targetTime: '2999-01-01T00:00:00Z'", "in the future"],
    ),
    (
        "backup ID with target latest",
        {P + "restore": {"enabled": True, "target": "latest", "backupId": "20261123T020000"}},
        ["restore.backupId: '20261123T020000'", "only target 'backup' reads it", "target is 'latest'"],
    ),
    (
        "target time with target backup",
        {
            P + "restore": {
                "enabled": True,
                "target": "backup",
                "backupId": "20261123T020000",
                "targetTime": "2026-11-23T10:00:00Z",
            }
        },
        ["restore.targetTime: '2026-11-23T10:00:00Z'", "only target 'time' reads it", "target is 'backup'"],
    ),
    (
        "recovery cluster name with a leading digit",
        {P + "restore": {"enabled": True, "clusterName": "1restored"}},
        ["restore.clusterName: '1restored'", "DNS-1035", "starting with a letter"],
    ),
    (
        "recovery cluster name over 50 characters",
        {P + "restore": {"enabled": True, "clusterName": "r" * 51}},
        [f"restore.clusterName: '{'r' * 51}'", "at most 50 characters"],
    ),
    (
        "recovery cluster named like the primary",
        {P + "restore": {"enabled": True, "clusterName": "pg-primary"}},
        ["restore.clusterName: 'pg-primary'", "must differ from postgres.clusterName"],
    ),
    (
        "backup sidecar below 512Mi",
        {P + "backup": _section("prod", "backup", sidecar={"cpu": "500m", "memory": "256Mi"})},
        ["backup.sidecar.memory: '256Mi'", "at least 512Mi"],
    ),
    (
        "backup sidecar below 1Gi in prod",
        {P + "backup": _section("prod", "backup", sidecar={"cpu": "500m", "memory": "512Mi"})},
        ["backup.sidecar.memory: '512Mi'", "prod needs at least 1Gi"],
    ),
    (
        "backup sidecar starved of CPU",
        {P + "backup": _section("prod", "backup", sidecar={"cpu": "100m", "memory": "1Gi"})},
        ["backup.sidecar.cpu: '100m'", "at least 250m"],
    ),
    (
        "unknown backup credential mode",
        {P + "backup": _section("prod", "backup", azureCredentials="connectionString")},
        ["backup.azureCredentials: 'connectionString'", "inheritFromAzureAD", "useDefaultAzureCredentials"],
    ),
    (
        "postgres pool VM size outside the capacity table",
        {P + "aks": _nested("prod", "aks", "postgresPool", vmSize="Standard_D4_v3")},
        ["aks.postgresPool.vmSize: 'Standard_D4_v3'", "not in the capacity table"],
    ),
    (
        "PostgreSQL pod larger than a postgres node",
        {P + "aks": _nested("prod", "aks", "postgresPool", vmSize="Standard_D2s_v5")},
        ["aks.postgresPool.vmSize: 'Standard_D2s_v5'", "one PostgreSQL pod requests 2500m CPU", "choose a larger vmSize"],
    ),
    (
        "restore without room for the recovery cluster",
        {
            P + "restore": {"enabled": True},
            P + "aks": _nested("prod", "aks", "postgresPool", maxCount=5),
        },
        ["aks.postgresPool.maxCount: 5", "with restore.enabled", "need 6 nodes"],
    ),
    (
        "pooler pods without room on the postgres pool",
        {
            P + "pooler": _section("prod", "pooler", instances=10),
            P + "aks": _nested("prod", "aks", "postgresPool", maxCount=3),
        },
        ["aks.postgresPool.maxCount: 3", "and 20 PgBouncer pods", "need 6 nodes", "raise maxCount to 9"],
    ),
    (
        "pooler pod larger than a postgres node",
        {P + "pooler": _nested("prod", "pooler", "resources", cpu="4")},
        ["pooler.resources: 4 / 256Mi", "a PgBouncer pod requests 4000m CPU", "lower pooler.resources"],
    ),
    ("unknown key", {P + "aks": _section("prod", "aks", kubernetesVersoin="1.35")}, ["aks.kubernetesVersoin: unknown setting"]),
    ("unknown top-level key", {P + "bakcup": {}}, ["bakcup: unknown setting"]),
    ("missing required section", {P + "aks": None}, ["aks: required setting is missing"]),
]


@pytest.mark.parametrize(("case", "overrides", "expected"), BAD_SETTINGS, ids=[case for case, _, _ in BAD_SETTINGS])
def test_bad_settings_stop_before_any_resource(case: str, overrides: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_stack("prod", overrides)
    message = str(raised.value)
    assert message.startswith("invalid stack settings"), message
    problem_lines = [line for line in message.splitlines() if line.startswith("  - ")]
    assert any(all(part in line for part in expected) for line in problem_lines), message
    assert all(line.startswith(f"  - {P}") for line in problem_lines), message
    assert "Traceback" not in message
    assert raised.value.registrations == []  # type: ignore[attr-defined]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        parse_settings(
            {
                "environment": "prod",
                "location": "West Europe",
                "namePrefix": "X",
                "aks": {"apiServerAuthorizedIpRanges": ["0.0.0.0/0"]},
                "publicEndpoint": {"allowedClientCidrs": ["::/0"]},
                "backup": {"schedule": "0 2 * * *"},
            }
        )
    assert len(raised.value.problems) == 5, raised.value.problems


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_shipped_stacks_are_valid(stack: str) -> None:
    settings = parse_settings({key.removeprefix(P): value for key, value in stack_config(stack).items()})
    assert settings.environment == stack


def test_dev_is_cheap_and_prod_is_production_shaped() -> None:
    dev = parse_settings({key.removeprefix(P): value for key, value in stack_config("dev").items()})
    prod = parse_settings({key.removeprefix(P): value for key, value in stack_config("prod").items()})
    assert dev.aks.sku_tier == "Free" and prod.aks.sku_tier == "Standard"
    assert not dev.observability.managed_grafana and prod.observability.managed_grafana
    assert dev.backup.retention_days < prod.backup.retention_days
    assert dev.postgres.resources.memory_bytes < prod.postgres.resources.memory_bytes
    assert prod.protect_stateful_resources and not dev.protect_stateful_resources
    assert prod.zones == ["1", "2", "3"]


def test_blob_retention_covers_backup_retention() -> None:
    settings = parse_settings(
        {
            "environment": "dev",
            "location": "swedencentral",
            "aks": {"apiServerAuthorizedIpRanges": ["203.0.113.0/24"]},
            "publicEndpoint": {"allowedClientCidrs": ["203.0.113.0/24"]},
            "backup": {"retention": "4w", "softDeleteDays": 7},
        }
    )
    assert settings.backup.blob_retention_days == 28


@pytest.mark.parametrize("schedule", ["0 0 2 * * *", "0 15 * ? * *", "@daily", "@every 6h"])
def test_cnpg_cron_forms_are_accepted(schedule: str) -> None:
    settings = parse_settings(
        {
            "environment": "dev",
            "location": "swedencentral",
            "aks": {"apiServerAuthorizedIpRanges": ["203.0.113.0/24"]},
            "publicEndpoint": {"allowedClientCidrs": ["203.0.113.0/24"]},
            "backup": {"schedule": schedule},
        }
    )
    assert settings.backup.schedule == schedule


# --------------------------------------------------------------------------- placeholders and typed values

# Real values for every shipped placeholder (documentation ranges, the nil GUID, example.com mail).
REAL_VALUES: dict[str, dict[str, Any]] = {
    "network": {"clientCidrs": ["10.40.0.0/16"]},
    "aks": {"apiServerAuthorizedIpRanges": ["20.91.0.0/16"], "adminGroupObjectIds": ["3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"]},
    "publicEndpoint": {"allowedClientCidrs": ["2a01:111:f400::/48"]},
    "observability": {"grafanaAdmins": [{"objectId": "8d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6", "principalType": "Group"}]},
    "alerting": {"emails": ["dba-on-call@contoso.com"]},
}
# The placeholders each shipped stack file holds.
SHIPPED_PLACEHOLDERS = {
    "dev": ["aks.apiServerAuthorizedIpRanges", "publicEndpoint.allowedClientCidrs"],
    # Prod ships private: its public endpoint is off, so its client ranges are not used.
    "prod": [
        "aks.apiServerAuthorizedIpRanges",
        "network.clientCidrs",
        "aks.adminGroupObjectIds",
        "observability.grafanaAdmins",
        "alerting.emails",
    ],
}


def _with_real_values(stack: str) -> dict[str, Any]:
    shipped = {path.split(".")[0] for path in SHIPPED_PLACEHOLDERS[stack]}
    return {
        P + section: _section(
            stack, section, **{key: value for key, value in changes.items() if f"{section}.{key}" in SHIPPED_PLACEHOLDERS[stack]}
        )
        for section, changes in REAL_VALUES.items()
        if section in shipped
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_real_engine_refuses_the_shipped_placeholders(stack: str) -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_stack(stack, offline_render=False)
    problem_lines = [line.removeprefix("  - ") for line in str(raised.value).splitlines() if line.startswith("  - ")]
    assert [line.split(": ")[0] for line in problem_lines] == [P + path for path in SHIPPED_PLACEHOLDERS[stack]]
    by_key = dict(line.split(": ", 1) for line in problem_lines)
    assert (
        "'203.0.113.0/24'" in by_key[f"{P}aks.apiServerAuthorizedIpRanges"]
        and "runner's egress" in by_key[f"{P}aks.apiServerAuthorizedIpRanges"]
    )
    if stack == "dev":
        assert "connect to PostgreSQL" in by_key[f"{P}publicEndpoint.allowedClientCidrs"]
    if stack == "prod":
        assert "nil GUID" in by_key[f"{P}aks.adminGroupObjectIds"] and "az ad group show" in by_key[f"{P}aks.adminGroupObjectIds"]
        assert "'dba-on-call@example.com'" in by_key[f"{P}alerting.emails"]
    assert raised.value.registrations == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_real_engine_accepts_real_values(stack: str) -> None:
    run = run_stack(stack, _with_real_values(stack), offline_render=False)
    assert run.registrations and run.warnings == []


def test_the_offline_render_flags_placeholders_without_failing(shipped: StackRun) -> None:
    placeholders = [w for w in shipped.warnings if w.startswith(PLACEHOLDER_WARNING)]
    assert [w.split(": ")[1] for w in placeholders] == [P + path for path in SHIPPED_PLACEHOLDERS[shipped.stack]]
    assert shipped.registrations


@pytest.mark.parametrize(
    ("emails", "placeholders"),
    [
        (["oncall@example.com", "dba@contoso.com"], ["'oncall@example.com'"]),
        (["a@mail.example.org", "b@team.test"], ["'a@mail.example.org'", "'b@team.test'"]),
        (["dba@example.company.com"], []),  # a real domain that merely starts with "example"
    ],
)
def test_reserved_example_mail_domains_are_placeholders(emails: list[str], placeholders: list[str]) -> None:
    problems = placeholder_problems({"alerting": {"emails": emails}}, PROJECT)
    expected = f"{P}alerting.emails: {', '.join(placeholders)} — reserved example addresses"
    assert [line[: len(expected)] for line in problems] == ([expected] if placeholders else [])


def test_the_nil_guid_is_a_placeholder_for_grafana_admins_too() -> None:
    admins = [{"objectId": "00000000-0000-0000-0000-000000000000", "principalType": "User"}]
    assert placeholder_problems({"observability": {"grafanaAdmins": admins}}, PROJECT)[0].startswith(
        f"{P}observability.grafanaAdmins: '00000000-0000-0000-0000-000000000000' — the nil GUID"
    )


@pytest.mark.parametrize(
    ("ranges", "placeholders"),
    [
        (["192.0.2.0/24", "10.0.0.0/8"], ["'192.0.2.0/24'"]),
        (["198.51.100.7/32", "203.0.113.8/29"], ["'198.51.100.7/32'", "'203.0.113.8/29'"]),
        (["2001:db8:1::/48"], ["'2001:db8:1::/48'"]),
        (["203.0.0.0/16", "2001:db9::/32"], []),  # covers real addresses too: not a placeholder
    ],
)
def test_placeholder_ranges_are_the_documentation_ranges(ranges: list[str], placeholders: list[str]) -> None:
    problems = placeholder_problems({"aks": {"apiServerAuthorizedIpRanges": ranges}}, PROJECT)
    expected = f"{P}aks.apiServerAuthorizedIpRanges: {', '.join(placeholders)} — documentation ranges"
    assert [line[: len(expected)] for line in problems] == ([expected] if placeholders else [])


def test_a_disabled_public_endpoint_keeps_its_placeholders_quiet() -> None:
    assert placeholder_problems({"publicEndpoint": {"enabled": False, "allowedClientCidrs": ["203.0.113.0/24"]}}, PROJECT) == []


def test_integers_in_text_settings_are_read_as_written() -> None:
    postgres = _section("prod", "postgres", resources={"cpu": 2, "memory": "8Gi"}, parameters={"work_mem": 4096})
    run = run_stack("prod", {P + "postgres": postgres})
    cluster = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster")
    assert cluster.inputs["spec"]["resources"]["limits"]["cpu"] == "2"
    assert cluster.inputs["spec"]["postgresql"]["parameters"]["work_mem"] == "4096"


TEXT_SETTINGS_WITH_OTHER_TYPES: list[tuple[str, dict[str, Any], str]] = [
    (
        "version as a YAML float",
        {P + "aks": _section("prod", "aks", kubernetesVersion=1.35)},
        f"{P}aks.kubernetesVersion: 1.35 is a number (1.10 reads as 1.1), but this setting is text; "
        "store it as text: pulumi config set --path 'aks.kubernetesVersion' 1.35 --type string (or quote it in the file)",
    ),
    (
        "boolean parameter with a dotted name",
        {P + "postgres": _section("prod", "postgres", parameters={"pg_stat_statements.track_utility": False})},
        f'{P}postgres.parameters["pg_stat_statements.track_utility"]: false is a boolean (unquoted in YAML, or set with '
        "--path), but this setting is text; store it as text: pulumi config set --path "
        "'postgres.parameters[\"pg_stat_statements.track_utility\"]' false --type string (or quote it in the file)",
    ),
    (
        "top-level text as a number",
        {P + "location": 1.5},
        f"{P}location: 1.5 is a number (1.10 reads as 1.1), but this setting is text; store it as text: "
        "pulumi config set location 1.5 (or quote it in the file)",
    ),
]


@pytest.mark.parametrize(
    ("case", "overrides", "expected"), TEXT_SETTINGS_WITH_OTHER_TYPES, ids=[case for case, _, _ in TEXT_SETTINGS_WITH_OTHER_TYPES]
)
def test_floats_and_booleans_in_text_settings_get_the_exact_fix(case: str, overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_stack("prod", overrides)
    assert f"  - {expected}" in str(raised.value).splitlines(), str(raised.value)
    assert raised.value.registrations == []  # type: ignore[attr-defined]
