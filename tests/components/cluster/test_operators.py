from typing import Any

import pytest

from components.cluster.operators import SYSTEM_POOL_WORKLOADS
from offline.charts import helm_releases, render_release, stack_kubernetes_version
from offline.engine import Registration, StackRun, run_stack
from tests.components.helpers import children

RELEASE = "kubernetes:helm.sh/v3:Release"


def _releases(run: StackRun) -> dict[str, Registration]:
    return {r.inputs["chart"]: r for r in run.of_type(RELEASE)}


def test_operator_charts_are_pinned_from_official_repositories(prod: StackRun) -> None:
    releases = {chart: r.inputs for chart, r in _releases(prod).items()}
    expected = {
        "cert-manager": ("https://charts.jetstack.io", "v1.21.1", "cert-manager"),
        "cloudnative-pg": ("https://cloudnative-pg.github.io/charts", "0.29.0", "cnpg-system"),
        "plugin-barman-cloud": ("https://cloudnative-pg.github.io/charts", "0.7.0", "cnpg-system"),
        "kube-prometheus-stack": ("https://prometheus-community.github.io/helm-charts", "88.5.3", "monitoring"),
    }
    assert {chart: (r["repositoryOpts"]["repo"], r["version"], r["namespace"]) for chart, r in releases.items()} == expected


def test_cnpg_configuration_lives_in_chart_values(prod: StackRun) -> None:
    values = _releases(prod)["cloudnative-pg"].inputs["values"]
    assert values["config"]["create"] is True
    assert "ENABLE_AZURE_PVC_UPDATES" not in values["config"]["data"]
    assert "STANDBY_TCP_USER_TIMEOUT" not in values["config"]["data"]
    # The chart's bundled dashboard reads metrics plugin backups no longer update; DatabaseMonitoring ships the current one.
    assert values["monitoring"]["grafanaDashboard"] == {"create": False}
    assert not [
        r
        for r in prod.of_type("kubernetes:core/v1:ConfigMap")
        if r.inputs["metadata"]["name"] == "cnpg-controller-manager-config"
    ]


def test_kube_prometheus_stack_selects_everything_and_uses_a_generated_password(prod: StackRun) -> None:
    values = _releases(prod)["kube-prometheus-stack"].inputs["values"]
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["podMonitorSelectorNilUsesHelmValues"] is False and spec["ruleSelectorNilUsesHelmValues"] is False
    assert "adminPassword" not in values["grafana"]
    assert values["grafana"]["admin"]["existingSecret"] == "grafana-admin"
    secret = next(r for r in children(prod, "operators") if r.type == "kubernetes:core/v1:Secret")
    assert secret.inputs["metadata"]["name"] == "grafana-admin"
    password = prod.one("random:index/randomPassword:RandomPassword", "operators-grafana-admin")
    assert password.urn in secret.property_dependencies["stringData"]
    assert "prom-operator" not in str(values)


def test_install_order(prod: StackRun) -> None:
    releases = _releases(prod)
    cert_manager, cnpg = (releases[name].urn for name in ("cert-manager", "cloudnative-pg"))
    namespace = prod.one("kubernetes:core/v1:Namespace", "operators-cnpg-system-namespace").urn
    # The operator needs only its namespace: its PodMonitor, which needs kube-prometheus-stack's CRDs, is
    # a separate resource (below), no longer rendered by the chart.
    # The classes its pods name: its own, and the instances' and poolers' it creates.
    priorities = [r.urn for r in prod.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass") if "monitoring" not in r.name]
    assert sorted(releases["cloudnative-pg"].dependencies) == sorted([*priorities, namespace])
    assert cert_manager in releases["plugin-barman-cloud"].dependencies  # tests/test_deployment_order.py: the rest
    assert all(r.inputs["atomic"] is True for r in releases.values())
    assert cnpg not in releases["plugin-barman-cloud"].dependencies


def test_the_operator_pod_monitor_replaces_the_charts(prod: StackRun) -> None:
    values = _releases(prod)["cloudnative-pg"].inputs["values"]
    assert values["monitoring"]["podMonitorEnabled"] is False
    (monitor,) = [r for r in children(prod, "operators") if r.type == "kubernetes:monitoring.coreos.com/v1:PodMonitor"]
    # As charts/cloudnative-pg/templates/podmonitor.yaml renders it for release cloudnative-pg.
    assert monitor.inputs["metadata"]["name"] == "cloudnative-pg"
    assert monitor.inputs["metadata"]["namespace"] == "cnpg-system"
    assert monitor.inputs["spec"] == {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "cloudnative-pg", "app.kubernetes.io/instance": "cloudnative-pg"}},
        "podMetricsEndpoints": [{"port": "metrics"}],
    }
    releases = _releases(prod)
    # The CRD from kube-prometheus-stack; after the operator's release, which on stacks deployed with the
    # chart's PodMonitor removes that one (same name) first.
    assert {releases["kube-prometheus-stack"].urn, releases["cloudnative-pg"].urn} <= set(monitor.dependencies)
    assert monitor.provider.startswith(prod.one("pulumi:providers:kubernetes").urn)


def test_no_operator_pod_monitor_without_self_managed_monitoring() -> None:
    from tests.test_settings import _section

    run = run_stack("dev", {"aks-postgres-ha:operators": _section("dev", "operators", selfManagedMonitoring=False)})
    assert not [r for r in children(run, "operators") if r.type == "kubernetes:monitoring.coreos.com/v1:PodMonitor"]
    assert _releases(run)["cloudnative-pg"].inputs["values"]["monitoring"]["podMonitorEnabled"] is False


@pytest.mark.parametrize(("chart", "path"), [(chart, path) for chart, paths in SYSTEM_POOL_WORKLOADS.items() for path in paths])
def test_every_operator_workload_tolerates_the_tainted_system_pool(prod: StackRun, chart: str, path: tuple[str, ...]) -> None:
    node: Any = _releases(prod)[chart].inputs["values"]
    for key in path:
        node = node[key]
    assert node["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]


def test_the_system_pool_taint_is_the_one_tolerated(prod: StackRun) -> None:
    cluster = prod.of_type("azure-native:containerservice:ManagedCluster")[0]
    assert cluster.inputs["agentPoolProfiles"][0]["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]


def _rendered(run: StackRun, chart: str) -> list[dict[str, Any]]:
    release = next(r for r in helm_releases(run) if r.chart == chart)
    return [item.obj for item in render_release(release, stack_kubernetes_version(run))]


def test_grafana_reads_no_secret_and_no_config_map_outside_its_namespace(prod: StackRun) -> None:
    objects = _rendered(prod, "kube-prometheus-stack")
    grafana_account = "kube-prometheus-stack-grafana"
    bindings = [
        o
        for o in objects
        if o["kind"] in ("ClusterRoleBinding", "RoleBinding") and any(s["name"] == grafana_account for s in o.get("subjects", []))
    ]
    # No ClusterRoleBinding at all (the chart's ClusterRole read every Secret and ConfigMap): one RoleBinding
    # in 'monitoring', to the program's Role, which reads ConfigMaps there and no Secret.
    assert [(b["kind"], b["metadata"]["namespace"], b["roleRef"]["kind"], b["roleRef"]["name"]) for b in bindings] == [
        ("RoleBinding", "monitoring", "Role", "grafana-sidecar")
    ]
    assert not [o for o in objects if o["kind"] in ("Role", "ClusterRole") and "grafana" in o["metadata"]["name"]]
    (role,) = [
        r.inputs
        for r in prod.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
        if r.inputs["metadata"]["name"] == "grafana-sidecar"
    ]
    assert role["metadata"]["namespace"] == "monitoring"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "watch", "list"]}]
    release = _releases(prod)["kube-prometheus-stack"]
    assert prod.one("kubernetes:rbac.authorization.k8s.io/v1:Role").urn in release.dependencies
    # The sidecars search that namespace only, for ConfigMaps; CNPG's dashboard lives there.
    (grafana,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == grafana_account]
    for name in ("grafana-sc-dashboard", "grafana-sc-datasources"):
        sidecar = next(c for c in grafana["spec"]["template"]["spec"]["containers"] if c["name"] == name)
        env = {e["name"]: e.get("value") for e in sidecar["env"]}
        assert (env.get("NAMESPACE", "monitoring"), env["RESOURCE"]) == ("monitoring", "configmap"), name
    dashboard = prod.one("kubernetes:core/v1:ConfigMap", "database-monitoring-dashboard")
    assert dashboard.inputs["metadata"]["namespace"] == "monitoring"


PRIORITY_CLASS = "kubernetes:scheduling.k8s.io/v1:PriorityClass"
# The operators the database needs rank with it; monitoring ranks last (components/builders/priorities.py).
NAMESPACE_PRIORITY = {
    "cert-manager": "postgres-operators",
    "cnpg-system": "postgres-operators",
    "monitoring": "postgres-monitoring",
}
# Leader-electing operators run two replicas (operators.OPERATOR_REPLICAS says why not the plugin).
REPLICATED = {
    ("cert-manager", "cert-manager"),
    ("cert-manager", "cert-manager-webhook"),
    ("cert-manager", "cert-manager-cainjector"),
    ("cnpg-system", "cloudnative-pg"),
}


def _all_rendered(run: StackRun) -> list[dict[str, Any]]:
    return [
        obj
        for chart in ("cert-manager", "cloudnative-pg", "plugin-barman-cloud", "kube-prometheus-stack")
        for obj in _rendered(run, chart)
    ]


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) == {"matchLabels"}, selector
    return selector["matchLabels"].items() <= labels.items()


def test_priority_classes_rank_postgres_above_poolers_above_monitoring(prod: StackRun) -> None:
    classes = {r.inputs["metadata"]["name"]: r.inputs for r in prod.of_type(PRIORITY_CLASS)}
    value = {name: spec["value"] for name, spec in classes.items()}
    assert (
        value["postgres-operators"] >= value["postgres-instances"] > value["postgres-poolers"] > value["postgres-monitoring"] > 0
    )
    # Below Kubernetes' system classes; never the cluster's default; monitoring waits rather than evicting.
    assert max(value.values()) < 1_000_000_000 and not any(spec["globalDefault"] for spec in classes.values())
    assert classes["postgres-monitoring"]["preemptionPolicy"] == "Never"
    cluster = prod.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster")
    assert cluster.inputs["spec"]["priorityClassName"] == "postgres-instances"
    poolers = prod.of_type("kubernetes:postgresql.cnpg.io/v1:Pooler")
    assert poolers and {p.inputs["spec"]["template"]["spec"]["priorityClassName"] for p in poolers} == {"postgres-poolers"}
    # Created before the pods that name them (the API server refuses a pod whose class is missing): each
    # release waits for the classes its pods name, the CNPG operator's also for the pods it creates.
    urn = {r.inputs["metadata"]["name"]: r.urn for r in prod.of_type(PRIORITY_CLASS)}
    for chart, release in _releases(prod).items():
        named = {
            (o["spec"].get("template", {}).get("spec") or o["spec"]).get("priorityClassName")
            for o in _rendered(prod, chart)
            if o["kind"] in ("Deployment", "StatefulSet", "Job", "Prometheus", "Alertmanager")
        } - {None}
        assert named and {urn[n] for n in named} <= set(release.dependencies), chart
    cnpg = _releases(prod)["cloudnative-pg"]
    assert {urn["postgres-instances"], urn["postgres-poolers"]} <= set(cnpg.dependencies)


def test_every_operator_pod_has_requests_a_memory_limit_and_its_priority(prod: StackRun) -> None:
    workloads = [o for o in _all_rendered(prod) if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet")]
    assert len(workloads) >= 8
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        where = f"{workload['metadata']['namespace']}/{workload['metadata']['name']}"
        assert pod.get("priorityClassName") == NAMESPACE_PRIORITY[workload["metadata"]["namespace"]], where
        for container in pod["containers"]:
            found = container.get("resources") or {}
            assert {"cpu", "memory"} <= set(found.get("requests", {})) and "memory" in found.get("limits", {}), (
                where,
                container["name"],
            )
    # The Prometheus Operator's own workloads take theirs from the custom resources.
    for kind in ("Prometheus", "Alertmanager"):
        (spec,) = [o["spec"] for o in _all_rendered(prod) if o["kind"] == kind]
        assert spec["priorityClassName"] == "postgres-monitoring" and "memory" in spec["resources"]["limits"], kind


def test_leader_electing_operators_run_two_replicas_spread_and_budgeted(prod: StackRun) -> None:
    objects = _all_rendered(prod)
    deployments = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "Deployment"}
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    budgets += [
        r.inputs
        for r in prod.of_type("kubernetes:policy/v1:PodDisruptionBudget")
        if r.inputs["metadata"]["namespace"] == "cnpg-system"
    ]
    for key in REPLICATED:
        deployment = deployments[key]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["replicas"] == 2, key
        args = " ".join(arg for c in deployment["spec"]["template"]["spec"]["containers"] for arg in c.get("args", []))
        assert key[1] == "cert-manager-webhook" or "--leader-elect" in args, key
        spreads = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {s["topologyKey"] for s in spreads} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, key
        assert all(_matches(s["labelSelector"], labels) for s in spreads), key
        (budget,) = [b for b in budgets if b["metadata"]["namespace"] == key[0] and _matches(b["spec"]["selector"], labels)]
        assert budget["spec"].get("minAvailable") == 1 or budget["spec"].get("maxUnavailable") == 1, key
    # The plugin serves its gRPC API on the leader only: one replica, so no budget that would block drains.
    plugin = deployments[("cnpg-system", "plugin-barman-cloud")]
    assert plugin["spec"]["replicas"] == 1
    assert not [b for b in budgets if _matches(b["spec"]["selector"], plugin["spec"]["template"]["metadata"]["labels"])]
