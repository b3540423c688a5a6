"""The PostgreSQL ``ImageCatalog`` a CNPG Cluster takes its image from (``spec.imageCatalogRef``).

The Cluster names the catalog and a major; CNPG runs the catalog's image of that major (cloudnative-pg
v1.30.0 internal/controller/cluster_image.go). So a minor update is a new image in the catalog (CNPG rolls
the instances when the catalog changes), and a major upgrade a higher ``major`` in the Cluster's reference,
with the catalog listing that major's image. A namespaced ImageCatalog, one per Cluster and named after
it: a ClusterImageCatalog would be shared by every Cluster of the AKS cluster, so one database's image
update would roll every database on that major.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from settings.images import PGBOUNCER_IMAGE

CNPG_GROUP = "postgresql.cnpg.io"
IMAGE_CATALOG_KIND = "ImageCatalog"
# The PgBouncer entry of a catalog's componentImages.
PGBOUNCER_KEY = "pgbouncer"


def image_catalog_name(cluster_name: str) -> str:
    """The ImageCatalog of ``cluster_name`` (its restore and drill clusters read it too, as they run its image)."""
    return f"{cluster_name}-postgresql"


def image_catalog_ref(catalog_name: str, major: int) -> dict[str, Any]:
    """``spec.imageCatalogRef``: the image of ``major`` in the namespace's ImageCatalog ``catalog_name``."""
    return {"apiGroup": CNPG_GROUP, "kind": IMAGE_CATALOG_KIND, "name": catalog_name, "major": major}


def catalog_spec(images: Mapping[int, str]) -> dict[str, Any]:
    """``spec`` of an ImageCatalog listing ``images`` (major -> image), lowest major first, and the cluster's
    other images (``componentImages``: PgBouncer, which its Poolers take by ``pgbouncer_catalog_ref``)."""
    return {
        "images": [{"major": major, "image": image} for major, image in sorted(images.items())],
        "componentImages": [{"key": PGBOUNCER_KEY, "image": PGBOUNCER_IMAGE}],
    }


def pgbouncer_catalog_ref(cluster_name: str) -> dict[str, Any]:
    """A Pooler's ``spec.pgbouncer.imageCatalogRef``: the PgBouncer image of its cluster's catalog
    (cloudnative-pg v1.30.0: an ImageCatalog's componentImages, by key)."""
    return {"apiGroup": CNPG_GROUP, "kind": IMAGE_CATALOG_KIND, "name": image_catalog_name(cluster_name), "key": PGBOUNCER_KEY}


def image_catalog(
    resource_name: str,
    *,
    name: str,
    namespace: str,
    spec: pulumi.Input[dict[str, Any]],
    provider: pulumi.ProviderResource,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource],
) -> k8s.apiextensions.CustomResource:
    """An ImageCatalog (``spec``: ``catalog_spec``); a Cluster that references it depends on it."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=f"{CNPG_GROUP}/v1",
        kind=IMAGE_CATALOG_KIND,
        metadata={"name": name, "namespace": namespace},
        spec=spec,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on)),
    )
