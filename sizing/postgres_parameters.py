"""PostgreSQL parameters for the CloudNativePG Cluster, derived from the pod's resources.

Every memory parameter comes from one number, the container memory limit (requests == limits,
so the pod has Guaranteed QoS and the limit is what the kernel enforces):

- ``shared_buffers`` is 25 % of the limit (2048MB for 8Gi), ``effective_cache_size`` 75 % (a
  planner estimate of the cache this instance can use, so never above the limit).
- ``maintenance_work_mem`` is 5 % of the limit, at most 2GB; autovacuum workers use it too.
- ``work_mem`` gets what is left after shared buffers, WAL buffers, maintenance (every
  autovacuum worker plus one manual operation) and a 10 % reserve, split over
  ``max_connections`` × ``WORK_MEM_ALLOCATIONS_PER_CONNECTION``; at least 4MB.
- WAL sizing scales with memory (1GB/4GB min/max for 8Gi) so checkpoints are driven by
  ``checkpoint_timeout`` rather than by WAL volume on a busy instance, but ``max_wal_size`` stays
  within a quarter of the WAL volume: it is a soft limit, and ``wal_keep_size``, replication
  slots and an archive backlog keep more WAL on that volume (CNPG refuses a ``max_wal_size`` that
  is not below the volume size).

CPU parameters use whole cores (millicores rounded up). ``memory_budget`` recomputes the
worst case from rendered parameters, overrides included, so a test can assert it fits.
No pulumi imports: the module is used by the program and by tests alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

MIB = 2**20
GIB = 2**30

# pg_hba lines CNPG appends after its fixed rules. CNPG ends pg_hba.conf with
# `host all all all scram-sha-256`, which also matches connections without TLS, so the
# explicit hostnossl rejects are what make the instance TLS-only.
PG_HBA: tuple[str, ...] = (
    "hostssl all all 0.0.0.0/0 scram-sha-256",
    "hostssl all all ::/0 scram-sha-256",
    "hostnossl all all 0.0.0.0/0 reject",
    "hostnossl all all ::/0 reject",
)

# CNPG adds a managed extension's library to shared_preload_libraries when a parameter in its
# namespace is set, in this order (cloudnative-pg pkg/postgres/configuration.go, ManagedExtensions).
CNPG_MANAGED_EXTENSION_LIBRARIES: tuple[str, ...] = ("pgaudit", "pg_stat_statements", "auto_explain", "pg_failover_slots")

# The guide's observability settings; their namespaces make CNPG preload both libraries.
OBSERVABILITY_PARAMETERS: Mapping[str, str] = {
    "pg_stat_statements.max": "10000",
    "pg_stat_statements.track": "all",
    "auto_explain.log_min_duration": "10s",
}

# Parameters CNPG 1.30 sets itself or refuses (every key of FixedConfigurationParameters, "fixed" and
# "blocked", in pkg/postgres/configuration.go @ v1.30.0, plus the WAL and archiving settings
# replication and backups depend on).
CNPG_MANAGED_PARAMETERS: frozenset[str] = frozenset(
    {
        "allow_alter_system", "allow_system_table_mods", "archive_cleanup_command", "archive_command",
        "archive_mode", "bonjour", "bonjour_name", "cluster_name", "config_file", "data_directory",
        "data_sync_retry", "event_source", "external_pid_file", "full_page_writes", "hba_file",
        "hot_standby", "ident_file", "jit_provider", "listen_addresses", "log_destination",
        "log_directory", "log_file_mode", "log_filename", "log_rotation_age", "log_rotation_size",
        "log_truncate_on_rotation", "logging_collector", "pg_failover_slots.primary_dsn",
        "pg_failover_slots.standby_slot_names", "port", "primary_conninfo",
        "primary_slot_name", "promote_trigger_file", "recovery_end_command", "recovery_min_apply_delay",
        "recovery_target", "recovery_target_action", "recovery_target_inclusive", "recovery_target_lsn",
        "recovery_target_name", "recovery_target_time", "recovery_target_timeline", "recovery_target_xid",
        "restart_after_crash", "restore_command", "shared_preload_libraries", "ssl", "ssl_ca_file",
        "ssl_cert_file", "ssl_crl_file", "ssl_dh_params_file", "ssl_ecdh_curve", "ssl_key_file",
        "ssl_passphrase_command", "ssl_passphrase_command_supports_reload", "ssl_prefer_server_ciphers",
        "stats_temp_directory", "synchronized_standby_slots", "synchronous_standby_names",
        "syslog_facility", "syslog_ident", "syslog_sequence_numbers", "syslog_split_messages",
        "temp_tablespaces", "unix_socket_directories", "unix_socket_group", "unix_socket_permissions",
        "wal_level", "wal_log_hints",
    }
)  # fmt: skip

# One hash node at the default hash_mem_multiplier (2.0), or two sorts, per connection at once.
WORK_MEM_ALLOCATIONS_PER_CONNECTION = 2
# Left for the CNPG instance manager, the postmaster and per-backend memory that work_mem does
# not govern (catalog caches, temp_buffers).
RESERVED_FRACTION = 0.10
MIN_WORK_MEM_MIB = 4
MAX_MAINTENANCE_WORK_MEM_MIB = 2048
# The logical replication launcher and apply workers also need worker slots; 8 is PostgreSQL's default.
RESERVED_BACKGROUND_WORKERS = 4
MIN_WORKER_PROCESSES = 8
# max_wal_size takes at most this fraction (1/n) of the WAL volume.
WAL_VOLUME_SHARE = 4
# archive_timeout bounds the commits a primary lost with its region takes with it when the WAL archive
# is all that leaves the region: 5 min alone. Paired with a replica cluster in another region
# (disasterRecovery), which replays that archive only, the loss stays within REGIONAL_LOSS_BOUND_SECONDS:
# a forced switch every 50 s leaves 10 s to compress and upload the segment (1-3 s to Blob in-region).
# Each forced switch archives a whole 16 MiB segment whose unused rest is zeros: zstd stores it in the
# size of the WAL written plus about 0.5 kB (README 'Resilience').
ARCHIVE_TIMEOUT_SECONDS = 300
REGIONAL_LOSS_BOUND_SECONDS = 60
PAIRED_ARCHIVE_TIMEOUT_SECONDS = 50

# PostgreSQL defaults the budget falls back to when a parameter is not rendered.
_DEFAULT_AUTOVACUUM_MAX_WORKERS = 3
_DEFAULT_MAX_CONNECTIONS = 100
_DEFAULT_MEMORY = {
    "shared_buffers": "128MB",
    "work_mem": "4MB",
    "maintenance_work_mem": "64MB",
    "autovacuum_work_mem": "-1",
    "wal_buffers": "-1",
}
# Unit of a bare number, per parameter (PostgreSQL's base units).
_BASE_UNIT_BYTES = {
    "shared_buffers": 8192,
    "wal_buffers": 8192,
    "work_mem": 1024,
    "maintenance_work_mem": 1024,
    "autovacuum_work_mem": 1024,
}
MEMORY_UNIT_BYTES = {"B": 1, "kB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}
_MEMORY_VALUE = re.compile(r"\s*(-?[0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")
# PostgreSQL's time units (guc.c); a bare number is in the parameter's base unit.
TIME_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600, "d": 86400}


def cores(millicores: int) -> int:
    """Whole CPUs available to the pod: millicores rounded up, at least 1."""
    return max(1, math.ceil(millicores / 1000))


def shared_preload_libraries(parameters: Mapping[str, str]) -> tuple[str, ...]:
    """The libraries CNPG preloads for these parameters (managed extensions whose namespace is used)."""
    return tuple(
        library for library in CNPG_MANAGED_EXTENSION_LIBRARIES if any(name.startswith(f"{library}.") for name in parameters)
    )


SHARED_PRELOAD_LIBRARIES: tuple[str, ...] = shared_preload_libraries(OBSERVABILITY_PARAMETERS)


def _reserved(memory_bytes: int) -> int:
    return int(memory_bytes * RESERVED_FRACTION)


def _mb(mebibytes: int) -> str:
    return f"{mebibytes}MB"


def _duration(seconds: int) -> str:
    return f"{seconds // 60}min" if seconds % 60 == 0 else f"{seconds}s"


def derive_parameters(
    memory_bytes: int,
    millicores: int,
    max_connections: int,
    overrides: Mapping[str, str] | None = None,
    *,
    wal_volume_bytes: int,
    paired_region: bool = False,
) -> dict[str, str]:
    """``postgresql.parameters`` for a pod with this memory limit, CPU limit, connection cap and WAL volume.

    ``paired_region``: a replica cluster in another region replays this cluster's archive (the
    shorter archive_timeout). ``overrides`` (names already validated by the caller) replace derived values.
    """
    memory_mib = memory_bytes // MIB
    cpus = cores(millicores)

    shared_buffers = memory_mib // 4
    # 1/32 of shared_buffers is PostgreSQL's own auto-tuning; above one WAL segment (16MB)
    # helps concurrent writers, past 64MB it no longer does.
    wal_buffers = min(max(shared_buffers // 32, 16), 64)
    maintenance_work_mem = min(memory_mib // 20, MAX_MAINTENANCE_WORK_MEM_MIB)
    maintenance_total = (_DEFAULT_AUTOVACUUM_MAX_WORKERS + 1) * maintenance_work_mem
    # Same terms as memory_budget, so the derived values fit whenever work_mem is above its floor.
    for_queries = memory_bytes - (shared_buffers + wal_buffers + maintenance_total) * MIB - _reserved(memory_bytes)
    work_mem = max(MIN_WORK_MEM_MIB, for_queries // (max_connections * WORK_MEM_ALLOCATIONS_PER_CONNECTION) // MIB)
    max_wal_size = min(max(1024, memory_mib // 2), wal_volume_bytes // MIB // WAL_VOLUME_SHARE)

    parameters = {
        "max_connections": str(max_connections),
        "shared_buffers": _mb(shared_buffers),
        "effective_cache_size": _mb(memory_mib * 3 // 4),
        "maintenance_work_mem": _mb(maintenance_work_mem),
        "work_mem": _mb(work_mem),
        "wal_buffers": _mb(wal_buffers),
        "min_wal_size": _mb(max_wal_size // 4),
        "max_wal_size": _mb(max_wal_size),
        "checkpoint_completion_target": "0.9",
        "checkpoint_timeout": "15min",
        "archive_timeout": _duration(PAIRED_ARCHIVE_TIMEOUT_SECONDS if paired_region else ARCHIVE_TIMEOUT_SECONDS),
        "max_worker_processes": str(max(MIN_WORKER_PROCESSES, cpus + RESERVED_BACKGROUND_WORKERS)),
        "max_parallel_workers": str(cpus),
        # On a single CPU a parallel worker only competes with its leader for the same quota.
        "max_parallel_workers_per_gather": str(cpus // 2),
        "max_parallel_maintenance_workers": str(cpus // 2),
        # Azure premium SSD: random reads cost about as much as sequential ones, deep queues are fine.
        "random_page_cost": "1.1",
        "effective_io_concurrency": "200",
        **OBSERVABILITY_PARAMETERS,
    }
    parameters.update(overrides or {})
    return parameters


@dataclass(frozen=True)
class MemoryBudget:
    """Worst-case memory of one instance, in bytes, against its container limit."""

    limit: int
    shared_buffers: int
    wal_buffers: int
    maintenance: int  # every autovacuum worker plus one manual VACUUM/CREATE INDEX
    queries: int  # max_connections × work_mem × WORK_MEM_ALLOCATIONS_PER_CONNECTION
    reserved: int

    @property
    def total(self) -> int:
        return self.shared_buffers + self.wal_buffers + self.maintenance + self.queries + self.reserved

    @property
    def fits(self) -> bool:
        return self.total <= self.limit

    def __str__(self) -> str:
        parts = ", ".join(
            f"{name} {getattr(self, name) // MIB}MiB"
            for name in ("shared_buffers", "wal_buffers", "maintenance", "queries", "reserved")
        )
        return f"{self.total // MIB}MiB of {self.limit // MIB}MiB ({parts})"


def setting_bytes(value: str, base_unit_bytes: int) -> int:
    """Bytes of a PostgreSQL memory setting such as ``2048MB``; a bare number is in the base unit."""
    match = _MEMORY_VALUE.fullmatch(value)
    if not match or (match.group(2) and match.group(2) not in MEMORY_UNIT_BYTES):
        raise ValueError(f"{value!r} is not a PostgreSQL memory value such as 64MB")
    unit_bytes = MEMORY_UNIT_BYTES[match.group(2)] if match.group(2) else base_unit_bytes
    return round(float(match.group(1)) * unit_bytes)


def setting_seconds(value: str, base_unit_seconds: float = 1) -> float:
    """Seconds of a PostgreSQL time setting such as ``5min``; a bare number is in the base unit."""
    match = _MEMORY_VALUE.fullmatch(value)
    if not match or (match.group(2) and match.group(2) not in TIME_UNIT_SECONDS):
        raise ValueError(f"{value!r} is not a PostgreSQL time value such as 60s or 5min")
    return float(match.group(1)) * (TIME_UNIT_SECONDS[match.group(2)] if match.group(2) else base_unit_seconds)


def archive_timeout_problem(parameters: Mapping[str, str]) -> str | None:
    """Why ``parameters`` break the paired bound on unarchived WAL (archive_timeout 0 disables it), or None."""
    value = parameters.get("archive_timeout", "0")
    try:
        seconds = setting_seconds(value)
    except ValueError as error:
        return f"archive_timeout {value!r} — {error}"
    if not 0 < seconds <= PAIRED_ARCHIVE_TIMEOUT_SECONDS:
        return (
            f"archive_timeout {value!r} — while paired with another region (disasterRecovery) it must be between 1s and "
            f"{PAIRED_ARCHIVE_TIMEOUT_SECONDS}s: with the upload it bounds the commits a lost primary region takes with "
            f"it to {REGIONAL_LOSS_BOUND_SECONDS}s"
        )
    return None


def memory_budget(parameters: Mapping[str, str], memory_bytes: int) -> MemoryBudget:
    """Recompute the worst case from rendered parameters (PostgreSQL defaults where absent)."""

    def setting(name: str) -> int:
        return setting_bytes(parameters.get(name, _DEFAULT_MEMORY[name]), _BASE_UNIT_BYTES[name])

    shared_buffers = setting("shared_buffers")
    wal_buffers = setting("wal_buffers")
    if wal_buffers < 0:  # -1: PostgreSQL sizes it to 1/32 of shared_buffers, 64kB to 16MB
        wal_buffers = min(max(shared_buffers // 32, 64 * 1024), 16 * MIB)
    maintenance_work_mem = setting("maintenance_work_mem")
    autovacuum_work_mem = setting("autovacuum_work_mem")
    if autovacuum_work_mem < 0:  # -1: autovacuum uses maintenance_work_mem
        autovacuum_work_mem = maintenance_work_mem
    autovacuum_workers = int(parameters.get("autovacuum_max_workers", _DEFAULT_AUTOVACUUM_MAX_WORKERS))
    connections = int(parameters.get("max_connections", _DEFAULT_MAX_CONNECTIONS))
    return MemoryBudget(
        limit=memory_bytes,
        shared_buffers=shared_buffers,
        wal_buffers=wal_buffers,
        maintenance=autovacuum_workers * autovacuum_work_mem + maintenance_work_mem,
        queries=connections * setting("work_mem") * WORK_MEM_ALLOCATIONS_PER_CONNECTION,
        reserved=_reserved(memory_bytes),
    )


def wal_size_problems(parameters: Mapping[str, str], wal_volume_bytes: int) -> list[str]:
    """CNPG's webhook rule (validateWalSizeConfiguration): min_wal_size < max_wal_size < WAL volume size.

    Bare numbers are megabytes, as in PostgreSQL; CNPG's defaults are 80MB and 1GB.
    """
    min_wal = setting_bytes(parameters.get("min_wal_size", "80MB"), MIB)
    max_wal = setting_bytes(parameters.get("max_wal_size", "1GB"), MIB)
    problems = []
    if min_wal >= max_wal:
        problems.append(f"min_wal_size ({min_wal // MIB}MB) must be below max_wal_size ({max_wal // MIB}MB)")
    if max_wal >= wal_volume_bytes:
        problems.append(
            f"max_wal_size ({max_wal // MIB}MB) must be below the WAL volume (storage.walSize, {wal_volume_bytes // MIB}MiB)"
        )
    return problems
