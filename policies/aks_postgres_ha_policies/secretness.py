"""Which input values are Pulumi secrets, as seen by a policy.

The engine sends secrets to the pack wrapped as ``{"4dabf1…": "1b4706…", "value": …}``, but
pulumi-policy 1.21.0 unwraps them before ``Analyze``/``AnalyzeStack`` policies run and keeps no
mark (only remediations see ``Secret`` objects; pulumi/pulumi-policy issue #241 is still open).
``keep_secretness()`` wraps the SDK's deserializer so every string inside a secret arrives as a
``SecretText``: a ``str`` in every respect, so other policies are unaffected, that
``is_secret()`` recognises. Should a future SDK stop calling this deserializer, nothing is
marked and the credentials policy fails closed (it reports secrets as plain text).
"""

from __future__ import annotations

from typing import Any

import pulumi_policy.policy as sdk_policy
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY, deserialize_properties


class SecretText(str):
    """A string that the program passed as a Pulumi secret."""

    __slots__ = ()


def is_secret(value: Any) -> bool:
    return isinstance(value, SecretText)


def _mark(raw: Any, in_secret: bool) -> Any:
    """The wire value with every string inside a secret envelope turned into ``SecretText``."""
    if isinstance(raw, dict):
        if raw.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            return {**raw, "value": _mark(raw.get("value"), True)}
        return {key: _mark(value, in_secret) for key, value in raw.items()}
    if isinstance(raw, list):
        return [_mark(value, in_secret) for value in raw]
    return SecretText(raw) if in_secret and isinstance(raw, str) else raw


def _deserialize_keeping_secretness(props: dict[str, Any], proxy_secrets: bool = False) -> dict[str, Any]:
    return deserialize_properties(_mark(props, False), proxy_secrets)


def keep_secretness() -> None:
    """Make the SDK mark secret strings in what it hands to policies (idempotent)."""
    sdk_policy.deserialize_properties = _deserialize_keeping_secretness
