"""The images settings/images.py pins are the ones the render runs: PgBouncer in every Pooler, the Barman
Cloud sidecar (by digest) in the plugin's ConfigMap as Helm renders it from the chart copy, and every
operator and monitoring digest of the stack's releases in the rendered chart objects."""

from __future__ import annotations

import re

from offline.charts import render_releases
from offline.engine import StackRun
from settings.images import (
    BARMAN_CLOUD_PLUGIN_DIGESTS,
    BARMAN_CLOUD_SIDECAR_DIGESTS,
    CERT_MANAGER_DIGESTS,
    CNPG_OPERATOR_DIGESTS,
    KUBE_PROMETHEUS_STACK_DIGESTS,
    PGBOUNCER_IMAGE,
)

POOLER = "kubernetes:postgresql.cnpg.io/v1:Pooler"
RELEASE = "kubernetes:helm.sh/v3:Release"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
SIDECAR_REPOSITORY = "ghcr.io/cloudnative-pg/plugin-barman-cloud-sidecar"


def _rendered_sidecar_image(run: StackRun) -> str:
    (config_map,) = (
        item.obj
        for items in render_releases(run).values()
        for item in items
        if item.obj["kind"] == "ConfigMap" and "SIDECAR_IMAGE" in (item.obj.get("data") or {})
    )
    return config_map["data"]["SIDECAR_IMAGE"]


def test_the_sidecar_runs_the_plugin_release_by_digest(shipped: StackRun) -> None:
    image = _rendered_sidecar_image(shipped)
    assert image == f"{SIDECAR_REPOSITORY}:v0.14.0@{BARMAN_CLOUD_SIDECAR_DIGESTS['v0.14.0']}"
    assert DIGEST.search(image), image


IMAGE_CATALOG = "kubernetes:postgresql.cnpg.io/v1:ImageCatalog"


def test_every_pooler_runs_the_pinned_pgbouncer(shipped: StackRun) -> None:
    poolers = shipped.of_type(POOLER)
    assert len(poolers) == 2
    for pooler in poolers:
        spec = pooler.inputs["spec"]
        # From the cluster's ImageCatalog, whose componentImages holds the pinned PgBouncer.
        reference = spec["pgbouncer"]["imageCatalogRef"]
        assert "image" not in spec["pgbouncer"]
        catalog = next(c for c in shipped.of_type(IMAGE_CATALOG) if c.inputs["metadata"]["name"] == reference["name"])
        components = {entry["key"]: entry["image"] for entry in catalog.inputs["spec"]["componentImages"]}
        assert components[reference["key"]] == PGBOUNCER_IMAGE
        assert (reference["apiGroup"], reference["kind"]) == ("postgresql.cnpg.io", "ImageCatalog")
        # An image in the pod template would take precedence over the catalog's (Pooler CRD).
        assert all("image" not in container for container in spec["template"]["spec"]["containers"])


def test_pgbouncer_has_the_cve_fixes() -> None:
    # CVE-2026-6664 to -6668 are fixed in PgBouncer 1.25.2; CNPG 1.30 defaults to 1.25.1.
    match = re.search(r":(\d+)\.(\d+)\.(\d+)", PGBOUNCER_IMAGE)
    assert match, PGBOUNCER_IMAGE
    assert tuple(int(part) for part in match.groups()) >= (1, 25, 2)


def test_pgbouncer_is_pinned_by_digest() -> None:
    assert DIGEST.search(PGBOUNCER_IMAGE)


def _release(run: StackRun, name: str) -> dict:
    return run.one(RELEASE, name).inputs


def test_the_render_runs_every_pinned_operator_digest(shipped: StackRun) -> None:
    # One changed digest in settings/images.py is one changed image in the render: each lands in the
    # chart objects (image fields, arguments, environment), whatever chart value carries it.
    cnpg = _release(shipped, "operators-cnpg")["values"]["image"]["tag"].split("@")[0]
    plugin = _release(shipped, "operators-barman-cloud")["values"]["image"]["tag"].split("@")[0]
    cert_manager = _release(shipped, "operators-cert-manager")["version"]
    monitoring = _release(shipped, "operators-kube-prometheus-stack")["version"]
    rendered = "\n".join(str(item.obj) for items in render_releases(shipped).values() for item in items)
    wanted = {
        f"cloudnative-pg:{cnpg}@{CNPG_OPERATOR_DIGESTS[cnpg]}",
        f"plugin-barman-cloud:{plugin}@{BARMAN_CLOUD_PLUGIN_DIGESTS[plugin]}",
        *(
            f"cert-manager-{component}:{cert_manager}@{digest}"
            for component, digest in CERT_MANAGER_DIGESTS[cert_manager].items()
        ),
        *(f"@{digest}" for digest in KUBE_PROMETHEUS_STACK_DIGESTS[monitoring].values()),
    }
    assert len(wanted) == 15
    assert sorted(reference for reference in wanted if reference not in rendered) == []
