"""The ImageCatalog a Cluster takes its image from: one entry per major, the reference CNPG resolves."""

from components.builders.image_catalog import catalog_spec, image_catalog_name, image_catalog_ref
from tests.k8s_schema import validate_object


def test_a_catalog_lists_each_major_once_lowest_first_and_passes_the_crd() -> None:
    spec = catalog_spec({19: "ghcr.io/cloudnative-pg/postgresql:19.1@sha256:" + "9" * 64, 18: "a@sha256:" + "8" * 64})
    assert [entry["major"] for entry in spec["images"]] == [18, 19]
    catalog = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "ImageCatalog", "metadata": {"name": "c", "namespace": "n"}}
    assert validate_object({**catalog, "spec": spec}, "1.35") == []
    # The CRD's rule: one image per major.
    twice = {"images": [{"major": 18, "image": "a"}, {"major": 18, "image": "b"}]}
    assert validate_object({**catalog, "spec": twice}, "1.35")


def test_the_reference_names_the_clusters_catalog_and_major() -> None:
    assert image_catalog_ref(image_catalog_name("pg-primary"), 18) == {
        "apiGroup": "postgresql.cnpg.io",
        "kind": "ImageCatalog",
        "name": "pg-primary-postgresql",
        "major": 18,
    }
