"""Alert routing: every alert rule reaches a receiver, through Azure Monitor or Alertmanager."""

from __future__ import annotations

from typing import Any

import pytest

from offline.policy_client import EnforcementLevel

from .baseline import GROUP, NAMESPACE, compliant_stack
from .expectations import Analyze, flagged, only
from .synthetic import Resource, Secret, SyntheticStack

ACTION_GROUP_ID = f"{GROUP}/providers/Microsoft.Insights/actionGroups/on-call"
ALERT = {"alert": "CNPGInstanceDown", "expression": "up == 0", "severity": 0}


def _action_group(**receivers: Any) -> Resource:
    return Resource(
        "azure-native:monitor:ActionGroup",
        "on-call",
        {"resourceGroupName": "rg-cnpg", "groupShortName": "pg-on-call", "enabled": True, **receivers},
    )


def _alert_group(*rules: dict[str, Any], routed: bool = True) -> Resource:
    return Resource(
        "azure-native:alertsmanagement:PrometheusRuleGroup",
        "database-alerts",
        {"resourceGroupName": "rg-cnpg", "scopes": ["workspace"], "rules": list(rules)},
        sources={"rules": ["on-call"]} if routed else {},
    )


ROUTED_ALERT = {**ALERT, "actions": [{"actionGroupId": ACTION_GROUP_ID}]}
EMAIL = {"emailReceivers": [{"name": "email-0", "emailAddress": "dba@example.com"}]}


def _azure_routed() -> SyntheticStack:
    return compliant_stack("prod").plus(_action_group(**EMAIL), _alert_group(ROUTED_ALERT))


def _in_cluster_rule() -> Resource:
    return Resource(
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
        "in-cluster-alerts",
        {"metadata": {"name": "pg-alerts", "namespace": NAMESPACE}, "spec": {"groups": [{"name": "pg", "rules": [ALERT]}]}},
        parent="database",
        provider="kubernetes",
    )


def _alertmanager(receiver: str, receivers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"config": {"route": {"receiver": receiver}, "receivers": receivers}}


WEBHOOK_RECEIVER = {"name": "on-call", "webhook_configs": [{"url_file": "/etc/alertmanager/secrets/alertmanager-webhook/url"}]}


def test_alerts_routed_to_an_action_group_with_receivers_are_accepted(analyze: Analyze) -> None:
    assert analyze(_azure_routed()).violations == ()
    webhook = {"webhookReceivers": [{"name": "webhook", "serviceUri": Secret("https://hooks.example.com/x")}]}
    assert analyze(compliant_stack("prod").plus(_action_group(**webhook), _alert_group(ROUTED_ALERT))).violations == ()


def test_an_alert_rule_without_action_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack("prod").plus(_action_group(**EMAIL), _alert_group(ROUTED_ALERT, {**ALERT, "alert": "CNPGLagHigh"}))
    assert "CNPGLagHigh fire(s)" in only(analyze(stack), "alerts-routed", stack.urn("database-alerts")).message


@pytest.mark.parametrize("receivers", [{}, {"emailReceivers": []}])
def test_an_action_group_without_receivers_routes_nowhere(analyze: Analyze, receivers: dict[str, Any]) -> None:
    stack = compliant_stack("prod").plus(_action_group(**receivers), _alert_group(ROUTED_ALERT))
    only(analyze(stack), "alerts-routed", stack.urn("database-alerts"))


def test_alerts_routed_to_no_action_group_of_the_stack_are_refused(analyze: Analyze) -> None:
    stack = compliant_stack("prod").plus(_action_group(**EMAIL), _alert_group(ROUTED_ALERT, routed=False))
    only(analyze(stack), "alerts-routed", stack.urn("database-alerts"))


def test_recording_rules_need_no_route(analyze: Analyze) -> None:
    recording = {"record": "instance:node_num_cpu:sum", "expression": "count(node_cpu_seconds_total)"}
    assert analyze(compliant_stack("prod").plus(_alert_group(recording, routed=False))).violations == ()


def test_in_cluster_alerts_with_alertmanager_discarding_them_are_refused(analyze: Analyze) -> None:
    stack = compliant_stack("prod").plus(_in_cluster_rule())
    assert "'null'" in only(analyze(stack), "alerts-routed", stack.urn("monitoring")).message
    nulled = stack.with_value("monitoring", "values.alertmanager", _alertmanager("null", [{"name": "null"}]))
    only(analyze(nulled), "alerts-routed", stack.urn("monitoring"))
    empty = stack.with_value("monitoring", "values.alertmanager", _alertmanager("on-call", [{"name": "on-call"}]))
    only(analyze(empty), "alerts-routed", stack.urn("monitoring"))


def test_in_cluster_alerts_routed_by_alertmanager_are_accepted(analyze: Analyze) -> None:
    stack = compliant_stack("prod").plus(_in_cluster_rule())
    routed = stack.with_value("monitoring", "values.alertmanager", _alertmanager("on-call", [{"name": "null"}, WEBHOOK_RECEIVER]))
    assert analyze(routed).violations == ()


def test_in_cluster_alerts_are_covered_when_azure_routes_the_same_alerts(analyze: Analyze) -> None:
    assert analyze(_azure_routed().plus(_in_cluster_rule())).violations == ()


def test_dev_only_advises(analyze: Analyze) -> None:
    stack = compliant_stack("dev").plus(_alert_group(ALERT, routed=False))
    flagged(analyze(stack), "alerts-routed", stack.urn("database-alerts"), EnforcementLevel.ADVISORY)
