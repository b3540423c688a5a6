"""The offline render runs as a process on both stacks and writes a complete, secret-free picture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.k8s_schema import validate_object

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _render(stack: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "offline.render", "--stack", stack, "--out", str(out), *extra],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module", params=["dev", "prod"])
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp(request.param)
    result = _render(request.param, out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "policy verdict PASS" in result.stdout
    return request.param, out


def test_render_writes_every_artefact(rendered: tuple[str, Path]) -> None:
    _, out = rendered
    for name in ("resources.json", "graph.mmd", "summary.md", "policy-report.md"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert list((out / "manifests").glob("*.yaml"))


def test_resources_json_lists_every_resource_with_its_graph_data(rendered: tuple[str, Path]) -> None:
    _, out = rendered
    resources = json.loads((out / "resources.json").read_text())
    urns = {r["urn"] for r in resources}
    assert len(urns) == len(resources)
    cluster = next(r for r in resources if r["type"] == "kubernetes:postgresql.cnpg.io/v1:Cluster")
    assert cluster["provider"] in urns and cluster["parent"] in urns
    assert set(cluster["dependencies"]) <= urns and len(cluster["dependencies"]) >= 5
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
    assert "| `kubeconfig` | [secret] |" in summary
    report = (out / "policy-report.md").read_text()
    assert "Verdict: **PASS**" in report


def test_render_rejects_invalid_settings_with_a_clear_message(tmp_path: Path) -> None:
    broken = tmp_path / "Pulumi.broken.yaml"
    config = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    config["config"]["aks-postgres-ha:backup"]["schedule"] = "0 2 * * *"
    broken.write_text(yaml.safe_dump(config))
    result = _render("dev", tmp_path / "out", "--stack-file", str(broken))
    assert result.returncode == 2
    assert "backup.schedule: '0 2 * * *'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_render_rejects_an_unknown_stack(tmp_path: Path) -> None:
    result = _render("staging", tmp_path)
    assert result.returncode == 2 and "Pulumi.staging.yaml" in result.stderr
