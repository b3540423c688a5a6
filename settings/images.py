"""Container images the program pins itself, beyond the charts' own and the stack files' PostgreSQL
image: one line each, so a minor update is one changed line. tests/test_pinned_images.py checks that
the render runs exactly these.

Digests come from outside this repository (no registry is reachable from the offline render):
re-check one before pinning it with `crane digest <image>` or `docker buildx imagetools inspect <image>`.
"""

from __future__ import annotations

# PgBouncer of the CNPG Poolers (Pooler spec.pgbouncer.image). CloudNativePG 1.30's default is 1.25.1
# (pkg/versions/versions.go), which CVE-2026-6664 to -6668 affect; 1.25.2 fixes them. The tag is rebuilt,
# so public pins of it differ: this digest is the one three unrelated public projects pull by digest in
# their CI (another names sha256:3610a667... as a later build). No registry is reachable from here:
# re-check it as above before the first deployment, and take the tag's current digest.
PGBOUNCER_IMAGE = (
    "ghcr.io/cloudnative-pg/pgbouncer:1.25.2@sha256:15c9765980546b8660ff105c06ad6ef9d2001fb9c5b31400021a1952cbe49930"
)

# The Barman Cloud sidecar image of each plugin release operators.barmanCloudPluginVersion may name. The
# plugin's release manifest names its images by tag only (Taskfile.yml manifest-internal); four unrelated
# public deployments pin this digest for v0.14.0, one reporting it running (a fifth pins sha256:b1f980db...,
# likely one platform's manifest): re-check it as above before the first deployment.
BARMAN_CLOUD_SIDECAR_DIGESTS = {
    "v0.14.0": "sha256:9880817c285c7afa4d195da2145064d21907405489ed6ec39abe59b1feb558a4",
}


def barman_cloud_sidecar_tag(plugin_version: str) -> str:
    """The plugin chart's ``sidecarImage.tag``: the chart renders ``<registry>/<repository>:<tag>``
    (templates/configmap.yaml SIDECAR_IMAGE), so ``<version>@<digest>`` pins the image by digest."""
    return f"{plugin_version}@{BARMAN_CLOUD_SIDECAR_DIGESTS[plugin_version]}"
