"""Every container image the platform runs, pinned by digest in one place. One line per image and release,
so a minor update is one changed digest (and a new release one new line); components/cluster/operators.py
passes each through its chart's own digest value. PostgreSQL's is the default of postgres.image, which a
stack file may set; the program lists it in the database namespace's ImageCatalog, which the Cluster
takes its image from (components/builders/image_catalog.py). tests/test_pinned_images.py checks that the
render runs exactly these, and tests/policies/test_policy_images.py that no rendered chart object runs an
image without a digest.

Digests come from outside this repository (no registry is reachable from the offline render): each is
the multi-arch index digest public projects pin for that exact tag (the comment says which agree);
re-check one before pinning it with `crane digest <image>` or `docker buildx imagetools inspect <image>`.
"""

from __future__ import annotations

# PostgreSQL (postgres.image's default): a build-timestamped tag of CNPG's image catalog with its digest
# (plain tags are rebuilt weekly). The stacks set it too; a minor update changes tag and digest there.
POSTGRES_IMAGE = (
    "ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-standard-trixie"
    "@sha256:771f9eab5225587af259d84680cc69a5b6e374ac32bb24effafde1f3368a1241"
)

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


# The CloudNativePG operator image of each operators.cnpgOperatorVersion (chart image.tag). Two unrelated
# public projects pin this digest for 1.30.1.
CNPG_OPERATOR_DIGESTS = {
    "1.30.1": "sha256:923c267ec29636db3bee20f993d0ec4973fa22998e1adad37da79e4d32b5bc07",
}

# The Barman Cloud plugin image of each operators.barmanCloudPluginVersion (chart image.tag). Five public
# files pin this digest for v0.14.0, among them a check of the plugin's release manifest.yaml patched by
# digest (another project pins sha256:c37319ae..., with the other digests above also its own).
BARMAN_CLOUD_PLUGIN_DIGESTS = {
    "v0.14.0": "sha256:823a8893690980ba5830bbbb11196a35f695b0488db7d846abc33baebf32417c",
}

# cert-manager's images of each operators.certManagerVersion, by chart component (the image tag is the
# release). Six public files pin the controller's (five of them with these other four; one project pins
# a different set, sha256:4c2b5201... for the controller).
CERT_MANAGER_DIGESTS = {
    "v1.21.1": {
        "controller": "sha256:416a2d76870d996460e62bd7f521bf14fa017be9e3e904aab92163a331fcb61a",
        "webhook": "sha256:d8b3961b51c8c7320633f8208dc46bf88aa13804d0f7cbe48a096b2c523cee42",
        "cainjector": "sha256:ccf6b919ec0500745a47a910118f834f9636d0aac1ff221245cd2557ed8c7c98",
        "acmesolver": "sha256:dbc7cc1354f603918e7c5af7f55a0a620537394452c93a565bde75c6f48e8837",
        "startupapicheck": "sha256:d8ab6416e6e7303a86fa0a8daa82c94a8001f21c9d78eb2e7db20534e5d07ae8",
    },
}

# The images each kube-prometheus-stack release runs at the tags its values.yaml names (88.5.3: the
# Prometheus Operator and its config reloader v0.93.1, Prometheus v3.14.0-distroless, Alertmanager
# v0.34.0, the Thanos base image v0.42.4, kube-state-metrics v2.20.0, Grafana 13.2.0). A homelab's audit
# of these releases records the multi-arch index digests of the first five with their amd64 children;
# Prometheus's and Alertmanager's are also pinned by about ten other files each, Grafana's by ten, Thanos's
# by one. Grafana's dashboard sidecar k8s-sidecar 2.10.1 (grafana values sidecar.image): three
# public files pin this digest, one of them a verified image lock of quay.io/kiwigrid/k8s-sidecar:2.10.1
# that also pins the Thanos digest above. The chart's admission webhook certgen image is not run: cert-manager
# issues that webhook's certificate (components/cluster/operators.py OPERATOR_WEBHOOK_BY_CERT_MANAGER).
KUBE_PROMETHEUS_STACK_DIGESTS = {
    "88.5.3": {
        "prometheus-operator": "sha256:e52bb28fd41c98dd407c7a8cba8bdcfe7eabd7447e250afaf1fe7bb816dedbff",
        "prometheus-config-reloader": "sha256:428f088fe6fe07ab138bda92113664b04848a1dc408e4d3680a60ecdb55d1a65",
        "prometheus": "sha256:50c707e96da5ade383cb1707790576480485e93de06aa60ad8802cb5f744bd0a",
        "alertmanager": "sha256:690c7b525f4367aa91f73e2f91c632206d32e97c6384bdbf2fb7a861b420340d",
        "thanos": "sha256:b567818fe608067eb0f1d7c2c4fe361e7ad83c8a256234c97685f1d0bf670cc8",
        "kube-state-metrics": "sha256:42cfe3723a5f058171c627537fb57a3ea0f26e4380fa18555a95cb1a1b4cfc5b",
        "grafana": "sha256:3fd54ae1214669f8355f065ec9f6445d5279a3d77095ab048ca045685272429b",
        "k8s-sidecar": "sha256:7eac5c4fed714a18d038fc9fea57d8744d113367935dac0ea4eb6a87cef704a3",
    },
}


def tag_by_digest(tag: str, digests: dict[str, str]) -> str:
    """``<tag>@<digest>``, the tag value for a chart with no digest value of its own: it renders
    ``<repository>:<tag>``, so the image is pinned by digest (the tag only names it)."""
    return f"{tag}@{digests[tag]}"


def barman_cloud_sidecar_tag(plugin_version: str) -> str:
    """The plugin chart's ``sidecarImage.tag`` (templates/configmap.yaml SIDECAR_IMAGE renders
    ``<registry>/<repository>:<tag>``)."""
    return tag_by_digest(plugin_version, BARMAN_CLOUD_SIDECAR_DIGESTS)
