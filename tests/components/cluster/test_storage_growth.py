"""A smaller volume is refused up front; a larger one renders as an in-place change.

CNPG expands the PVCs when ``spec.storage.size``/``walStorage.size`` grow (``resizeInUseVolumes`` defaults to
true, cnpg v1.30.0 config/crd/bases/postgresql.cnpg.io_clusters.yaml); Kubernetes refuses a smaller PVC request.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from pulumi import RunError

import offline.render
from offline.engine import StackRun, run_stack
from tests.test_settings import _section

P = "aks-postgres-ha:"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
NAMES = {"postgresNamespace": "cnpg-database", "postgresClusterName": "pg-primary"}


def _deployed(data: str, wal: str) -> dict[str, Any]:
    return {**NAMES, "postgresStorageSizes": {"dataSize": data, "walSize": wal}}


def _grown(**storage: str) -> dict[str, Any]:
    postgres = _section("prod", "postgres")
    return {P + "postgres": {**postgres, "storage": {**postgres.get("storage", {}), **storage}}}


def test_the_volume_sizes_are_exported_for_the_next_deployment(shipped: StackRun) -> None:
    spec = shipped.one(CNPG_CLUSTER, "database-cluster").inputs["spec"]
    assert shipped.outputs["postgresStorageSizes"] == {"dataSize": spec["storage"]["size"], "walSize": spec["walStorage"]["size"]}
    # Nothing in the spec keeps CNPG from resizing the PVCs in use (its default is true).
    assert spec["storage"].get("resizeInUseVolumes", True) and spec["walStorage"].get("resizeInUseVolumes", True)


def test_a_larger_volume_renders_as_an_in_place_change(prod: StackRun) -> None:
    before = prod.one(CNPG_CLUSTER, "database-cluster")
    run = run_stack("prod", _grown(dataSize="128Gi", walSize="32Gi"), deployed_outputs=_deployed("64Gi", "16Gi"))
    after = run.one(CNPG_CLUSTER, "database-cluster")
    assert after.urn == before.urn and after.inputs["metadata"] == before.inputs["metadata"]
    assert (after.inputs["spec"]["storage"]["size"], after.inputs["spec"]["walStorage"]["size"]) == ("128Gi", "32Gi")


def test_unchanged_sizes_and_a_first_deployment_pass() -> None:
    for deployed in (NAMES, _deployed("64Gi", "16Gi"), _deployed("65536Mi", "16Gi")):
        spec = run_stack("prod", deployed_outputs=deployed).one(CNPG_CLUSTER, "database-cluster").inputs["spec"]
        assert spec["storage"]["size"] == "64Gi"


def test_a_smaller_volume_is_refused_before_the_namespace_or_cluster() -> None:
    with pytest.raises(RunError) as raised:
        run_stack("prod", _grown(walSize="8Gi"), deployed_outputs=_deployed("64Gi", "16Gi"))
    assert str(raised.value) == (
        "postgres.storage.walSize: '8Gi', but this stack's volumes are '16Gi'; a PersistentVolumeClaim can grow but "
        "never shrink: keep at least the deployed size"
    )
    registered = [r.name for r in raised.value.registrations]  # type: ignore[attr-defined]
    assert "database-namespace" not in registered and "database-cluster" not in registered


def test_the_render_refuses_a_smaller_volume_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    # The render of a live stack whose volumes are larger than Pulumi.prod.yaml asks for.
    monkeypatch.setattr(offline.render, "run_stack", functools.partial(run_stack, deployed_outputs=_deployed("128Gi", "16Gi")))
    assert offline.render.main(["--stack", "prod", "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error == (
        "render: stack 'prod': postgres.storage.dataSize: '64Gi', but this stack's volumes are '128Gi'; a "
        "PersistentVolumeClaim can grow but never shrink: keep at least the deployed size\n"
    )
    assert not (tmp_path / "out").exists()
