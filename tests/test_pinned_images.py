"""The images settings/images.py pins are the ones the render runs: PgBouncer in every Pooler, the Barman
Cloud sidecar (by digest) in the plugin's ConfigMap as Helm renders it from the chart copy."""

from __future__ import annotations

import re

from offline.charts import render_releases
from offline.engine import StackRun
from settings.images import BARMAN_CLOUD_SIDECAR_DIGESTS, PGBOUNCER_IMAGE

POOLER = "kubernetes:postgresql.cnpg.io/v1:Pooler"
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


def test_every_pooler_runs_the_pinned_pgbouncer(shipped: StackRun) -> None:
    poolers = shipped.of_type(POOLER)
    assert len(poolers) == 2
    for pooler in poolers:
        spec = pooler.inputs["spec"]
        assert spec["pgbouncer"]["image"] == PGBOUNCER_IMAGE
        # An image in the pod template would take precedence over spec.pgbouncer.image (Pooler CRD).
        assert all("image" not in container for container in spec["template"]["spec"]["containers"])


def test_pgbouncer_has_the_cve_fixes() -> None:
    # CVE-2026-6664 to -6668 are fixed in PgBouncer 1.25.2; CNPG 1.30 defaults to 1.25.1.
    match = re.search(r":(\d+)\.(\d+)\.(\d+)", PGBOUNCER_IMAGE)
    assert match, PGBOUNCER_IMAGE
    assert tuple(int(part) for part in match.groups()) >= (1, 25, 2)


def test_pgbouncer_is_pinned_by_digest() -> None:
    assert DIGEST.search(PGBOUNCER_IMAGE)
