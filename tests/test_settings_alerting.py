"""Settings of Grafana admins and alert receivers: bad values stop the program with one clear line
(key, value, rule) before any resource is registered."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from google.protobuf import json_format

from offline.engine import run_stack, stack_config
from offline.stack_file import SECRET_PLACEHOLDER, OfflineSecret
from tests.test_program import _plain_parts

P = "aks-postgres-ha:"
GUID = "22438ac2-7b46-4c8c-86b3-5aa4b1b9e7c1"


def _section(key: str, stack: str = "prod", **changes: Any) -> dict[str, Any]:
    return {**stack_config(stack)[P + key], **changes}


BAD_SETTINGS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "old Grafana admin list",
        {P + "observability": _section("observability", grafanaAdminObjectIds=[GUID])},
        ["observability:", "grafanaAdminObjectIds is replaced by grafanaAdmins", "principalType"],
    ),
    (
        "Grafana admin without principal type",
        {P + "observability": _section("observability", grafanaAdmins=[{"objectId": GUID}])},
        ["observability.grafanaAdmins[0].principalType: required setting is missing"],
    ),
    (
        "Grafana admin of an unknown principal type",
        {P + "observability": _section("observability", grafanaAdmins=[{"objectId": GUID, "principalType": "Team"}])},
        ["observability.grafanaAdmins[0].principalType: 'Team'", "'User', 'Group' or 'ServicePrincipal'"],
    ),
    (
        "Grafana admin that is not a GUID",
        {P + "observability": _section("observability", grafanaAdmins=[{"objectId": "dba-team", "principalType": "Group"}])},
        ["observability.grafanaAdmins[0].objectId: 'dba-team'", "GUID"],
    ),
    (
        "prod Managed Grafana without admin",
        {P + "observability": _section("observability", grafanaAdmins=[])},
        ["observability.grafanaAdmins: empty", "prod"],
    ),
    ("prod alerts without receiver", {P + "alerting": {"emails": []}}, ["alerting: no receiver", "prod"]),
    (
        "prod in-cluster alerts without webhook",
        {
            P + "observability": _section("observability", azureMonitoring=False, managedGrafana=False),
            P + "alerting": {"emails": ["dba@example.com"]},
        },
        ["alerting.webhookUrl: not set", "Alertmanager"],
    ),
    (
        "prod without any monitoring",
        {
            P + "observability": _section("observability", azureMonitoring=False, managedGrafana=False),
            P + "operators": _section("operators", selfManagedMonitoring=False),
        },
        ["observability.azureMonitoring: false and operators.selfManagedMonitoring: false"],
    ),
    (
        "malformed e-mail",
        {P + "alerting": {"emails": ["dba at example.com"]}},
        ["alerting.emails[0]: 'dba at example.com'", "e-mail"],
    ),
    (
        "plain-HTTP webhook",
        {P + "alerting": {"webhookUrl": "http://hooks.example.com/x"}},
        ["alerting.webhookUrl: 'http://hooks.example.com/x'", "https://"],
    ),
]


@pytest.mark.parametrize(("case", "overrides", "expected"), BAD_SETTINGS, ids=[case for case, _, _ in BAD_SETTINGS])
def test_bad_settings_stop_before_any_resource(case: str, overrides: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_stack("prod", overrides)
    message = str(raised.value)
    problem_lines = [line for line in message.splitlines() if line.startswith("  - ")]
    assert any(all(part in line for part in expected) for line in problem_lines), message
    assert "Traceback" not in message
    assert raised.value.registrations == []  # type: ignore[attr-defined]


def test_dev_may_keep_alerts_in_the_portal() -> None:
    run = run_stack("dev", {P + "alerting": {"emails": []}})
    assert not run.of_type("azure-native:monitor:ActionGroup")


def test_a_webhook_alone_routes_prod_alerts() -> None:
    run = run_stack("prod", {P + "alerting": {"webhookUrl": "https://hooks.example.com/x"}})
    assert run.one("azure-native:monitor:ActionGroup").inputs["webhookReceivers"][0]["name"] == "webhook"


def _secret_webhook(url: str) -> dict[str, Any]:
    """The alerting section as the CLI hands it over after `pulumi config set --secret --path alerting.webhookUrl`."""
    return {P + "alerting": _section("alerting", webhookUrl=OfflineSecret(url))}


def test_a_secret_webhook_is_read_as_a_secret_wherever_it_goes() -> None:
    run = run_stack("prod", _secret_webhook(SECRET_PLACEHOLDER))
    for registration in run.registrations:
        plain = _plain_parts(json_format.MessageToDict(registration.raw_inputs))
        assert not any(SECRET_PLACEHOLDER in text for text in plain), registration.name
    group = run.one("azure-native:monitor:ActionGroup")
    assert group.inputs["webhookReceivers"][0]["serviceUri"] == SECRET_PLACEHOLDER


def test_a_bad_secret_value_is_refused_without_printing_it() -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_stack("prod", _secret_webhook(OfflineSecret("http://hooks.example.com/token-123")))
    assert "alerting.webhookUrl: [secret] — must be an https:// URL" in str(raised.value)
    assert "token-123" not in str(raised.value)


def test_a_setting_the_program_would_not_keep_secret_is_refused_as_a_secret() -> None:
    tags = {P + "tags": {"cost-center": OfflineSecret("4711")}}
    with pytest.raises(pulumi.RunError) as raised:
        run_stack("prod", tags)
    assert (
        "aks-postgres-ha:tags: stored as a secret (pulumi config set --secret), but the program keeps only "
        "alerting.webhookUrl, disasterRecovery.promotionToken secret" in str(raised.value)
    )
    assert raised.value.registrations == []  # type: ignore[attr-defined]
