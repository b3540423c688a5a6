"""cnpg-pooler-connection-budget: the Poolers of a Cluster together stay within its max_connections.

Baseline: two Poolers x 2 instances x max_db_connections 22 x 2 databases = 176 connections,
+ superuser_reserved_connections 3 (PostgreSQL's default) = 179 <= max_connections 200.
"""

from __future__ import annotations

from typing import Any

import pytest

from .baseline import CLUSTER, NAMESPACE, compliant_stack
from .expectations import Analyze, only, passes
from .synthetic import UNKNOWN, Resource

POLICY = "cnpg-pooler-connection-budget"
PARAMETERS = "spec.postgresql.parameters"
MAX_DB = "spec.pgbouncer.parameters.max_db_connections"


def test_baseline_poolers_fit(analyze: Analyze) -> None:
    passes(analyze(compliant_stack()), POLICY)
    # Exactly at the limit: 176 + 3 + reserved_connections 21 = 200.
    passes(analyze(compliant_stack().with_value("cluster", f"{PARAMETERS}.reserved_connections", "21")), POLICY)


@pytest.mark.parametrize(
    ("name", "path", "value", "expected"),
    [
        # rw at 30: 2 x 30 x 2 = 120, + ro 88 = 208, + 3 = 211 > 200.
        ("pooler-rw", MAX_DB, "30", "can open 208 server connections"),
        ("pooler-rw", MAX_DB, 30, "that is 211, above max_connections 200"),
        # 3 x 22 x 2 = 132 + 88 = 220 + 3 = 223 > 200.
        ("pooler-ro", "spec.instances", 3, "3 instance(s) x max_db_connections 22 x 2 databases = 132"),
        # 176 + 3 = 179 > 150.
        ("cluster", f"{PARAMETERS}.max_connections", "150", "that is 179, above max_connections 150"),
        # 176 + 25 = 201 > 200.
        ("cluster", f"{PARAMETERS}.superuser_reserved_connections", "25", "superuser_reserved_connections 25"),
        # 176 + 3 + 22 = 201 > 200.
        ("cluster", f"{PARAMETERS}.reserved_connections", "22", "reserved_connections 22 that is 201"),
    ],
)
def test_poolers_over_max_connections_are_refused(analyze: Analyze, name: str, path: str, value: Any, expected: str) -> None:
    stack = compliant_stack().with_value(name, path, value)
    message = only(analyze(stack), POLICY, stack.urn("cluster")).message
    assert expected in message
    assert f"Pooler 'pooler-rw' ('{CLUSTER}-pooler-rw')" in message and f"Pooler 'pooler-ro' ('{CLUSTER}-pooler-ro')" in message
    assert "Lower the Poolers' spec.pgbouncer.parameters.max_db_connections" in message


def test_the_fix_names_the_largest_max_db_connections(analyze: Analyze) -> None:
    # (150 - 3) // (4 instances x 2 databases) = 18.
    stack = compliant_stack().with_value("cluster", f"{PARAMETERS}.max_connections", "150")
    assert "at most 18 with these instances" in only(analyze(stack), POLICY, stack.urn("cluster")).message


def test_unset_max_connections_means_postgres_default_100(analyze: Analyze) -> None:
    stack = compliant_stack().without("cluster", f"{PARAMETERS}.max_connections")
    assert "above max_connections 100" in only(analyze(stack), POLICY, stack.urn("cluster")).message


def test_unset_pooler_instances_mean_one(analyze: Analyze) -> None:
    # 1 x 22 x 2 = 44 + 88 = 132 + 3 = 135 <= 150; with 2 instances 179 > 150.
    stack = compliant_stack().with_value("cluster", f"{PARAMETERS}.max_connections", "150")
    passes(analyze(stack.without("pooler-ro", "spec.instances")), POLICY)


@pytest.mark.parametrize("edit", ["unset", "zero"])
def test_unbounded_pooler_is_refused(analyze: Analyze, edit: str) -> None:
    base = compliant_stack()
    stack = base.without("pooler-rw", MAX_DB) if edit == "unset" else base.with_value("pooler-rw", MAX_DB, "0")
    message = only(analyze(stack), POLICY, stack.urn("pooler-rw")).message
    assert f"Pooler 'pooler-rw' ('{CLUSTER}-pooler-rw')" in message
    assert ("is not set" if edit == "unset" else "is 0") + " (PgBouncer: unlimited)" in message
    assert "default_pool_size (22) does not bound them" in message and "Set max_db_connections" in message


def test_unbounded_pooler_without_pool_size_names_pgbouncer_default(analyze: Analyze) -> None:
    stack = compliant_stack().without("pooler-ro", MAX_DB).without("pooler-ro", "spec.pgbouncer.parameters.default_pool_size")
    assert "PgBouncer's default 20" in only(analyze(stack), POLICY, stack.urn("pooler-ro")).message


def test_unreadable_numbers_are_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("pooler-ro", MAX_DB, "lots")
    assert "'lots', not a whole number" in only(analyze(stack), POLICY, stack.urn("pooler-ro")).message
    stack = compliant_stack().with_value("cluster", f"{PARAMETERS}.max_connections", "2k")
    assert "max_connections is '2k'" in only(analyze(stack), POLICY, stack.urn("cluster")).message


def test_poolers_of_other_clusters_do_not_count(analyze: Analyze) -> None:
    # Were it counted, ro at 3 instances would be 223 > 200; elsewhere it belongs to no Cluster in the stack.
    stack = compliant_stack().with_value("pooler-ro", "spec.instances", 3)
    passes(analyze(stack.with_value("pooler-ro", "metadata.namespace", "elsewhere")), POLICY)
    passes(analyze(stack.with_value("pooler-ro", "spec.cluster.name", "pg-other")), POLICY)


def test_a_third_pooler_of_the_cluster_counts(analyze: Analyze) -> None:
    # 176 + 1 x 12 x 2 = 24 -> 200 + 3 = 203 > 200.
    pgbouncer = compliant_stack().inputs("pooler-rw")["spec"]["pgbouncer"]
    extra = Resource(
        "kubernetes:postgresql.cnpg.io/v1:Pooler",
        "pooler-extra",
        {
            "metadata": {"name": f"{CLUSTER}-pooler-extra", "namespace": NAMESPACE},
            "spec": {
                "cluster": {"name": CLUSTER},
                "instances": 1,
                "pgbouncer": {**pgbouncer, "parameters": {**pgbouncer["parameters"], "max_db_connections": "12"}},
            },
        },
        parent="database",
        provider="kubernetes",
    )
    stack = compliant_stack().plus(extra)
    message = only(analyze(stack), POLICY, stack.urn("cluster")).message
    assert "can open 200 server connections" in message and "that is 203" in message


def test_unknown_values_wait_for_the_update(analyze: Analyze) -> None:
    over = compliant_stack().with_value("cluster", f"{PARAMETERS}.max_connections", "150")
    passes(analyze(over.with_value("pooler-rw", MAX_DB, UNKNOWN)), POLICY)
    passes(analyze(over.with_value("cluster", f"{PARAMETERS}.max_connections", UNKNOWN)), POLICY)


def test_pgbouncer_tls_minimums_are_configurable(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("pooler-rw", ("spec", "pgbouncer", "parameters", "server_tls_sslmode"), "verify-ca")
    assert "server_tls_sslmode is \"verify-ca\"" in only(analyze(stack), "cnpg-pooler-tls", stack.urn("pooler-rw")).message
    passes(analyze(stack, {"cnpg-pooler-tls": {"minServerTlsSslmode": "verify-ca"}}), "cnpg-pooler-tls")
