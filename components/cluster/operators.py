"""Operators: cert-manager, the CloudNativePG operator, the Barman Cloud plugin and
kube-prometheus-stack, installed from their official Helm repositories at pinned versions."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.azure.aks_cluster import SYSTEM_POOL_TOLERATIONS
from components.builders.pod_security import PodSecurityLevel, pod_security_labels
from settings import OperatorSettings

OPERATOR_NAMESPACE = "cnpg-system"
MONITORING_NAMESPACE = "monitoring"
CERT_MANAGER_NAMESPACE = "cert-manager"
# Namespaces the operator releases create and own; the database must live elsewhere.
OPERATOR_NAMESPACES = (OPERATOR_NAMESPACE, CERT_MANAGER_NAMESPACE, MONITORING_NAMESPACE)
GRAFANA_ADMIN_SECRET = "grafana-admin"
# Holds the on-call webhook URL; Alertmanager reads it from a file (url_file), never from its config.
ALERT_WEBHOOK_SECRET = "alertmanager-webhook"
ALERT_WEBHOOK_URL_FILE = f"/etc/alertmanager/secrets/{ALERT_WEBHOOK_SECRET}/url"
# The operator pods' label (chart cloudnative-pg); NetworkPolicies admit the operator by it.
CNPG_OPERATOR_POD_LABEL = {"app.kubernetes.io/name": "cloudnative-pg"}
# Helm release of the CNPG operator (named after its chart) and the chart's selector labels for its pods
# (templates/_helpers.tpl cloudnative-pg.selectorLabels: name and instance).
CNPG_RELEASE = "cloudnative-pg"
CNPG_OPERATOR_SELECTOR = {**CNPG_OPERATOR_POD_LABEL, "app.kubernetes.io/instance": CNPG_RELEASE}
# Pods of the Prometheus that the Prometheus Operator runs for kube-prometheus-stack.
PROMETHEUS_POD_LABEL = {"app.kubernetes.io/name": "prometheus"}
# Label the kube-prometheus-stack Grafana sidecar loads dashboards from.
GRAFANA_DASHBOARD_LABEL = {"grafana_dashboard": "1"}

JETSTACK_REPO = "https://charts.jetstack.io"
CNPG_REPO = "https://cloudnative-pg.github.io/charts"
PROMETHEUS_COMMUNITY_REPO = "https://prometheus-community.github.io/helm-charts"

# CloudNativePG's recommended kube-prometheus-stack values (docs/src/samples/monitoring/
# kube-stack-config.yaml @ v1.30.0, Apache-2.0), copied and pinned here rather than fetched
# from a moving branch; the Grafana password is replaced by a generated secret.
KUBE_PROMETHEUS_STACK_VALUES: dict = {
    "kubeControllerManager": {"enabled": False},
    "nodeExporter": {"enabled": False},
    "defaultRules": {
        "create": True,
        "rules": {
            **dict.fromkeys(
                [
                    "alertmanager",
                    "etcd",
                    "configReloaders",
                    "general",
                    "kubeApiserverAvailability",
                    "kubeApiserverSlos",
                    "kubeProxy",
                    "kubePrometheusGeneral",
                    "kubePrometheusNodeRecording",
                    "kubernetesApps",
                    "kubernetesResources",
                    "kubernetesStorage",
                    "kubernetesSystem",
                    "kubeSchedulerAlerting",
                    "kubeSchedulerRecording",
                    "kubeStateMetrics",
                    "network",
                    "nodeExporterAlerting",
                    "prometheus",
                    "prometheusOperator",
                ],
                False,
            ),
            "kubelet": True,
            "node": True,
            "nodeExporterRecording": True,
        },
    },
    # Select PodMonitors and PrometheusRules in every namespace, not only this Helm release's.
    "prometheus": {
        "prometheusSpec": {
            "podMonitorSelectorNilUsesHelmValues": False,
            "ruleSelectorNilUsesHelmValues": False,
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "probeSelectorNilUsesHelmValues": False,
        }
    },
    "grafana": {
        "enabled": True,
        "defaultDashboardsEnabled": False,
        "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
        # Not the sample's searchNamespace ALL, for which the chart's ClusterRole reads every Secret and
        # ConfigMap of the cluster: a Role in Grafana's namespace (grafana chart templates/role.yaml), and
        # dashboards and datasources are ConfigMaps there (DatabaseMonitoring puts CNPG's dashboard there).
        "rbac": {"namespaced": True},
        "sidecar": {
            "dashboards": {
                "enabled": True,
                "label": "grafana_dashboard",
                "labelValue": "1",
                "searchNamespace": MONITORING_NAMESPACE,
                "resource": "configmap",
            },
            "datasources": {"resource": "configmap"},
        },
    },
    "alertmanager": {"enabled": True},
}

# Alertmanager values that send every alert (Watchdog aside) to the on-call webhook. Helm merges the
# maps into the chart's default config (global, inhibit rules, grouping) and replaces the lists. The
# URL stays out of the values (plain in the Helm release): Alertmanager reads it from the Secret,
# which the Prometheus Operator mounts under /etc/alertmanager/secrets/<name>/.
ALERTMANAGER_TO_WEBHOOK: dict = {
    "enabled": True,
    "alertmanagerSpec": {"secrets": [ALERT_WEBHOOK_SECRET]},
    "config": {
        "route": {"receiver": "on-call", "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]},
        "receivers": [
            {"name": "null"},
            {"name": "on-call", "webhook_configs": [{"url_file": ALERT_WEBHOOK_URL_FILE, "send_resolved": True}]},
        ],
    },
}

# Pod Security Standard each operator namespace enforces: the least privileged its pods pass (their
# chart values set runAsNonRoot, seccomp RuntimeDefault, no privilege escalation, all capabilities
# dropped). node-exporter, when enabled, needs hostNetwork, hostPID and hostPath: privileged.
NAMESPACE_POD_SECURITY: dict[str, PodSecurityLevel] = {
    CERT_MANAGER_NAMESPACE: "restricted",
    OPERATOR_NAMESPACE: "restricted",
    MONITORING_NAMESPACE: "privileged" if KUBE_PROMETHEUS_STACK_VALUES["nodeExporter"]["enabled"] else "restricted",
}

# Where each chart takes the tolerations of every workload it runs (values paths; all declared by the
# charts). The system pool, the only untainted-for-PostgreSQL pool, carries CriticalAddonsOnly.
SYSTEM_POOL_WORKLOADS: dict[str, list[tuple[str, ...]]] = {
    "cert-manager": [(), ("webhook",), ("cainjector",), ("startupapicheck",)],
    "cloudnative-pg": [()],
    "plugin-barman-cloud": [()],
    "kube-prometheus-stack": [
        ("prometheusOperator",),
        ("prometheusOperator", "admissionWebhooks", "patch"),
        ("prometheusOperator", "admissionWebhooks", "deployment"),
        ("prometheus", "prometheusSpec"),
        ("alertmanager", "alertmanagerSpec"),
        ("grafana",),
        ("kube-state-metrics",),
    ],
}


def tolerating_system_pool(chart: str, values: dict) -> dict:
    """``values`` with the system pool's tolerations on every workload of ``chart`` (a new dict)."""
    result = dict(values)
    for path in SYSTEM_POOL_WORKLOADS[chart]:
        node = result
        for key in path:
            node[key] = dict(node.get(key) or {})
            node = node[key]
        node["tolerations"] = SYSTEM_POOL_TOLERATIONS
    return result


@dataclass(frozen=True)
class OperatorsArgs:
    provider: k8s.Provider
    settings: OperatorSettings
    # The on-call webhook the in-cluster Alertmanager posts to (a secret); None keeps its 'null' receiver.
    alert_webhook_url: pulumi.Input[str] | None = None


class Operators(pulumi.ComponentResource):
    """Installs the operators in dependency order and exposes what later layers wait for.

    ``database_ready``: the CNPG operator and the Barman Cloud plugin, with their webhooks serving.
    ``prometheus_operator``: the Prometheus Operator CRDs (kube-prometheus-stack); None if not installed.
    """

    database_ready: list[pulumi.Resource]
    prometheus_operator: list[pulumi.Resource] | None
    grafana_admin_password: pulumi.Output[str] | None

    def __init__(self, name: str, args: OperatorsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:Operators", name, None, opts)
        self._provider = args.provider
        versions = args.settings
        cert_manager_namespace = self._namespace(name, CERT_MANAGER_NAMESPACE)
        cert_manager = self._release(
            f"{name}-cert-manager",
            chart="cert-manager",
            repo=JETSTACK_REPO,
            version=versions.cert_manager_version,
            namespace=CERT_MANAGER_NAMESPACE,
            values={"crds": {"enabled": True}},
            depends_on=[cert_manager_namespace],
        )
        self.prometheus_operator = None
        self.grafana_admin_password = None
        if versions.self_managed_monitoring:
            self.prometheus_operator = [self._monitoring_stack(name, versions, args.alert_webhook_url)]
        operator_namespace = self._namespace(name, OPERATOR_NAMESPACE)
        cnpg = self._release(
            f"{name}-cnpg",
            chart="cloudnative-pg",
            repo=CNPG_REPO,
            version=versions.cnpg_chart_version,
            namespace=OPERATOR_NAMESPACE,
            values={
                # The chart's CRDs with a newer 1.30 operator image (settings.operators explains why).
                "image": {"tag": versions.cnpg_operator_version},
                # Operator settings live in the chart-owned ConfigMap in the operator's namespace.
                "config": {
                    "create": True,
                    "clusterWide": True,
                    "data": {"INSTANCES_ROLLOUT_DELAY": "30", "CLUSTERS_ROLLOUT_DELAY": "60"},
                },
                "monitoring": {
                    # Off: the chart's PodMonitor needs kube-prometheus-stack's CRDs, and so the whole
                    # operator install would wait for that stack (about 3 min). The operator's PodMonitor
                    # is created below, beside the release, once the stack is there.
                    "podMonitorEnabled": False,
                    # Off: its bundled dashboard (cluster-v0.0.5) reads in-tree backup metrics that plugin
                    # backups no longer update; DatabaseMonitoring provisions the current one (same uid).
                    "grafanaDashboard": {"create": False},
                },
            },
            # Only its namespace: the operator issues its own webhook certificate (no cert-manager) and
            # creates no PodMonitor (above), so it installs beside cert-manager and the monitoring stack.
            depends_on=[operator_namespace],
        )
        if self.prometheus_operator is not None:
            self._operator_pod_monitor(name, cnpg)
        plugin = self._release(
            f"{name}-barman-cloud",
            chart="plugin-barman-cloud",
            repo=CNPG_REPO,
            version=versions.barman_cloud_chart_version,
            namespace=OPERATOR_NAMESPACE,
            # Plugin and sidecar (injected into instance pods) run the same release.
            values={
                "image": {"tag": versions.barman_cloud_plugin_version},
                "sidecarImage": {"tag": versions.barman_cloud_plugin_version},
            },
            # Needs cert-manager's Certificate CRD, not the operator: the operator finds the plugin's Service
            # whenever a Cluster uses it, so both install side by side.
            depends_on=[operator_namespace, cert_manager],
        )
        self.database_ready = [cnpg, plugin]
        self.register_outputs({})

    def _operator_pod_monitor(self, name: str, cnpg: k8s.helm.v3.Release) -> None:
        """The PodMonitor the cloudnative-pg chart renders with ``monitoring.podMonitorEnabled``
        (templates/podmonitor.yaml, chart 0.29.0): the operator pods' metrics port (8080, named
        ``metrics``). After the release, so that on stacks deployed with the chart's PodMonitor Helm has
        removed its copy (same name) before this one is applied; and after kube-prometheus-stack, whose
        CRD it needs. Nothing waits for it."""
        k8s.apiextensions.CustomResource(
            f"{name}-cnpg-pod-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata={"name": CNPG_RELEASE, "namespace": OPERATOR_NAMESPACE, "labels": dict(CNPG_OPERATOR_SELECTOR)},
            spec={"selector": {"matchLabels": dict(CNPG_OPERATOR_SELECTOR)}, "podMetricsEndpoints": [{"port": "metrics"}]},
            opts=pulumi.ResourceOptions(
                parent=self, provider=self._provider, depends_on=[cnpg, *(self.prometheus_operator or [])]
            ),
        )

    def _release(
        self,
        name: str,
        *,
        chart: str,
        repo: str,
        version: str,
        namespace: str,
        values: dict,
        depends_on: list[pulumi.Resource] | None = None,
    ) -> k8s.helm.v3.Release:
        # A real Helm release: chart hooks run and operators keep managing their own webhook CA.
        return k8s.helm.v3.Release(
            name,
            name=chart,
            chart=chart,
            version=version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
            namespace=namespace,
            # Namespaces are this program's own (_namespace): Helm cannot label the ones it creates.
            create_namespace=False,
            values=tolerating_system_pool(chart, values),
            atomic=True,
            cleanup_on_fail=True,
            skip_await=False,
            timeout=900,
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=depends_on),
        )

    def _namespace(self, name: str, namespace: str) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{name}-{namespace}-namespace",
            metadata={"name": namespace, "labels": pod_security_labels(NAMESPACE_POD_SECURITY[namespace])},
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider),
        )

    def _monitoring_stack(
        self, name: str, versions: OperatorSettings, alert_webhook_url: pulumi.Input[str] | None
    ) -> k8s.helm.v3.Release:
        namespace = self._namespace(name, MONITORING_NAMESPACE)
        password = random.RandomPassword(
            f"{name}-grafana-admin", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self.grafana_admin_password = password.result
        admin_secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": MONITORING_NAMESPACE},
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": password.result},
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=[namespace]),
        )
        values = KUBE_PROMETHEUS_STACK_VALUES
        ready: list[pulumi.Resource] = [namespace, admin_secret]
        if alert_webhook_url is not None:
            ready.append(
                k8s.core.v1.Secret(
                    f"{name}-alert-webhook",
                    metadata={"name": ALERT_WEBHOOK_SECRET, "namespace": MONITORING_NAMESPACE},
                    type="Opaque",
                    string_data={"url": pulumi.Output.secret(alert_webhook_url)},
                    opts=pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=[namespace]),
                )
            )
            values = {**values, "alertmanager": ALERTMANAGER_TO_WEBHOOK}
        return self._release(
            f"{name}-kube-prometheus-stack",
            chart="kube-prometheus-stack",
            repo=PROMETHEUS_COMMUNITY_REPO,
            version=versions.kube_prometheus_stack_version,
            namespace=MONITORING_NAMESPACE,
            values=values,
            depends_on=ready,
        )
