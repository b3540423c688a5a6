"""In-cluster Alertmanager: alerts go to the on-call webhook, whose URL never enters the Helm values."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml
from google.protobuf import json_format
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from components.azure.aks_cluster import SYSTEM_POOL_TOLERATIONS
from components.cluster.operators import ALERT_WEBHOOK_SECRET, ALERT_WEBHOOK_URL_FILE
from offline.charts import helm_releases, render_release, stack_kubernetes_version
from offline.engine import StackRun, run_stack
from tests.components.helpers import depends_on
from tests.test_settings import _section

P = "aks-postgres-ha:"
URL = "https://hooks.example.com/alertmanager/T0KEN"
ACTION_GROUP = "azure-native:monitor:ActionGroup"


def _kube_prometheus_stack(run: StackRun) -> Any:
    return next(r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "kube-prometheus-stack")


def test_webhook_routes_every_alert_but_watchdog() -> None:
    run = run_stack("prod", {P + "alerting": {"webhookUrl": URL}})
    release = _kube_prometheus_stack(run)
    alertmanager = release.inputs["values"]["alertmanager"]
    assert alertmanager["alertmanagerSpec"]["secrets"] == [ALERT_WEBHOOK_SECRET]
    config = alertmanager["config"]
    assert config["route"]["receiver"] == "on-call"
    assert config["route"]["routes"] == [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]
    on_call = next(r for r in config["receivers"] if r["name"] == "on-call")
    assert on_call == {"name": "on-call", "webhook_configs": [{"url_file": ALERT_WEBHOOK_URL_FILE, "send_resolved": True}]}
    assert URL not in json_format.MessageToJson(release.raw_inputs)

    secret = run.one("kubernetes:core/v1:Secret", "operators-alert-webhook")
    assert secret.inputs["metadata"] == {"name": ALERT_WEBHOOK_SECRET, "namespace": "monitoring"}
    # Mounted by the Prometheus Operator at /etc/alertmanager/secrets/<secret>/, key "url".
    assert f"/etc/alertmanager/secrets/{ALERT_WEBHOOK_SECRET}/url" == ALERT_WEBHOOK_URL_FILE
    envelope = json_format.MessageToDict(secret.raw_inputs)["stringData"]
    assert envelope == {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": {"url": URL}}
    assert depends_on(run, release, secret)


def test_without_webhook_alertmanager_keeps_the_chart_default(dev: StackRun) -> None:
    alertmanager = _kube_prometheus_stack(dev).inputs["values"]["alertmanager"]
    # Only the image's digest and scheduling (tolerations, priority, resources) beside the chart's
    # default (its 'null' receiver).
    assert set(alertmanager) == {"enabled", "alertmanagerSpec"}
    assert set(alertmanager["alertmanagerSpec"]) == {"image", "tolerations", "priorityClassName", "resources"}
    assert alertmanager["alertmanagerSpec"]["tolerations"] == SYSTEM_POOL_TOLERATIONS
    assert not [s for s in dev.of_type("kubernetes:core/v1:Secret") if s.name == "operators-alert-webhook"]


def _alertmanager_route(run: StackRun) -> tuple[str, dict[str, Any]]:
    """The default receiver of the rendered Alertmanager config, and every receiver by name."""
    release = next(r for r in helm_releases(run) if r.chart == "kube-prometheus-stack")
    (secret,) = [
        item.obj
        for item in render_release(release, stack_kubernetes_version(run))
        if item.obj["kind"] == "Secret" and item.obj["metadata"]["name"] == "alertmanager-kube-prometheus-stack-alertmanager"
    ]
    config = yaml.safe_load(base64.b64decode(secret["data"]["alertmanager.yaml"]))
    return config["route"]["receiver"], {receiver["name"]: receiver for receiver in config["receivers"]}


def _azure_pages(run: StackRun) -> bool:
    """Managed Prometheus evaluates the alerts and every one goes to an action group with a receiver."""
    groups = [g for g in run.of_type("azure-native:alertsmanagement:PrometheusRuleGroup") if "database-alerts" in g.name]
    receivers = [g.inputs.get("emailReceivers") or g.inputs.get("webhookReceivers") for g in run.of_type(ACTION_GROUP)]
    return bool(groups) and any(receivers) and all(rule["actions"] for g in groups for rule in g.inputs["rules"])


def _alertmanager_pages(run: StackRun) -> bool:
    if not any(r.chart == "kube-prometheus-stack" for r in helm_releases(run)):
        return False
    default, receivers = _alertmanager_route(run)
    return bool(receivers[default].get("webhook_configs"))


@pytest.mark.parametrize(
    ("azure", "in_cluster", "webhook", "pagers"),
    [
        # prod as shipped: Azure pages (e-mail); the in-cluster Alertmanager keeps the chart's 'null' receiver.
        (True, True, False, {"azure"}),
        # A webhook set: both evaluators post to it (Azure in the common alert schema, Alertmanager its JSON).
        (True, True, True, {"azure", "in-cluster"}),
        # No Azure monitoring: prod then needs the webhook, and the in-cluster Alertmanager pages.
        (False, True, True, {"in-cluster"}),
        (True, False, False, {"azure"}),
    ],
)
def test_every_prod_shape_pages_someone(azure: bool, in_cluster: bool, webhook: bool, pagers: set[str]) -> None:
    overrides: dict[str, Any] = {
        P + "observability": _section("prod", "observability", azureMonitoring=azure, managedGrafana=azure),
        P + "operators": _section("prod", "operators", selfManagedMonitoring=in_cluster),
    }
    if webhook:
        overrides[P + "alerting"] = {"webhookUrl": URL, **({"emails": ["dba-on-call@example.com"]} if azure else {})}
    run = run_stack("prod", overrides)
    paging = {flavour for flavour, pages in (("azure", _azure_pages), ("in-cluster", _alertmanager_pages)) if pages(run)}
    assert paging == pagers


def test_dev_pages_nobody_unless_told(dev: StackRun) -> None:
    # dev sets no receiver: the alerts show in the portal and the in-cluster Alertmanager only.
    assert not _azure_pages(dev) and not _alertmanager_pages(dev)
    assert _alertmanager_route(dev)[0] == "null"
