"""Derived PostgreSQL parameters: sizing rules, memory budget, and a real PostgreSQL 18 accepting them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import settings
from offline.engine import StackRun
from sizing.postgres_parameters import (
    CNPG_MANAGED_PARAMETERS,
    GIB,
    MIB,
    PG_HBA,
    SHARED_PRELOAD_LIBRARIES,
    derive_parameters,
    memory_budget,
    shared_preload_libraries,
    wal_size_problems,
)
from tests.postgres_server import PostgresServer, check_postgres_accepts, normalised_setting


def rendered_postgresql(run: StackRun) -> tuple[dict[str, str], list[str], int]:
    """Parameters, pg_hba lines and memory limit exactly as the program renders the Cluster."""
    spec = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster").inputs["spec"]
    memory = settings.quantity_bytes(spec["resources"]["limits"]["memory"])
    return dict(spec["postgresql"]["parameters"]), list(spec["postgresql"]["pg_hba"]), memory


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with PostgresServer(SHARED_PRELOAD_LIBRARIES) as server:
        yield server


# --------------------------------------------------------------------------- derivation

# A WAL volume large enough that memory alone sizes max_wal_size.
ROOMY_WAL_VOLUME = 64 * GIB


def test_8gi_2cpu_follows_the_sizing_rules() -> None:
    parameters = derive_parameters(8 * GIB, 2000, 200, wal_volume_bytes=ROOMY_WAL_VOLUME)

    assert parameters == {
        "max_connections": "200",
        "shared_buffers": "2048MB",
        "effective_cache_size": "6144MB",
        "maintenance_work_mem": "409MB",
        # (8192 - 2048 - 64 - 4 × 409 - 819.2) MiB / (200 connections × 2)
        "work_mem": "9MB",
        "wal_buffers": "64MB",
        "min_wal_size": "1024MB",
        "max_wal_size": "4096MB",
        "checkpoint_completion_target": "0.9",
        "checkpoint_timeout": "15min",
        "archive_timeout": "5min",
        "max_worker_processes": "8",
        "max_parallel_workers": "2",
        "max_parallel_workers_per_gather": "1",
        "max_parallel_maintenance_workers": "1",
        "random_page_cost": "1.1",
        "effective_io_concurrency": "200",
        "pg_stat_statements.max": "10000",
        "pg_stat_statements.track": "all",
        "auto_explain.log_min_duration": "10s",
    }


def test_4gi_1cpu_scales_down_and_disables_parallel_query() -> None:
    parameters = derive_parameters(4 * GIB, 1000, 100, wal_volume_bytes=ROOMY_WAL_VOLUME)

    assert {name: parameters[name] for name in (
        "shared_buffers", "effective_cache_size", "maintenance_work_mem", "work_mem", "wal_buffers",
        "min_wal_size", "max_wal_size", "max_worker_processes", "max_parallel_workers",
        "max_parallel_workers_per_gather", "max_parallel_maintenance_workers", "max_connections",
    )} == {
        "shared_buffers": "1024MB",
        "effective_cache_size": "3072MB",
        "maintenance_work_mem": "204MB",
        "work_mem": "9MB",
        "wal_buffers": "32MB",
        "min_wal_size": "512MB",
        "max_wal_size": "2048MB",
        "max_worker_processes": "8",
        "max_parallel_workers": "1",
        "max_parallel_workers_per_gather": "0",
        "max_parallel_maintenance_workers": "0",
        "max_connections": "100",
    }  # fmt: skip


@pytest.mark.parametrize(("millicores", "cpus"), [(500, 1), (1000, 1), (1500, 2), (2000, 2), (16000, 16)])
def test_cpu_parameters_use_whole_cores_rounded_up(millicores: int, cpus: int) -> None:
    parameters = derive_parameters(8 * GIB, millicores, 200, wal_volume_bytes=ROOMY_WAL_VOLUME)

    assert parameters["max_parallel_workers"] == str(cpus)
    assert parameters["max_parallel_workers_per_gather"] == str(cpus // 2)
    assert int(parameters["max_worker_processes"]) >= max(8, cpus)


def test_maintenance_work_mem_is_capped_at_2gb() -> None:
    assert derive_parameters(64 * GIB, 16000, 500, wal_volume_bytes=ROOMY_WAL_VOLUME)["maintenance_work_mem"] == "2048MB"


def test_work_mem_never_drops_below_4mb() -> None:
    assert derive_parameters(1 * GIB, 500, 5000, wal_volume_bytes=ROOMY_WAL_VOLUME)["work_mem"] == "4MB"


@pytest.mark.parametrize("memory", [1 * GIB, 3 * GIB + 512 * MIB, 8 * GIB, 64 * GIB])
def test_effective_cache_size_is_three_quarters_and_never_above_the_limit(memory: int) -> None:
    effective_cache_mib = int(
        derive_parameters(memory, 2000, 100, wal_volume_bytes=ROOMY_WAL_VOLUME)["effective_cache_size"].removesuffix("MB")
    )

    assert effective_cache_mib == memory // MIB * 3 // 4
    assert effective_cache_mib * MIB <= memory


def test_overrides_replace_derived_values_and_add_new_ones() -> None:
    derived = derive_parameters(8 * GIB, 2000, 200, wal_volume_bytes=ROOMY_WAL_VOLUME)
    overridden = derive_parameters(8 * GIB, 2000, 200, {"work_mem": "16MB", "jit": "off"}, wal_volume_bytes=ROOMY_WAL_VOLUME)

    assert overridden == {**derived, "work_mem": "16MB", "jit": "off"}


def test_nothing_cnpg_manages_or_forbids_is_emitted() -> None:
    parameters = derive_parameters(8 * GIB, 2000, 200, wal_volume_bytes=ROOMY_WAL_VOLUME)

    assert not set(parameters) & CNPG_MANAGED_PARAMETERS
    assert {"wal_level", "hot_standby", "port", "listen_addresses", "shared_preload_libraries", "ssl"} <= CNPG_MANAGED_PARAMETERS
    assert all(isinstance(value, str) for value in parameters.values())


def test_cnpg_preloads_the_observability_libraries_in_its_own_order() -> None:
    assert SHARED_PRELOAD_LIBRARIES == ("pg_stat_statements", "auto_explain")
    assert (
        shared_preload_libraries(derive_parameters(8 * GIB, 2000, 200, wal_volume_bytes=ROOMY_WAL_VOLUME))
        == SHARED_PRELOAD_LIBRARIES
    )
    assert shared_preload_libraries({"auto_explain.log_analyze": "on", "pgaudit.log": "ddl"}) == ("pgaudit", "auto_explain")
    assert shared_preload_libraries({"work_mem": "4MB"}) == ()


def test_pg_hba_accepts_only_tls_with_scram_and_rejects_the_rest() -> None:
    rules = [tuple(line.split()) for line in PG_HBA]

    for rule in rules:
        assert rule[:3] == (rule[0], "all", "all") and len(rule) == 5, rule
        assert (rule[0], rule[4]) in {("hostssl", "scram-sha-256"), ("hostnossl", "reject")}, rule
    # Both address families, accepted over TLS and rejected without it (CNPG's trailing
    # `host all all all` rule would otherwise accept plain-text connections).
    assert {(rule[0], rule[3]) for rule in rules} == {
        ("hostssl", "0.0.0.0/0"), ("hostssl", "::/0"), ("hostnossl", "0.0.0.0/0"), ("hostnossl", "::/0"),
    }  # fmt: skip
    assert rules.index(("hostssl", "all", "all", "0.0.0.0/0", "scram-sha-256")) < rules.index(
        ("hostnossl", "all", "all", "0.0.0.0/0", "reject")
    )


# --------------------------------------------------------------------------- memory budget


@pytest.mark.parametrize(
    ("memory", "millicores", "connections"),
    [(2 * GIB, 1000, 50), (4 * GIB, 1000, 100), (8 * GIB, 2000, 200), (16 * GIB, 4000, 400), (64 * GIB, 16000, 1000)],
)
def test_derived_parameters_fit_the_memory_limit(memory: int, millicores: int, connections: int) -> None:
    budget = memory_budget(derive_parameters(memory, millicores, connections, wal_volume_bytes=ROOMY_WAL_VOLUME), memory)

    assert budget.fits, str(budget)
    # and the derivation does not leave most of the pod unused
    assert budget.total > 0.9 * memory, str(budget)


@pytest.mark.parametrize(
    ("wal_volume", "max_wal_size"), [(64 * GIB, "4096MB"), (16 * GIB, "4096MB"), (8 * GIB, "2048MB"), (1 * GIB, "256MB")]
)
def test_max_wal_size_stays_within_a_quarter_of_the_wal_volume(wal_volume: int, max_wal_size: str) -> None:
    parameters = derive_parameters(8 * GIB, 2000, 200, wal_volume_bytes=wal_volume)

    assert parameters["max_wal_size"] == max_wal_size
    assert wal_size_problems(parameters, wal_volume) == []


def test_wal_size_rule_is_cnpgs() -> None:
    # min_wal_size < max_wal_size < WAL volume, bare numbers in MB, CNPG's defaults 80MB / 1GB.
    assert wal_size_problems({"max_wal_size": "4GB"}, 4 * GIB) == [
        "max_wal_size (4096MB) must be below the WAL volume (storage.walSize, 4096MiB)"
    ]
    assert wal_size_problems({"min_wal_size": "2048", "max_wal_size": "2GB"}, 8 * GIB) == [
        "min_wal_size (2048MB) must be below max_wal_size (2048MB)"
    ]
    assert wal_size_problems({}, 2 * GIB) == []
    assert wal_size_problems({}, 1 * GIB) == ["max_wal_size (1024MB) must be below the WAL volume (storage.walSize, 1024MiB)"]


def test_budget_flags_overrides_that_no_longer_fit() -> None:
    parameters = derive_parameters(8 * GIB, 2000, 200, {"work_mem": "64MB"}, wal_volume_bytes=ROOMY_WAL_VOLUME)

    budget = memory_budget(parameters, 8 * GIB)

    assert not budget.fits
    assert budget.queries == 200 * 64 * MIB * 2


def test_budget_flags_too_many_connections_for_a_small_pod() -> None:
    assert not memory_budget(derive_parameters(1 * GIB, 500, 200, wal_volume_bytes=ROOMY_WAL_VOLUME), 1 * GIB).fits


def test_budget_reads_postgres_units_and_defaults() -> None:
    with_units = memory_budget({"shared_buffers": "2GB", "work_mem": "8MB", "maintenance_work_mem": "256MB"}, 8 * GIB)
    # bare numbers are in each parameter's base unit: 8kB pages, kB
    bare = memory_budget({"shared_buffers": "262144", "work_mem": "8192", "maintenance_work_mem": "262144"}, 8 * GIB)

    assert with_units == bare
    assert with_units.wal_buffers == 16 * MIB  # -1: 1/32 of shared_buffers, at most 16MB
    assert with_units.maintenance == (3 + 1) * 256 * MIB  # 3 autovacuum workers + 1 manual operation
    assert with_units.queries == 100 * 8 * MIB * 2  # default max_connections 100
    assert memory_budget({"autovacuum_work_mem": "64MB", "maintenance_work_mem": "1GB"}, 8 * GIB).maintenance == (
        3 * 64 * MIB + 1 * GIB
    )


# --------------------------------------------------------------------------- value comparison


@pytest.mark.parametrize(
    ("value", "setting", "vartype", "unit"),
    [
        ("2048MB", "262144", "integer", "8kB"),
        ("1GB", "1024", "integer", "MB"),
        ("15min", "900", "integer", "s"),
        ("10s", "10000", "integer", "ms"),
        ("0.9", "0.9", "real", ""),
        ("true", "on", "bool", ""),
        ("ALL", "all", "enum", ""),
        ("200", "200", "integer", ""),
    ],
)
def test_settings_compare_equal_after_unit_normalisation(value: str, setting: str, vartype: str, unit: str) -> None:
    assert normalised_setting(value, vartype, unit) == normalised_setting(setting, vartype, unit)


@pytest.mark.parametrize(
    ("value", "setting", "vartype", "unit"),
    [("4MB", "8192", "integer", "kB"), ("15min", "300", "integer", "s"), ("off", "on", "bool", ""), ("top", "all", "enum", "")],
)
def test_different_settings_stay_different(value: str, setting: str, vartype: str, unit: str) -> None:
    assert normalised_setting(value, vartype, unit) != normalised_setting(setting, vartype, unit)


# --------------------------------------------------------------------------- real PostgreSQL 18


def test_server_is_set_up_like_a_cnpg_instance(postgres_server: PostgresServer) -> None:
    def show(name: str) -> str:
        return postgres_server.query(f"SHOW {name}")[0][0]

    assert int(show("server_version_num")) // 10000 == 18
    assert show("data_checksums") == "on"
    assert show("password_encryption") == "scram-sha-256"
    assert show("shared_preload_libraries") == ",".join(SHARED_PRELOAD_LIBRARIES)
    assert show("listen_addresses") == ""


def test_rendered_parameters_and_pg_hba_are_accepted_by_postgres(postgres_server: PostgresServer, shipped: StackRun) -> None:
    parameters, pg_hba, memory = rendered_postgresql(shipped)

    # the server preloads exactly what CNPG would for these parameters
    assert shared_preload_libraries(parameters) == SHARED_PRELOAD_LIBRARIES
    # E04: the budget recomputed from the rendered manifest fits the container limit
    assert memory_budget(parameters, memory).fits, str(memory_budget(parameters, memory))
    assert check_postgres_accepts(postgres_server, parameters, pg_hba) == []


def test_checker_reports_an_invalid_value_and_recovers(postgres_server: PostgresServer, prod: StackRun) -> None:
    parameters, _, _ = rendered_postgresql(prod)

    problems = check_postgres_accepts(postgres_server, {**parameters, "shared_buffers": "lots"}, PG_HBA)

    assert len(problems) == 1
    assert 'invalid value for parameter "shared_buffers": "lots"' in problems[0]
    assert check_postgres_accepts(postgres_server, parameters, PG_HBA) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("shared_bufers", "unrecognized configuration parameter"),
        # a placeholder in no preloaded library's namespace: the file accepts it, the server ignores it
        ("pg_stat_statement.max", "unknown to the server"),
    ],
)
def test_checker_reports_unknown_parameters(postgres_server: PostgresServer, name: str, expected: str) -> None:
    problems = check_postgres_accepts(postgres_server, {name: "100"}, PG_HBA)

    assert len(problems) == 1 and name in problems[0] and expected in problems[0], problems


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("hostssl all all 0.0.0.0/0 md5x", 'invalid authentication method "md5x"'),
        ("hostssl all all 10.0.0.0/33 scram-sha-256", "invalid CIDR mask"),
    ],
)
def test_checker_reports_a_bad_hba_line(postgres_server: PostgresServer, line: str, expected: str) -> None:
    problems = check_postgres_accepts(postgres_server, {}, [*PG_HBA, line])

    assert len(problems) == 1 and line in problems[0] and expected in problems[0], problems
