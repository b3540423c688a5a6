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


def _deployed(data: str, wal: str, data_class: str = "managed-csi-premium") -> dict[str, Any]:
    volumes = {"dataSize": data, "walSize": wal, "dataStorageClass": data_class, "walStorageClass": "managed-csi-premium"}
    return {**NAMES, "postgresStorage": volumes}


def _grown(**storage: Any) -> dict[str, Any]:
    postgres = _section("prod", "postgres")
    return {P + "postgres": {**postgres, "storage": {**postgres.get("storage", {}), **storage}}}


def test_the_volume_sizes_are_exported_for_the_next_deployment(shipped: StackRun) -> None:
    spec = shipped.one(CNPG_CLUSTER, "database-cluster").inputs["spec"]
    assert shipped.outputs["postgresStorage"] == {
        "dataSize": spec["storage"]["size"],
        "walSize": spec["walStorage"]["size"],
        "dataStorageClass": spec["storage"]["storageClass"],
        "walStorageClass": spec["walStorage"]["storageClass"],
    }
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


PREMIUM_V2 = {"iops": 6000, "throughputMbps": 250}


def test_premium_ssd_v2_data_volumes_get_the_storage_class_the_program_creates() -> None:
    run = run_stack("prod", _grown(premiumV2=PREMIUM_V2))
    storage_class = run.one("kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage_class.inputs == {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "premium2-disk-sc"},
        "provisioner": "disk.csi.azure.com",
        "parameters": {
            "skuName": "PremiumV2_LRS",
            "cachingMode": "None",
            "DiskIOPSReadWrite": "6000",
            "DiskMBpsReadWrite": "250",
        },
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }
    cluster = run.one(CNPG_CLUSTER, "database-cluster")
    assert cluster.inputs["spec"]["storage"]["storageClass"] == "premium2-disk-sc"
    assert cluster.inputs["spec"]["walStorage"]["storageClass"] == "managed-csi-premium"
    assert storage_class.urn in cluster.dependencies


def test_no_storage_class_without_premium_ssd_v2(shipped: StackRun) -> None:
    assert not shipped.of_type("kubernetes:storage.k8s.io/v1:StorageClass")


@pytest.mark.parametrize(
    ("disk", "expected"),
    [
        (
            {"iops": 40_000},
            "postgres.storage: premiumV2.iops: 40000, but a 64Gi Premium SSD v2 disk takes at most 32000 (500 per GiB)",
        ),
        (
            {"iops": 3000, "throughputMbps": 1000},
            "postgres.storage: premiumV2.throughputMbps: 1000, but Premium SSD v2 takes at most 0.25 MB/s per "
            "provisioned IOPS (750 for 3000)",
        ),
    ],
)
def test_premium_ssd_v2_performance_azure_refuses_is_refused(disk: dict[str, int], expected: str) -> None:
    with pytest.raises(RunError) as raised:
        run_stack("prod", _grown(premiumV2=disk))
    assert expected in str(raised.value)
    assert not raised.value.registrations  # type: ignore[attr-defined]


def test_moving_the_data_volumes_to_another_storage_class_on_a_live_stack_is_refused() -> None:
    with pytest.raises(RunError) as raised:
        run_stack("prod", _grown(premiumV2=PREMIUM_V2), deployed_outputs=_deployed("64Gi", "16Gi"))
    assert str(raised.value).startswith(
        "postgres.storage (dataStorageClass 'premium2-disk-sc'): this stack's volumes are on 'managed-csi-premium'; "
        "a PersistentVolumeClaim keeps its StorageClass"
    )
    registered = [r.name for r in raised.value.registrations]  # type: ignore[attr-defined]
    assert "database-cluster" not in registered and "database-premium-v2" not in registered
