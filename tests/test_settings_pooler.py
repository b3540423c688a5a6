"""Bad pooler settings are refused before any resource is registered, naming the key, the value and the rule."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from offline.engine import run_stack

P = "aks-postgres-ha:"

BAD_POOLER_SETTINGS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "pools that could exhaust max_connections",
        {P + "pooler": {"maxDbConnections": 23}},
        ["pooler.maxDbConnections: 23", "at most 22", "exhaust", "maxConnections 200"],
    ),
    (
        "max_connections too small for the poolers",
        {P + "postgres": {"maxConnections": 20}, P + "pooler": {"instances": 2, "directConnections": 10}},
        ["postgres.maxConnections: 20", "too small for the poolers"],
    ),
    (
        "pool above max_db_connections",
        {P + "pooler": {"maxDbConnections": 10, "defaultPoolSize": 11}},
        ["pooler.defaultPoolSize: 11"],
    ),
    ("too few client connections", {P + "pooler": {"maxClientConn": 5}}, ["pooler.maxClientConn: 5", "at least defaultPoolSize"]),
    ("one pooler instance in prod", {P + "pooler": {"instances": 1}}, ["pooler.instances: 1", "prod runs at least 2"]),
    ("pool mode", {P + "pooler": {"poolMode": "statement"}}, ["pooler.poolMode: 'statement'", "session", "transaction"]),
    (
        "port taken by the database",
        {
            P + "pooler": {"readWritePort": 5432},
            P + "publicEndpoint": {"enabled": True, "allowedClientCidrs": ["203.0.113.0/24"]},
        },
        ["pooler.readWritePort/readOnlyPort: [5432]"],
    ),
    ("same pooler ports", {P + "pooler": {"readWritePort": 7000, "readOnlyPort": 7000}}, ["pooler", "must differ"]),
    (
        "tiny memory",
        {P + "pooler": {"resources": {"cpu": "500m", "memory": "32Mi"}}},
        ["pooler.resources.memory: '32Mi'", "64Mi"],
    ),
    (
        "unparsable reserved connections",
        {P + "postgres": {"parameters": {"superuser_reserved_connections": "many"}}},
        ["superuser_reserved_connections: 'many'", "whole number"],
    ),
]


@pytest.mark.parametrize(("case", "overrides", "expected"), BAD_POOLER_SETTINGS, ids=[case for case, _, _ in BAD_POOLER_SETTINGS])
def test_bad_pooler_settings_stop_before_any_resource(case: str, overrides: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_stack("prod", overrides)
    message = str(raised.value)
    assert message.startswith("invalid stack settings"), message
    assert any(all(part in line for part in expected) for line in message.splitlines()), message
    assert "Traceback" not in message
    assert raised.value.registrations == []  # type: ignore[attr-defined]
