"""In-cluster Alertmanager: alerts go to the on-call webhook, whose URL never enters the Helm values."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from components.azure.aks_cluster import SYSTEM_POOL_TOLERATIONS
from components.cluster.operators import ALERT_WEBHOOK_SECRET, ALERT_WEBHOOK_URL_FILE
from offline.engine import StackRun, run_stack
from tests.components.helpers import depends_on

P = "aks-postgres-ha:"
URL = "https://hooks.example.com/alertmanager/T0KEN"


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
    # Only the system pool's tolerations beside the chart's default (its 'null' receiver).
    assert alertmanager == {"enabled": True, "alertmanagerSpec": {"tolerations": SYSTEM_POOL_TOLERATIONS}}
    assert not [s for s in dev.of_type("kubernetes:core/v1:Secret") if s.name == "operators-alert-webhook"]
