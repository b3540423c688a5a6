"""The offline render runs as a process on both stacks and writes a complete, secret-free picture."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from offline.engine import StackRun
from offline.graph import component_edges, dependency_edges, resource_edges, transitive_reduction
from offline.render import manifest, manifest_files
from tests.k8s_schema import validate_object
from tests.test_settings import SHIPPED_PLACEHOLDERS

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _render(stack: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "offline.render", "--stack", stack, "--out", str(out), *extra],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def render_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, str]]:
    """The render of a shipped stack and its console output, one process per stack for the whole module."""
    done: dict[str, tuple[Path, str]] = {}

    def render(stack: str) -> tuple[Path, str]:
        if stack not in done:
            out = tmp_path_factory.mktemp(stack)
            result = _render(stack, out)
            assert result.returncode == 0, result.stdout + result.stderr
            done[stack] = out, result.stdout
        return done[stack]

    return render


@pytest.fixture(scope="module", params=["dev", "prod"])
def rendered(request: pytest.FixtureRequest, render_of: Callable[[str], tuple[Path, str]]) -> tuple[str, Path]:
    out, console = render_of(request.param)
    assert "policy verdict PASS" in console
    return request.param, out


def test_render_writes_every_artefact(rendered: tuple[str, Path]) -> None:
    _, out = rendered
    for name in ("resources.json", "graph.mmd", "graph-components.mmd", "summary.md", "policy-report.md"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert list((out / "manifests").glob("*.yaml"))


def test_resources_json_lists_every_resource_with_its_graph_data(rendered: tuple[str, Path]) -> None:
    _, out = rendered
    resources = json.loads((out / "resources.json").read_text())
    urns = {r["urn"] for r in resources}
    assert len(urns) == len(resources)
    cluster = next(r for r in resources if r["type"] == "kubernetes:postgresql.cnpg.io/v1:Cluster")
    assert cluster["provider"] in urns and cluster["parent"] in urns
    # Besides registered resources, the Cluster depends on the stack's own outputs (read, not registered):
    # its archive folder follows the deployed major (components/cluster/major_upgrade.py).
    registered_dependencies = {urn for urn in cluster["dependencies"] if "$pulumi:pulumi:StackReference::" not in urn}
    assert registered_dependencies <= urns and len(registered_dependencies) >= 5
    assert cluster["inputs"]["spec"]["instances"] == 3


def test_no_secret_value_in_any_file(rendered: tuple[str, Path]) -> None:
    _, out = rendered
    text = "\n".join(path.read_text() for path in out.rglob("*") if path.is_file())
    secret = next(r for r in json.loads((out / "resources.json").read_text()) if r["name"] == "database-app-credentials")[
        "inputs"
    ]["stringData"]
    assert secret == {"username": "[secret]", "password": "[secret]"}
    assert "BEGIN CERTIFICATE" not in text and "mock-token" not in text
    assert "postgresql://app:" not in text


def test_manifests_are_one_valid_object_per_file(rendered: tuple[str, Path]) -> None:
    _, out = rendered
    files = sorted((out / "manifests").glob("*.yaml"))
    kinds = set()
    for path in files:
        obj = yaml.safe_load(path.read_text())
        kinds.add(obj["kind"])
        assert validate_object(obj, "1.35") == [], path.name
    assert {"Namespace", "Secret", "ObjectStore", "Cluster", "ScheduledBackup", "PodMonitor", "PrometheusRule"} <= kinds


def test_graph_and_summary(rendered: tuple[str, Path]) -> None:
    _, out = rendered
    graph = (out / "graph.mmd").read_text()
    assert graph.startswith("flowchart LR") and "-->" in graph and "subgraph" in graph
    summary = (out / "summary.md").read_text()
    assert "## Critical path" in summary and "ManagedCluster" in summary and "Duration assumptions" in summary
    assert "| `readWriteUri` | [secret] | secret |" in summary
    report = (out / "policy-report.md").read_text()
    assert "Verdict: **PASS**" in report


_EDGE = re.compile(r"^\s*(n\d+) --> (n\d+)$", re.MULTILINE)


def test_graph_has_at_most_eight_edges_per_five_resources(rendered: tuple[str, Path]) -> None:
    # The reduced graph stays readable (dev: 113 edges for 75 resources; unreduced, 200).
    _, out = rendered
    resources = [r for r in json.loads((out / "resources.json").read_text()) if r["custom"]]
    edges = _EDGE.findall((out / "graph.mmd").read_text())
    assert edges and len(edges) <= 1.6 * len(resources), (len(edges), len(resources))


def _closure(edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Every (a, b) with a path from a to b."""
    successors: dict[str, set[str]] = {}
    for a, b in edges:
        successors.setdefault(a, set()).add(b)
    pairs = set()
    for start in successors:
        seen: set[str] = set()
        frontier = [start]
        while frontier:
            for nxt in successors.get(frontier.pop(), set()) - seen:
                seen.add(nxt)
                frontier.append(nxt)
        pairs |= {(start, end) for end in seen}
    return pairs


def test_graph_keeps_every_dependency_reachable_without_implied_edges(shipped: StackRun) -> None:
    full = dependency_edges(shipped.registrations)
    drawn = resource_edges(shipped)
    assert drawn < full  # something was implied, and nothing was invented
    assert _closure(drawn) == _closure(full)
    assert all(_closure(drawn - {edge}) != _closure(full) for edge in drawn)  # every arrow drawn is needed


def test_transitive_reduction_drops_implied_edges_even_around_a_cycle() -> None:
    assert transitive_reduction({("a", "b"), ("b", "c"), ("a", "c")}) == {("a", "b"), ("b", "c")}
    assert transitive_reduction({("a", "b"), ("b", "a"), ("b", "c"), ("a", "c")}) in (
        {("a", "b"), ("b", "a"), ("b", "c")},
        {("a", "b"), ("b", "a"), ("a", "c")},
    )


def test_component_graph_has_one_node_per_top_level_component(rendered: tuple[str, Path]) -> None:
    _, out = rendered
    resources = json.loads((out / "resources.json").read_text())
    urns = {r["urn"] for r in resources}
    top_level = sorted(r["name"] for r in resources if r["parent"] not in urns)
    graph = (out / "graph-components.mmd").read_text()
    nodes = re.findall(r'^  n\d+\["([^<"]+)<br/>', graph, re.MULTILINE)
    assert sorted(nodes) == top_level and {"aks", "database", "operators"} <= set(nodes)
    assert 0 < len(_EDGE.findall(graph)) <= len(nodes) * 2


def test_component_edges_follow_resource_dependencies(dev: StackRun) -> None:
    names = {r.urn: r.name for r in dev.registrations}
    edges = {(names[a], names[b]) for a, b in component_edges(dev)}
    assert ("cluster-access", "operators") in edges and ("operators", "database") in edges
    assert ("database", "naming") not in edges


def test_manifests_read_like_kubectl_output(rendered: tuple[str, Path]) -> None:
    _, out = rendered
    files = sorted(path.name for path in (out / "manifests").glob("*.yaml"))
    assert not any(name[0].isdigit() for name in files)  # no registration-order prefix that shifts
    assert "podmonitor.monitoring.coreos.com-cnpg-database-pg-primary.yaml" in files
    assert "cluster-cnpg-database-pg-primary.yaml" in files  # unqualified where the kind is unambiguous
    for name in files:
        keys = list(yaml.safe_load((out / "manifests" / name).read_text()))
        assert keys[:3] == ["apiVersion", "kind", "metadata"], (name, keys)


def test_manifest_key_order_and_group_qualified_names() -> None:
    obj = {
        "status": {},
        "spec": {"b": 1, "a": 2},
        "metadata": {"namespace": "ns", "name": "x"},
        "kind": "K",
        "apiVersion": "g/v1",
    }
    assert list(manifest(obj)) == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert list(manifest(obj)["metadata"]) == ["name", "namespace"] and list(manifest(obj)["spec"]) == ["a", "b"]
    other = {**obj, "apiVersion": "other.io/v1"}
    core = {**obj, "kind": "Secret", "apiVersion": "v1"}
    assert list(manifest_files([obj, other, core])) == ["k.g-ns-x.yaml", "k.other.io-ns-x.yaml", "secret-ns-x.yaml"]
    with pytest.raises(ValueError, match=r"written to k-ns-x\.yaml"):
        manifest_files([obj, dict(obj)])


def test_summary_flags_placeholders_and_mock_values(rendered: tuple[str, Path]) -> None:
    stack, out = rendered
    summary = (out / "summary.md").read_text()
    top = summary.split("## ", 1)[0]
    assert f"Not deployable as is: {len(SHIPPED_PLACEHOLDERS[stack])} settings still hold placeholders" in top
    assert all(path in top for path in SHIPPED_PLACEHOLDERS[stack])
    if stack == "dev":  # prod ships private: no public address
        assert re.search(r"\| `publicIpAddress` \| `\"[0-9.]+\"` \| \*\*mock\*\* \|", summary)
    assert "| `resourceGroupName` |" in summary and '| `databaseName` | `"appdb"` | program |' in summary
    resources = json.loads((out / "resources.json").read_text())
    custom = sum(1 for r in resources if r["custom"] and not r["type"].startswith("pulumi:providers:"))
    components = sum(1 for r in resources if not r["custom"])
    assert f"Total: {custom} resources, 1 provider, {components} components." in summary


def test_console_line_counts_and_flags_placeholders(render_of: Callable[[str], tuple[Path, str]]) -> None:
    _, console = render_of("dev")
    first = console.splitlines()[0]
    assert re.match(
        r"render: stack 'dev': \d+ resources, 1 provider, \d+ components, policy verdict PASS, "
        r"NOT DEPLOYABLE: 2 placeholder settings -> ",
        first,
    ), first


def test_render_rejects_invalid_settings_with_a_clear_message(tmp_path: Path) -> None:
    broken = tmp_path / "Pulumi.broken.yaml"
    config = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    config["config"]["aks-postgres-ha:backup"]["schedule"] = "0 2 * * *"
    broken.write_text(yaml.safe_dump(config))
    result = _render("dev", tmp_path / "out", "--stack-file", str(broken))
    assert result.returncode == 2
    assert "backup.schedule: '0 2 * * *'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


BAD_STACK_FILES = [
    ("not YAML", 'config:\n  aks-postgres-ha:zones: ["1", "2"\n  aks-postgres-ha:location: x\n', ":3: invalid YAML"),
    (
        "duplicate key",
        "config:\n  aks-postgres-ha:location: swedencentral\n  aks-postgres-ha:location: westeurope\n",
        ":3: mapping key 'aks-postgres-ha:location' already defined at line 2",
    ),
    ("config as a list", "config:\n  - aks-postgres-ha:location\n", ":2: config: must be a mapping"),
    (
        "alias bomb",
        "config:\n  aks-postgres-ha:tags:\n    a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        + "".join(f"    a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]\n" for n in range(1, 10)),
        ":3: YAML aliases expand beyond the bound of the Pulumi CLI's YAML reader",
    ),
]


@pytest.mark.parametrize(("case", "text", "expected"), BAD_STACK_FILES, ids=[case for case, _, _ in BAD_STACK_FILES])
def test_render_refuses_a_bad_stack_file_in_one_line(tmp_path: Path, case: str, text: str, expected: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = _render("dev", tmp_path / "out", "--stack-file", str(bad))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and f"{bad}{expected}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_render_rejects_an_unknown_stack(tmp_path: Path) -> None:
    result = _render("staging", tmp_path)
    assert result.returncode == 2 and "Pulumi.staging.yaml" in result.stderr


def test_render_takes_a_patch_kubernetes_version(tmp_path: Path) -> None:
    # The settings accept 1.35.2; the charts' kubeVersion check must read it as is, not as 1.35.2.0.
    stack_file = tmp_path / "Pulumi.dev.yaml"
    config = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    config["config"]["aks-postgres-ha:aks"]["kubernetesVersion"] = "1.35.2"
    stack_file.write_text(yaml.safe_dump(config))
    result = _render("dev", tmp_path / "out", "--stack-file", str(stack_file))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_render_takes_a_secure_value_as_the_cli_hands_it_over(tmp_path: Path) -> None:
    # README's webhook step (pulumi config set --secret --path alerting.webhookUrl) writes {secure: v1:...}.
    stack_file = tmp_path / "Pulumi.prod.yaml"
    config = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    config["config"]["aks-postgres-ha:alerting"]["webhookUrl"] = {"secure": "v1:c2FsdA==:Y2lwaGVydGV4dA=="}
    stack_file.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    result = _render("prod", out, "--stack-file", str(stack_file))
    assert result.returncode == 0, result.stderr
    assert "aks-postgres-ha:alerting holds a secure value the offline render cannot decrypt" in (out / "summary.md").read_text()
    assert not [path for path in out.rglob("*") if path.is_file() and "secret-placeholder" in path.read_text()]
