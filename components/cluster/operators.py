"""Operators: cert-manager, the CloudNativePG operator, the Barman Cloud plugin and
kube-prometheus-stack, installed from their official Helm repositories at pinned versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.azure.aks_cluster import SYSTEM_POOL_TOLERATIONS
from components.builders.cluster_spec import ZONE_TOPOLOGY_KEY
from components.builders.pod_security import PodSecurityLevel, pod_security_labels
from components.builders.priorities import INSTANCES, MONITORING, OPERATORS, POOLERS, PRIORITIES, Priority
from settings import OperatorSettings
from settings.images import (
    BARMAN_CLOUD_PLUGIN_DIGESTS,
    CERT_MANAGER_DIGESTS,
    CNPG_OPERATOR_DIGESTS,
    KUBE_PROMETHEUS_STACK_DIGESTS,
    barman_cloud_sidecar_tag,
    tag_by_digest,
)
from settings.operators import CERT_MANAGER_NAMESPACE, MONITORING_NAMESPACE, OPERATOR_NAMESPACE

GRAFANA_ADMIN_SECRET = "grafana-admin"
# Holds the on-call webhook URL; Alertmanager reads it from a file (url_file), never from its config.
ALERT_WEBHOOK_SECRET = "alertmanager-webhook"
ALERT_WEBHOOK_URL_FILE = f"/etc/alertmanager/secrets/{ALERT_WEBHOOK_SECRET}/url"
# The operator pods' label (chart cloudnative-pg); NetworkPolicies admit the operator by it.
CNPG_OPERATOR_POD_LABEL = {"app.kubernetes.io/name": "cloudnative-pg"}
# Helm release of the CNPG operator (named after its chart) and the chart's selector labels for its pods
# (templates/_helpers.tpl cloudnative-pg.selectorLabels: name and instance).
CNPG_RELEASE = "cloudnative-pg"
# The other releases, also named after their charts (_release); the verify drill finds their Deployments by them.
CERT_MANAGER_RELEASE = "cert-manager"
BARMAN_CLOUD_RELEASE = "plugin-barman-cloud"
CNPG_OPERATOR_SELECTOR = {**CNPG_OPERATOR_POD_LABEL, "app.kubernetes.io/instance": CNPG_RELEASE}
# Pods of the Prometheus that the Prometheus Operator runs for kube-prometheus-stack.
PROMETHEUS_POD_LABEL = {"app.kubernetes.io/name": "prometheus"}
# Label the kube-prometheus-stack Grafana sidecar loads dashboards from.
GRAFANA_DASHBOARD_LABEL = {"grafana_dashboard": "1"}

JETSTACK_REPO = "https://charts.jetstack.io"
CNPG_REPO = "https://cloudnative-pg.github.io/charts"
PROMETHEUS_COMMUNITY_REPO = "https://prometheus-community.github.io/helm-charts"

# Two replicas of each operator that elects a leader, so that a lost node costs a lease (15 s for
# CloudNativePG, 60 s for cert-manager's default) rather than a reschedule: cloudnative-pg runs with
# --leader-elect (chart templates/deployment.yaml; cnpg v1.30.0 internal/cmd/manager/controller), and
# cert-manager's controller and cainjector elect one (global.leaderElection) while its webhook is
# stateless. Not the Barman Cloud plugin: its gRPC service is a controller-runtime Runnable without
# NeedLeaderElection (plugin-barman-cloud v0.14.0 internal/cnpgi/operator/manager.go), so only the
# leader serves it and a second pod behind the Service would refuse the calls routed to it.
OPERATOR_REPLICAS = 2
HOSTNAME_TOPOLOGY_KEY = "kubernetes.io/hostname"
# cert-manager's pods per component (chart templates/*deployment.yaml selector labels, release cert-manager).
CERT_MANAGER_PODS = {
    component: {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": "cert-manager",
        "app.kubernetes.io/component": component,
    }
    for name, component in (("cert-manager", "controller"), ("webhook", "webhook"), ("cainjector", "cainjector"))
}


def resources(cpu: str, memory: str, memory_limit: str) -> dict[str, dict[str, str]]:
    """Requests, so the scheduler reserves room (no BestEffort pod evicted first), and a memory limit; no
    CPU limit, which would only throttle an operator the node has idle CPU for."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


def spread(pod_labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Replicas in different zones, and on different nodes. ScheduleAnyway: the system pool may have one
    node (dev) or fewer zones than the cluster; nodes the pods cannot run on do not count (Honor)."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "nodeTaintsPolicy": "Honor",
            "labelSelector": {"matchLabels": dict(pod_labels)},
        }
        for key in (ZONE_TOPOLOGY_KEY, HOSTNAME_TOPOLOGY_KEY)
    ]


def replicated(pod_labels: Mapping[str, str], requests: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Chart values of a leader-electing operator: replicas, resources and their spread."""
    return {"replicaCount": OPERATOR_REPLICAS, "resources": requests, "topologySpreadConstraints": spread(pod_labels)}


# The chart's PodDisruptionBudget: minAvailable 1 unless set (templates/*poddisruptionbudget.yaml), so a
# drain leaves one replica running.
CERT_MANAGER_BUDGET = {"podDisruptionBudget": {"enabled": True}}
CERT_MANAGER_VALUES: dict[str, Any] = {
    "crds": {"enabled": True},
    # Every cert-manager pod (the chart has one priority value for all).
    "global": {"priorityClassName": OPERATORS.name},
    **replicated(CERT_MANAGER_PODS["controller"], resources("20m", "64Mi", "256Mi")),
    **CERT_MANAGER_BUDGET,
    "webhook": {**replicated(CERT_MANAGER_PODS["webhook"], resources("10m", "32Mi", "128Mi")), **CERT_MANAGER_BUDGET},
    # cainjector caches the Secrets and CRDs it injects CAs from.
    "cainjector": {**replicated(CERT_MANAGER_PODS["cainjector"], resources("10m", "64Mi", "256Mi")), **CERT_MANAGER_BUDGET},
}

# cert-manager's components, each with its own image (chart values <component>.image; the controller's
# is the top-level image).
CERT_MANAGER_COMPONENTS = ("webhook", "cainjector", "acmesolver", "startupapicheck")


def cert_manager_images(version: str) -> dict[str, Any]:
    """Every cert-manager image by digest (settings/images.py): the chart renders ``<repository>:<tag>@<digest>``
    from image.tag and image.digest (templates/_helpers.tpl cert-manager.image), the tag being the release."""
    digests = CERT_MANAGER_DIGESTS[version]
    return {
        "image": {"tag": version, "digest": digests["controller"]},
        **{component: {"image": {"tag": version, "digest": digests[component]}} for component in CERT_MANAGER_COMPONENTS},
    }


def _sha(digest: str) -> str:
    """The hex part of ``sha256:<hex>``: kube-prometheus-stack and grafana render ``@sha256:{{ sha }}``."""
    return digest.removeprefix("sha256:")


def kube_prometheus_stack_images(version: str) -> dict[str, Any]:
    """Every image kube-prometheus-stack runs by digest (settings/images.py), through the chart's ``sha``
    values at the tags its values.yaml names (templates/prometheus-operator/deployment.yaml for the operator,
    its --prometheus-config-reloader and --thanos-default-base-image; prometheus/prometheus.yaml and
    alertmanager/alertmanager.yaml for the image fields of the Prometheus and Alertmanager the operator runs;
    the grafana subchart, its dashboard sidecar included, and kube-state-metrics). kube-state-metrics renders
    ``<tag>@{{ sha }}`` (templates/_helpers.tpl), so its value keeps the algorithm. The admission webhook's
    certgen Jobs are not rendered (OPERATOR_WEBHOOK_BY_CERT_MANAGER)."""
    digests = KUBE_PROMETHEUS_STACK_DIGESTS[version]
    return {
        "prometheusOperator": {
            "image": {"sha": _sha(digests["prometheus-operator"])},
            "prometheusConfigReloader": {"image": {"sha": _sha(digests["prometheus-config-reloader"])}},
            "thanosImage": {"sha": _sha(digests["thanos"])},
        },
        "prometheus": {"prometheusSpec": {"image": {"sha": _sha(digests["prometheus"])}}},
        "alertmanager": {"alertmanagerSpec": {"image": {"sha": _sha(digests["alertmanager"])}}},
        "kube-state-metrics": {"image": {"sha": digests["kube-state-metrics"]}},
        "grafana": {
            "image": {"sha": _sha(digests["grafana"])},
            "sidecar": {"image": {"sha": _sha(digests["k8s-sidecar"])}},
        },
    }


def merged(values: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with ``overlay`` merged in, maps key by key (a new dict), as Helm merges values."""
    result = dict(values)
    for key, value in overlay.items():
        current = result.get(key)
        result[key] = merged(current, value) if isinstance(current, Mapping) and isinstance(value, Mapping) else value
    return result


# The Role Grafana's sidecars read dashboards and datasources with: ConfigMaps in its namespace, no Secret.
GRAFANA_SIDECAR_ROLE = "grafana-sidecar"

# The Prometheus Operator's admission webhook (it validates PrometheusRules) takes its serving certificate
# from cert-manager instead of the chart's certgen Jobs, whose image has no public digest: the chart renders a
# self-signed CA (Issuer, Certificate), a CA Issuer and the webhook's Certificate, and cainjector writes the
# CA into both webhook configurations (chart 88.5.3 templates/prometheus-operator/certmanager.yaml). Ignore,
# as the patch Jobs implied: without them the chart's default is Fail, which refuses the chart's own
# PrometheusRules at install, before the operator serves and cainjector has injected the CA (upstream
# prometheus-community/helm-charts#2020, #6666).
OPERATOR_WEBHOOK_BY_CERT_MANAGER = {"certManager": {"enabled": True}, "patch": {"enabled": False}, "failurePolicy": "Ignore"}

# CloudNativePG's recommended kube-prometheus-stack values (docs/src/samples/monitoring/
# kube-stack-config.yaml @ v1.30.0, Apache-2.0), copied and pinned here rather than fetched
# from a moving branch; the Grafana password is replaced by a generated secret, Grafana's RBAC is
# namespaced, the operator's webhook certificate comes from cert-manager, and every workload gets
# requests and the monitoring priority.
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
            "priorityClassName": MONITORING.name,
            "resources": resources("100m", "512Mi", "2Gi"),
        }
    },
    "prometheusOperator": {
        "priorityClassName": MONITORING.name,
        "resources": resources("20m", "64Mi", "256Mi"),
        "admissionWebhooks": OPERATOR_WEBHOOK_BY_CERT_MANAGER,
    },
    "kube-state-metrics": {"priorityClassName": MONITORING.name, "resources": resources("10m", "64Mi", "256Mi")},
    "grafana": {
        "enabled": True,
        "priorityClassName": MONITORING.name,
        "resources": resources("50m", "128Mi", "512Mi"),
        "defaultDashboardsEnabled": False,
        "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
        # Not the sample's searchNamespace ALL, for which the chart's ClusterRole reads every Secret and
        # ConfigMap of the cluster, nor the chart's namespaced Role, which still reads the Secrets in
        # 'monitoring': the chart binds the program's Role (grafana chart templates/rolebinding.yaml), and
        # dashboards and datasources are ConfigMaps there (DatabaseMonitoring puts CNPG's dashboard there).
        "rbac": {"namespaced": True, "useExistingRole": GRAFANA_SIDECAR_ROLE},
        "sidecar": {
            # Every sidecar container of Grafana's pod (dashboards, datasources).
            "resources": resources("10m", "64Mi", "256Mi"),
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
    "alertmanager": {
        "enabled": True,
        "alertmanagerSpec": {"priorityClassName": MONITORING.name, "resources": resources("10m", "32Mi", "128Mi")},
    },
}

# Alertmanager values that send every alert (Watchdog aside) to the on-call webhook. Helm merges the
# maps into the chart's default config (global, inhibit rules, grouping) and replaces the lists. The
# URL stays out of the values (plain in the Helm release): Alertmanager reads it from the Secret,
# which the Prometheus Operator mounts under /etc/alertmanager/secrets/<name>/.
ALERTMANAGER_TO_WEBHOOK: dict = {
    **KUBE_PROMETHEUS_STACK_VALUES["alertmanager"],
    "alertmanagerSpec": {**KUBE_PROMETHEUS_STACK_VALUES["alertmanager"]["alertmanagerSpec"], "secrets": [ALERT_WEBHOOK_SECRET]},
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


@dataclass(frozen=True)
class Scrapers:
    """Which Prometheus scrapes the database's pods, decided once for every monitor and NetworkPolicy."""

    # The self-managed Prometheus (kube-prometheus-stack): its operator's CRDs, which monitors wait
    # for; None when it is not installed.
    prometheus_operator: list[pulumi.Resource] | None
    # Azure managed Prometheus (observability.azureMonitoring): its agents read the ama-metrics CRDs.
    azure_managed: bool


class Operators(pulumi.ComponentResource):
    """Installs the operators in dependency order and exposes what later layers wait for.

    ``database_ready``: the CNPG operator and the Barman Cloud plugin, with their webhooks serving.
    ``prometheus_operator``: the Prometheus Operator CRDs (kube-prometheus-stack); None if not installed.
    """

    database_ready: list[pulumi.Resource]
    prometheus_operator: list[pulumi.Resource] | None
    grafana_admin_password: pulumi.Output[str] | None

    def scrapers(self, azure_managed: bool) -> Scrapers:
        return Scrapers(self.prometheus_operator, azure_managed)

    def __init__(self, name: str, args: OperatorsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:Operators", name, None, opts)
        self._provider = args.provider
        versions = args.settings
        # Before the releases whose pods name them: the API server refuses a pod whose class is missing.
        self._priority_classes = {
            priority: k8s.scheduling.v1.PriorityClass(
                f"{name}-priority-{priority.name}",
                metadata={"name": priority.name},
                value=priority.value,
                description=priority.description,
                preemption_policy=priority.preemption_policy,
                global_default=False,
                opts=pulumi.ResourceOptions(parent=self, provider=self._provider),
            )
            for priority in PRIORITIES
        }
        cert_manager_namespace = self._namespace(name, CERT_MANAGER_NAMESPACE)
        cert_manager = self._release(
            f"{name}-cert-manager",
            chart=CERT_MANAGER_RELEASE,
            repo=JETSTACK_REPO,
            version=versions.cert_manager_version,
            namespace=CERT_MANAGER_NAMESPACE,
            values=merged(CERT_MANAGER_VALUES, cert_manager_images(versions.cert_manager_version)),
            priorities=[OPERATORS],
            depends_on=[cert_manager_namespace],
        )
        self.prometheus_operator = None
        self.grafana_admin_password = None
        if versions.self_managed_monitoring:
            self.prometheus_operator = [self._monitoring_stack(name, versions, args.alert_webhook_url, cert_manager)]
        operator_namespace = self._namespace(name, OPERATOR_NAMESPACE)
        cnpg = self._release(
            f"{name}-cnpg",
            chart=CNPG_RELEASE,
            repo=CNPG_REPO,
            version=versions.cnpg_chart_version,
            namespace=OPERATOR_NAMESPACE,
            values={
                # The chart's CRDs with a newer 1.30 operator image (settings.operators explains why), by
                # digest: the chart renders <repository>:<tag> (templates/deployment.yaml, also the
                # OPERATOR_IMAGE_NAME the operator gives instance pods) and has no digest value.
                "image": {"tag": tag_by_digest(versions.cnpg_operator_version, CNPG_OPERATOR_DIGESTS)},
                **replicated(CNPG_OPERATOR_SELECTOR, resources("50m", "128Mi", "512Mi")),
                "priorityClassName": OPERATORS.name,
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
            # The operator creates the instance and pooler pods, which name their classes too.
            priorities=[OPERATORS, INSTANCES, POOLERS],
            # Only its namespace: the operator issues its own webhook certificate (no cert-manager) and
            # creates no PodMonitor (above), so it installs beside cert-manager and the monitoring stack.
            depends_on=[operator_namespace],
        )
        if self.prometheus_operator is not None:
            self._operator_pod_monitor(name, cnpg)
        # The chart has no PodDisruptionBudget: a drain takes one operator replica at a time.
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-cnpg-pdb",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CNPG_RELEASE, namespace=OPERATOR_NAMESPACE),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(CNPG_OPERATOR_SELECTOR))
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=[operator_namespace]),
        )
        plugin = self._release(
            f"{name}-barman-cloud",
            chart=BARMAN_CLOUD_RELEASE,
            repo=CNPG_REPO,
            version=versions.barman_cloud_chart_version,
            namespace=OPERATOR_NAMESPACE,
            # Plugin and sidecar (injected into instance pods) run the same release, both by digest (the
            # chart renders <registry>/<repository>:<tag>, templates/deployment.yaml and configmap.yaml).
            values={
                "image": {"tag": tag_by_digest(versions.barman_cloud_plugin_version, BARMAN_CLOUD_PLUGIN_DIGESTS)},
                "sidecarImage": {"tag": barman_cloud_sidecar_tag(versions.barman_cloud_plugin_version)},
                # One replica (OPERATOR_REPLICAS says why), with requests and the operators' priority.
                "resources": resources("20m", "64Mi", "256Mi"),
                "priorityClassName": OPERATORS.name,
            },
            priorities=[OPERATORS],
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
        priorities: Sequence[Priority],
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
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=self._provider,
                depends_on=[*(self._priority_classes[priority] for priority in priorities), *(depends_on or [])],
            ),
        )

    def _namespace(self, name: str, namespace: str) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{name}-{namespace}-namespace",
            metadata={"name": namespace, "labels": pod_security_labels(NAMESPACE_POD_SECURITY[namespace])},
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider),
        )

    def _monitoring_stack(
        self,
        name: str,
        versions: OperatorSettings,
        alert_webhook_url: pulumi.Input[str] | None,
        cert_manager: k8s.helm.v3.Release,
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
        sidecar_role = k8s.rbac.v1.Role(
            f"{name}-grafana-sidecar-role",
            metadata={"name": GRAFANA_SIDECAR_ROLE, "namespace": MONITORING_NAMESPACE},
            rules=[k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["configmaps"], verbs=["get", "watch", "list"])],
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=[namespace]),
        )
        values = merged(KUBE_PROMETHEUS_STACK_VALUES, kube_prometheus_stack_images(versions.kube_prometheus_stack_version))
        ready: list[pulumi.Resource] = [namespace, admin_secret, sidecar_role]
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
            values = merged(values, {"alertmanager": ALERTMANAGER_TO_WEBHOOK})
        return self._release(
            f"{name}-kube-prometheus-stack",
            chart="kube-prometheus-stack",
            repo=PROMETHEUS_COMMUNITY_REPO,
            version=versions.kube_prometheus_stack_version,
            namespace=MONITORING_NAMESPACE,
            values=values,
            priorities=[MONITORING],
            # cert-manager's release waits for its webhook to serve (startupapicheck), as the operator's
            # Issuers and Certificates need (OPERATOR_WEBHOOK_BY_CERT_MANAGER).
            depends_on=[*ready, cert_manager],
        )
