"""Every object the program's Helm releases put in the cluster, rendered offline by Helm's own engine.

Each ``kubernetes:helm.sh/v3:Release`` the program registers is rendered from the chart copy in
``charts/`` (see charts/SOURCES.md) with exactly its registered chart, version, values, release name
and namespace, by the Helm v4 SDK embedded in ``helm-python-sdk``. As ``helm install`` does, the
objects are the CRDs of the chart's ``crds/`` directories, then the templates (hooks included), and
the release namespace is set on namespaced objects that name none.

Before rendering, the release is checked the way Helm would refuse it, and for mistakes Helm lets
through: the registered version must be the copy's Chart.yaml version, the stack's Kubernetes version
must satisfy the chart's ``kubeVersion``, the values must pass the chart's values.schema.json, and
every key the program passes must be declared in the chart's (or subchart's) values.yaml.

Rendering the four releases is a third of a warm offline render, and their inputs rarely change:
``render_releases(run, cache_dir)`` keeps each release's objects in ``cache_dir`` under a digest of
everything the render and its checks read (the chart copy's files, the registered inputs, the stack's
Kubernetes version, the Helm SDK version and this module's code). Only renders that passed the checks
are kept, so a cached release was checked exactly as a fresh render would be, and only the most
recently used few per chart.

Capabilities: helm-python-sdk 0.2.2 renders with Helm's default capabilities (Kubernetes v1.36.0,
built-in API versions only) and has no option to change them. tests/test_charts.py lists every
``.Capabilities`` probe in the chart copies and checks that Helm's default answer is the one the
stack's cluster gives.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from offline.engine import PROJECT_DIR, StackRun

CHARTS_DIR = PROJECT_DIR / "charts"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
CACHED_RENDERS_PER_CHART = 6  # the shipped stacks' values and a few being edited
CLUSTER_TYPE = "azure-native:containerservice:ManagedCluster"

# Helm's manifest separator (SplitManifests: "(?:^|\s*\n)---\s*", "---" at a line start, need not end the
# line), anchored so that it does not rescan whitespace: 12x faster, same documents.
_DOCUMENT_SEPARATOR = re.compile(r"^---\s*", re.MULTILINE)

_UNSAFE_FILE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]")  # e.g. the ":" in "cert-manager:leaderelection"
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# Built-in kinds that are not namespaced (custom kinds take their scope from their CRD).
_CLUSTER_SCOPED_BUILTIN_KINDS = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "PriorityClass",
        "StorageClass",
        "PersistentVolume",
        "IngressClass",
        "APIService",
    }
)


# Values a chart's templates read that its values.yaml shows only commented out, so Helm's defaults
# lack the key: kube-prometheus-stack 88.5.3 `# priorityClassName: ""` under prometheusOperator
# (templates/prometheus-operator/deployment.yaml), at the top of its grafana (templates/_pod.tpl) and
# kube-state-metrics (templates/deployment.yaml) subcharts, and grafana's `# useExistingRole:` under
# rbac (templates/rolebinding.yaml); cert-manager v1.21.1's `# tag:` and `# digest:` under each image
# (controller, webhook, cainjector, acmesolver, startupapicheck; templates/_helpers.tpl cert-manager.image).
# Declared here, by chart.
_CERT_MANAGER_IMAGE = {"image": {"tag": "", "digest": ""}}
COMMENTED_OUT_VALUES: dict[str, dict[str, Any]] = {
    "cert-manager": {
        **_CERT_MANAGER_IMAGE,
        **dict.fromkeys(("webhook", "cainjector", "acmesolver", "startupapicheck"), _CERT_MANAGER_IMAGE),
    },
    "kube-prometheus-stack": {
        "prometheusOperator": {"priorityClassName": ""},
        "grafana": {"priorityClassName": "", "rbac": {"useExistingRole": ""}},
        "kube-state-metrics": {"priorityClassName": ""},
    }
}


def _with_commented_out(declared: Mapping[str, Any], commented: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(declared)
    for key, value in commented.items():
        merged[key] = _with_commented_out(merged.get(key) or {}, value) if isinstance(value, Mapping) else value
    return merged


class ChartError(Exception):
    """A release the program registers does not match its chart copy."""


@dataclass(frozen=True)
class HelmRelease:
    """What the program asks Helm to install (registered inputs of one Release)."""

    resource_name: str
    chart: str
    version: str
    name: str
    namespace: str
    values: dict[str, Any]

    @property
    def chart_dir(self) -> Path:
        return CHARTS_DIR / self.chart


def _plain(value: Any) -> Any:
    """Pulumi sends every number as a double; Helm receives the program's integers as integers."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def helm_releases(run: StackRun) -> list[HelmRelease]:
    return [
        HelmRelease(
            resource_name=r.name,
            chart=r.inputs["chart"],
            version=r.inputs["version"],
            name=r.inputs["name"],
            namespace=r.inputs["namespace"],
            values=_plain(r.inputs.get("values") or {}),
        )
        for r in run.registrations
        if r.type == RELEASE_TYPE
    ]


def stack_kubernetes_version(run: StackRun) -> str:
    """The AKS cluster's Kubernetes version ("1.35"), as the program registers it."""
    versions = {r.inputs["kubernetesVersion"] for r in run.registrations if r.type == CLUSTER_TYPE}
    if len(versions) != 1:
        raise ChartError(f"expected one AKS cluster with a kubernetesVersion, found {sorted(versions)}")
    return versions.pop()


def undeclared_values(passed: Mapping[str, Any], declared: Mapping[str, Any], path: str = "") -> list[str]:
    """Keys in ``passed`` that ``declared`` (the chart's default values) does not have.

    A map the chart declares empty (``{}``) is free-form, and lists are not looked into.
    """
    problems = []
    for key, value in passed.items():
        key_path = f"{path}.{key}" if path else key
        if key not in declared:
            problems.append(key_path)
        elif isinstance(value, Mapping) and isinstance(declared[key], Mapping) and declared[key]:
            problems += undeclared_values(value, declared[key], key_path)
    return problems


def _probe_chart(template: str) -> helm.Chart:
    """A throw-away chart with one template, so that Helm's own template functions answer a question."""
    files = {"probe/Chart.yaml": "apiVersion: v2\nname: probe\nversion: 0.0.0\n", "probe/templates/probe": template}
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return helm.Chart.load_archive(archive.getvalue())


def helm_template_value(template: str, values: Mapping[str, Any] | None = None) -> str:
    """What Helm's engine (default capabilities) renders ``template`` to, e.g. ``{{ .Capabilities.KubeVersion }}``."""
    with _probe_chart(template) as probe:
        return probe.render(dict(values or {}))["probe/templates/probe"]


def cluster_semver(kubernetes_version: str) -> str:
    """The version the API server reports for an AKS ``kubernetesVersion`` ("1.35" or "1.35.2"): a minor runs
    some patch, so "1.35" is checked as its first, "1.35.0"."""
    return kubernetes_version if kubernetes_version.count(".") == 2 else f"{kubernetes_version}.0"


def satisfies_kube_version(constraint: str, kubernetes_version: str) -> bool:
    """Helm's check of a chart's ``kubeVersion`` (Masterminds semver, as ``helm install`` applies it)."""
    answer = helm_template_value(
        "{{ semverCompare .Values.constraint .Values.version }}",
        {"constraint": constraint, "version": cluster_semver(kubernetes_version)},
    )
    return answer == "true"


@dataclass(frozen=True)
class ChartObject:
    """One object of a release, and the YAML it is written as (Helm's own text unless the namespace was set)."""

    obj: dict[str, Any]
    text: str


def _objects(text: str) -> Iterator[ChartObject]:
    # Helm's own YAML reader (the one install uses): 5x faster here than PyYAML on the charts' 6 MB of CRDs.
    for document in _DOCUMENT_SEPARATOR.split(text):
        obj = helm.values_from_yaml(document) if document.strip() else None
        if obj:
            yield ChartObject(obj, document.strip() + "\n")


def check_release(release: HelmRelease, chart: helm.Chart, kubernetes_version: str) -> None:
    """Raise ChartError if the chart copy is not the pinned version, or refuses the stack or the values."""
    label = f"release {release.resource_name} (chart {release.chart})"
    if chart.version != release.version:
        raise ChartError(f"{label}: the program pins {release.version}, the copy in {release.chart_dir} is {chart.version}")
    constraint = chart.metadata.get("kubeVersion")
    if constraint and not satisfies_kube_version(constraint, kubernetes_version):
        raise ChartError(f"{label}: Kubernetes {kubernetes_version} does not satisfy the chart's kubeVersion {constraint!r}")
    try:
        chart.validate_schema(release.values)
    except helm.HelmValuesError as error:
        raise ChartError(f"{label}: values rejected by values.schema.json: {error}") from error
    declared = _with_commented_out(chart.merge_values({}), COMMENTED_OUT_VALUES.get(release.chart, {}))
    undeclared = undeclared_values(release.values, declared)
    if undeclared:
        raise ChartError(f"{label}: values the chart does not declare: {', '.join(undeclared)}")


def render_release(release: HelmRelease, kubernetes_version: str) -> list[ChartObject]:
    """The objects ``helm install`` creates for ``release``: CRDs first, then templates in Helm's order."""
    if not (release.chart_dir / "Chart.yaml").is_file():
        raise ChartError(f"release {release.resource_name}: no copy of chart {release.chart!r} in {CHARTS_DIR}")
    with helm.Chart.load(release.chart_dir) as chart:
        check_release(release, chart, kubernetes_version)
        crds = [obj for crd in chart.crds for obj in _objects(crd["data"])]
        manifests = chart.render(release.values, name=release.name, namespace=release.namespace)
    templates = [
        obj for path, text in sorted(manifests.items()) if path.endswith((".yaml", ".yml", ".json")) for obj in _objects(text)
    ]
    return [*crds, *templates]


def _with_release_namespace(item: ChartObject, namespace: str, cluster_scoped: set[str]) -> ChartObject:
    metadata = item.obj.get("metadata") or {}
    if item.obj["kind"] in cluster_scoped or metadata.get("namespace"):
        return item
    obj = {**item.obj, "metadata": {**metadata, "namespace": namespace}}
    return ChartObject(obj, yaml.dump(obj, Dumper=_YAML_DUMPER, sort_keys=False))


def _render_digest(release: HelmRelease, kubernetes_version: str) -> str:
    digest = hashlib.sha256()
    inputs = {
        "release": [release.chart, release.version, release.name, release.namespace, release.values],
        "kubernetes": kubernetes_version,
        "helm-python-sdk": importlib.metadata.version("helm-python-sdk"),
    }
    digest.update(json.dumps(inputs, sort_keys=True).encode())
    digest.update(Path(__file__).read_bytes())
    for path in sorted(release.chart_dir.rglob("*")):
        if path.is_file():
            digest.update(f"\0{path.relative_to(release.chart_dir)}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def cached_render_release(release: HelmRelease, kubernetes_version: str, cache_dir: Path) -> list[ChartObject]:
    """``render_release``, from ``cache_dir`` when these exact inputs were rendered before."""
    if not (release.chart_dir / "Chart.yaml").is_file():
        return render_release(release, kubernetes_version)  # the error names the missing copy
    entry = cache_dir / f"{release.chart}-{_render_digest(release, kubernetes_version)}.json"
    try:
        cached = json.loads(entry.read_text())
    except (FileNotFoundError, ValueError):  # never rendered, pruned meanwhile by a parallel render, or damaged
        pass
    else:
        entry.touch()  # recently used: kept by the pruning below
        return [ChartObject(item["obj"], item["text"]) for item in cached]
    items = render_release(release, kubernetes_version)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: a concurrent render (parallel tests) reads a whole entry or none.
    with tempfile.NamedTemporaryFile("w", dir=cache_dir, suffix=".tmp", delete=False) as partial:
        json.dump([{"obj": item.obj, "text": item.text} for item in items], partial)
    os.replace(partial.name, entry)
    _prune(cache_dir, release.chart)
    return items


def _prune(cache_dir: Path, chart: str) -> None:
    """Keep the chart's most recently used renders (an entry of kube-prometheus-stack is 7 MB)."""
    entries = []
    for path in cache_dir.glob(f"{chart}-*.json"):
        if not re.fullmatch(rf"{re.escape(chart)}-[0-9a-f]{{64}}\.json", path.name):
            continue  # another chart whose name starts with this one's
        with contextlib.suppress(FileNotFoundError):  # pruned meanwhile by a parallel render
            entries.append((path.stat().st_mtime, path))
    for _, stale in sorted(entries, reverse=True)[CACHED_RENDERS_PER_CHART:]:
        stale.unlink(missing_ok=True)


def render_releases(run: StackRun, cache_dir: Path | None = None) -> dict[str, list[ChartObject]]:
    """Objects per release (keyed by the Release's resource name), every one with its namespace set;
    with ``cache_dir``, each release rendered before with the same inputs is read from there.

    Raises ChartError when a release does not match its chart copy (see ``check_release``).
    """
    kubernetes_version = stack_kubernetes_version(run)
    rendered = [
        (
            release,
            render_release(release, kubernetes_version)
            if cache_dir is None
            else cached_render_release(release, kubernetes_version, cache_dir),
        )
        for release in helm_releases(run)
    ]
    cluster_scoped = set(_CLUSTER_SCOPED_BUILTIN_KINDS)
    for _, items in rendered:
        cluster_scoped.update(
            item.obj["spec"]["names"]["kind"]
            for item in items
            if item.obj["kind"] == "CustomResourceDefinition" and item.obj["spec"]["scope"] == "Cluster"
        )
    return {
        release.resource_name: [_with_release_namespace(item, release.namespace, cluster_scoped) for item in items]
        for release, items in rendered
    }


def manifest_file_name(index: int, obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    parts = [f"{index:03d}", obj["kind"].lower(), metadata.get("namespace", "cluster"), metadata.get("name", "unnamed")]
    return _UNSAFE_FILE_NAME_CHARACTERS.sub("-", "-".join(str(part) for part in parts)) + ".yaml"


def write_chart_manifests(rendered: Mapping[str, list[ChartObject]], out: Path) -> int:
    """Write ``out/<release>/<NNN-kind-namespace-name>.yaml``, one object per file; return the object count."""
    for release_name, items in rendered.items():
        folder = out / release_name
        folder.mkdir(parents=True)
        for index, item in enumerate(items, 1):
            (folder / manifest_file_name(index, item.obj)).write_text(item.text)
    return sum(len(items) for items in rendered.values())
