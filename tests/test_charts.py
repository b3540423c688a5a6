"""The Helm releases rendered offline (offline/charts.py) from the chart copies in charts/, as the cluster will hold them."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_python import values_from_yaml as helm_values_from_yaml

from offline import charts
from offline.charts import (
    CHARTS_DIR,
    ChartError,
    ChartObject,
    HelmRelease,
    cached_render_release,
    helm_releases,
    helm_template_value,
    render_release,
    render_releases,
    satisfies_kube_version,
    stack_kubernetes_version,
    undeclared_values,
)
from offline.engine import StackRun
from settings.aks import SUPPORTED_KUBERNETES_MINORS
from tests.k8s_schema import crd_schemas, validate_object

SUPPORTED_VERSIONS = [f"1.{minor}" for minor in SUPPORTED_KUBERNETES_MINORS]

# Every `.Capabilities.APIVersions.Has` probe in the chart copies, with the answer of an AKS cluster of
# a supported version running this program. helm-python-sdk renders with Helm's default capabilities;
# test_capability_probes_get_the_clusters_answer checks that they give the same answers.
CLUSTER_SERVES = {
    "autoscaling/v2": True,  # HorizontalPodAutoscaler, built in since 1.23
    "policy/v1beta1/PodSecurityPolicy": False,  # removed in Kubernetes 1.25
    "autoscaling.k8s.io/v1": False,  # VerticalPodAutoscaler CRDs: the program does not enable AKS's VPA add-on
    "autoscaling.k8s.io/v1/VerticalPodAutoscaler": False,
}


@pytest.fixture(scope="module")
def prod_objects(prod: StackRun) -> dict[str, list[ChartObject]]:
    return render_releases(prod)


def _objects(rendered: dict[str, list[ChartObject]]) -> list[dict[str, Any]]:
    return [item.obj for items in rendered.values() for item in items]


def _release(run: StackRun, chart: str) -> HelmRelease:
    return next(release for release in helm_releases(run) if release.chart == chart)


def _template_sources() -> Iterator[tuple[Path, str]]:
    for path in sorted(CHARTS_DIR.rglob("templates/*")):
        if path.is_file() and path.suffix in (".yaml", ".tpl", ".yml"):
            yield path, path.read_text()


def test_every_release_is_rendered_with_its_registered_inputs(prod: StackRun) -> None:
    releases = {release.chart: release for release in helm_releases(prod)}
    assert set(releases) == {"cert-manager", "cloudnative-pg", "plugin-barman-cloud", "kube-prometheus-stack"}
    cnpg = releases["cloudnative-pg"]
    assert (cnpg.name, cnpg.namespace) == ("cloudnative-pg", "cnpg-system")
    assert cnpg.values["config"]["clusterWide"] is True
    config_map = next(
        item.obj
        for item in render_release(cnpg, stack_kubernetes_version(prod))
        if item.obj["kind"] == "ConfigMap" and item.obj["metadata"]["name"] == "cnpg-controller-manager-config"
    )
    assert config_map["metadata"]["namespace"] == "cnpg-system"
    assert config_map["data"]["INSTANCES_ROLLOUT_DELAY"] == cnpg.values["config"]["data"]["INSTANCES_ROLLOUT_DELAY"]


def test_prod_render_holds_the_operators_and_is_valid_on_every_supported_version(
    prod_objects: dict[str, list[ChartObject]],
) -> None:
    objects = _objects(prod_objects)
    deployments = {(obj["metadata"]["namespace"], obj["metadata"]["name"]) for obj in objects if obj["kind"] == "Deployment"}
    assert {
        ("cert-manager", "cert-manager"),
        ("cert-manager", "cert-manager-webhook"),
        ("cnpg-system", "cloudnative-pg"),
        ("cnpg-system", "plugin-barman-cloud"),
        ("monitoring", "kube-prometheus-stack-operator"),
    } <= deployments
    assert len(objects) >= 60
    # CRDs validate against apiextensions.k8s.io/v1; custom resources against the CRDs the charts install.
    custom_resources = crd_schemas(objects)
    assert {("cert-manager.io/v1", "Certificate"), ("monitoring.coreos.com/v1", "PrometheusRule")} <= set(custom_resources)
    for version in SUPPORTED_VERSIONS:
        assert [problem for obj in objects for problem in validate_object(obj, version, custom_resources)] == [], version


def test_an_invalid_chart_object_is_reported(prod_objects: dict[str, list[ChartObject]]) -> None:
    objects = _objects(prod_objects)
    deployment = next(obj for obj in objects if obj["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    certificate = next(obj for obj in objects if obj["kind"] == "Certificate")
    broken_certificate = {**certificate, "spec": {**certificate["spec"], "dnsName": ["x"]}}

    assert validate_object(broken, "1.35") and validate_object(broken_certificate, "1.35", crd_schemas(objects))


def test_namespaced_objects_carry_the_release_namespace(prod_objects: dict[str, list[ChartObject]]) -> None:
    objects = _objects(prod_objects)
    namespaced = [obj for obj in objects if obj["kind"] in {"ServiceAccount", "Service", "ConfigMap", "Deployment"}]
    assert namespaced and all(obj["metadata"].get("namespace") for obj in namespaced)
    assert all("namespace" not in obj["metadata"] for obj in objects if obj["kind"] == "ClusterRole")
    # An object whose namespace was set is written as what it now is.
    for items in prod_objects.values():
        for item in items:
            assert helm_values_from_yaml(item.text)["metadata"].get("namespace") == item.obj["metadata"].get("namespace")


def test_cert_manager_issues_the_prometheus_operators_webhook_certificate(
    prod_objects: dict[str, list[ChartObject]],
) -> None:
    objects = [item.obj for item in prod_objects["operators-kube-prometheus-stack"]]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    # No certgen Job, nor its RBAC: nothing of the chart runs by tag (tests/policies/test_policy_images.py).
    assert "Job" not in by_kind
    assert not [obj for obj in objects if obj["metadata"]["name"] == "kube-prometheus-stack-admission" and "Role" in obj["kind"]]
    (operator,) = [obj for obj in by_kind["Deployment"] if obj["metadata"]["name"] == "kube-prometheus-stack-operator"]
    (mounted,) = [v["secret"]["secretName"] for v in operator["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    (certificate,) = [obj for obj in by_kind["Certificate"] if obj["spec"]["secretName"] == mounted]
    assert "--web.cert-file=/cert/tls.crt" in operator["spec"]["template"]["spec"]["containers"][0]["args"]
    # Its issuer is the chart's CA Issuer, whose CA the chart's self-signed Issuer signs.
    issuers = {obj["metadata"]["name"]: obj["spec"] for obj in by_kind["Issuer"]}
    ca_secret = issuers[certificate["spec"]["issuerRef"]["name"]]["ca"]["secretName"]
    (root,) = [obj for obj in by_kind["Certificate"] if obj["spec"]["secretName"] == ca_secret]
    assert root["spec"]["isCA"] is True and "selfSigned" in issuers[root["spec"]["issuerRef"]["name"]]
    # cainjector puts the CA into both webhook configurations; a failed call is ignored, as with the Jobs.
    injected_from = f"monitoring/{certificate['metadata']['name']}"
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        (webhooks,) = by_kind[kind]
        assert webhooks["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == injected_from, kind
        assert {hook["failurePolicy"] for hook in webhooks["webhooks"]} == {"Ignore"}, kind


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_chart_copies_are_the_pinned_versions(stack: str, stack_runs: dict[str, StackRun]) -> None:
    for release in helm_releases(stack_runs[stack]):
        chart_yaml = yaml.safe_load((release.chart_dir / "Chart.yaml").read_text())
        assert (chart_yaml["name"], str(chart_yaml["version"])) == (release.chart, release.version)


def test_a_version_without_a_copy_is_refused(prod: StackRun) -> None:
    release = dataclasses.replace(_release(prod, "plugin-barman-cloud"), version="0.6.0")

    with pytest.raises(ChartError, match=r"pins 0\.6\.0, the copy .* is 0\.7\.0"):
        render_release(release, "1.35")


def test_values_the_chart_does_not_declare_are_refused(prod: StackRun) -> None:
    cnpg = _release(prod, "cloudnative-pg")
    typo = dataclasses.replace(cnpg, values={**cnpg.values, "config": {**cnpg.values["config"], "clusterWid": True}})

    with pytest.raises(ChartError, match=r"values the chart does not declare: config\.clusterWid$"):
        render_release(typo, "1.35")


def test_undeclared_values_walks_subcharts_and_free_form_maps(prod: StackRun) -> None:
    monitoring_stack = _release(prod, "kube-prometheus-stack")
    declared = {"config": {"data": {}, "create": True}, "grafana": {"sidecar": {"label": "x"}}, "tolerations": []}
    passed = {
        "config": {"data": {"ANY_OPERATOR_SETTING": "1"}, "creat": True},
        "grafana": {"sidecar": {"label": "y", "labels": "z"}},
        "tolerations": [{"key": "k"}],
    }

    assert undeclared_values(passed, declared) == ["config.creat", "grafana.sidecar.labels"]
    misspelt = {**monitoring_stack.values, "grafana": {**monitoring_stack.values["grafana"], "sidecarr": {}}}
    with pytest.raises(ChartError, match=r"grafana\.sidecarr"):
        render_release(dataclasses.replace(monitoring_stack, values=misspelt), "1.35")


def test_a_cached_render_is_the_fresh_render_and_other_inputs_render_afresh(
    prod: StackRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = _release(prod, "plugin-barman-cloud")
    fresh = render_release(plugin, "1.35")
    assert cached_render_release(plugin, "1.35", tmp_path) == fresh
    assert len(list(tmp_path.glob("plugin-barman-cloud-*.json"))) == 1

    renders: list[HelmRelease] = []

    def recorded(release: HelmRelease, kubernetes_version: str) -> list[ChartObject]:
        renders.append(release)
        return fresh

    monkeypatch.setattr(charts, "render_release", recorded)
    assert cached_render_release(plugin, "1.35", tmp_path) == fresh
    assert renders == []  # read back, not rendered
    cached_render_release(dataclasses.replace(plugin, values={**plugin.values, "replicaCount": 2}), "1.35", tmp_path)
    cached_render_release(plugin, "1.34", tmp_path)
    assert len(renders) == 2 and len(list(tmp_path.glob("*.json"))) == 3

    monkeypatch.undo()
    with pytest.raises(ChartError, match=r"values\.schema\.json"):  # a refused release is not kept
        cached_render_release(dataclasses.replace(plugin, values={"replicaCount": "two"}), "1.35", tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 3 and not list(tmp_path.glob("*.tmp"))


def test_the_cache_keeps_each_charts_most_recently_used_renders(
    prod: StackRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin, cnpg = _release(prod, "plugin-barman-cloud"), _release(prod, "cloudnative-pg")
    monkeypatch.setattr(charts, "render_release", lambda release, kubernetes_version: [])
    monkeypatch.setattr(charts, "CACHED_RENDERS_PER_CHART", 2)

    def digests() -> set[str]:
        return {path.name.removeprefix("plugin-barman-cloud-")[:8] for path in tmp_path.glob("plugin-barman-cloud-*.json")}

    named: dict[str, str] = {}
    for version in ("1.33", "1.34", "1.33", "1.35"):  # 1.33 used again after 1.34
        before = digests()
        cached_render_release(plugin, version, tmp_path)
        cached_render_release(cnpg, version, tmp_path)
        named.setdefault(version, next(iter(digests() - before), ""))
        time.sleep(0.05)  # apart in file times
    assert digests() == {named["1.33"], named["1.35"]}  # 1.34, the least recently used, went
    assert len(list(tmp_path.glob("cloudnative-pg-*.json"))) == 2


def test_values_the_schema_rejects_are_refused(prod: StackRun) -> None:
    plugin = dataclasses.replace(_release(prod, "plugin-barman-cloud"), values={"replicaCount": "two"})

    with pytest.raises(ChartError, match=r"values\.schema\.json"):
        render_release(plugin, "1.35")


def test_a_kubernetes_version_the_chart_refuses_is_refused(prod: StackRun) -> None:
    assert satisfies_kube_version(">=1.29.0-0", "1.35")
    assert not satisfies_kube_version(">=1.29.0-0", "1.28")

    with pytest.raises(ChartError, match=r"Kubernetes 1\.28 does not satisfy the chart's kubeVersion '>=1\.29\.0-0'"):
        render_release(_release(prod, "cloudnative-pg"), "1.28")


def test_capability_probes_get_the_clusters_answer() -> None:
    probes = {probe for _, text in _template_sources() for probe in re.findall(r'APIVersions\.Has "([^"]+)"', text)}
    assert probes == set(CLUSTER_SERVES), "a chart probes a new API version: add the cluster's answer to CLUSTER_SERVES"
    for probe, served in CLUSTER_SERVES.items():
        assert helm_template_value(f'{{{{ .Capabilities.APIVersions.Has "{probe}" }}}}') == str(served).lower(), probe
    # Kubernetes-version checks in templates decide the same for Helm's default version and the stack's.
    default_version = helm_template_value("{{ .Capabilities.KubeVersion.Major }}.{{ .Capabilities.KubeVersion.Minor }}")
    constraints = {c for _, text in _template_sources() for c in re.findall(r'semverCompare "([^"]+)"', text)}
    assert constraints
    for constraint in constraints:
        answers = {satisfies_kube_version(constraint, version) for version in [default_version, *SUPPORTED_VERSIONS]}
        assert len(answers) == 1, constraint
