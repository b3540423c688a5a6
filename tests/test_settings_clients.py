"""Clients: each cluster names the application namespaces and client networks that may connect; a
namespace the platform, the operators or another database cluster owns is refused, so no cluster
reaches another."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pytest

from offline.engine import run_stack, stack_config

P = "aks-postgres-ha:"


def _platform_clients(key: str, **clients: Any) -> dict[str, Any]:
    """The platform stack with one entry's clients changed."""
    clusters = copy.deepcopy(stack_config("platform")[P + "clusters"])
    clusters[key]["clients"] = {**clusters[key].get("clients", {}), **clients}
    return {P + "clusters": clusters}


def _platform_entry(key: str, **changes: Any) -> dict[str, Any]:
    clusters = copy.deepcopy(stack_config("platform")[P + "clusters"])
    clusters[key].update(changes)
    return {P + "clusters": clusters}


BAD_CLIENTS: list[tuple[str, str, dict[str, Any], list[str]]] = [
    (
        "the operators' namespace",
        "prod",
        {P + "clients": {"namespaces": ["shop", "cnpg-system"]}},
        ["clients.namespaces: ['shop', 'cnpg-system']", "['cnpg-system'] are namespaces", "operators own"],
    ),
    ("kube-system", "prod", {P + "clients": {"namespaces": ["kube-system"]}}, ["['kube-system'] are namespaces"]),
    (
        "the cluster's own namespace",
        "prod",
        {P + "clients": {"namespaces": ["cnpg-database"]}},
        ["clients.namespaces[0]: 'cnpg-database'", "the cluster's own namespace"],
    ),
    (
        "client networks without a load balancer",
        "dev",
        {P + "publicEndpoint": {"enabled": False}, P + "clients": {"cidrs": ["198.51.100.0/24"]}},
        ["clients.cidrs: ['198.51.100.0/24']", "has none", "internalEndpoint"],
    ),
    (
        "client networks inside the pod range",
        "prod",
        {P + "clients": {"cidrs": ["192.168.4.0/24"]}},
        ["clients.cidrs[0]: '192.168.4.0/24' overlaps network.podCidr"],
    ),
    (
        "another cluster's namespace",
        "platform",
        _platform_clients("orders", namespaces=["shop", "billing"]),
        ["clusters.orders.clients.namespaces[1]: 'billing'", "cluster billing's namespace", "must not reach each other"],
    ),
    (
        "a platform entry's own namespace",
        "platform",
        _platform_clients("analytics", namespaces=["analytics"]),
        ["clusters.analytics.clients.namespaces[0]: 'analytics'", "own namespace"],
    ),
    (
        "a platform entry's monitoring namespace",
        "platform",
        _platform_clients("analytics", namespaces=["monitoring"]),
        ["clusters.analytics.clients.namespaces: ['monitoring']", "operators own"],
    ),
    (
        "a platform entry's networks without its load balancer",
        "platform",
        _platform_entry("billing", internalEndpoint={"enabled": False}),
        ["clusters.billing.clients.cidrs: ['198.51.100.0/24']", "has none"],
    ),
]


@pytest.mark.parametrize(("case", "stack", "overrides", "expected"), BAD_CLIENTS, ids=[case for case, *_ in BAD_CLIENTS])
def test_bad_clients_stop_before_any_resource(case: str, stack: str, overrides: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_stack(stack, overrides)
    message = str(raised.value)
    problem_lines = [line for line in message.splitlines() if line.startswith("  - ")]
    assert any(all(part in line for part in expected) for line in problem_lines), message
    assert raised.value.registrations == []  # type: ignore[attr-defined]


def test_a_cluster_of_its_own_networks_needs_no_stack_wide_client_networks() -> None:
    # The platform's billing: an internal endpoint admitting only its clients.cidrs (network.clientCidrs is empty).
    assert stack_config("platform")[P + "network"]["clientCidrs"] == []
    run_stack("platform")
    # Neither: the internal endpoint admits nobody, which is refused.
    with pytest.raises(pulumi.RunError, match=r"network.clientCidrs: \[\] — must list the client networks"):
        run_stack("platform", _platform_clients("billing", cidrs=[]))
