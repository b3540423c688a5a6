"""Reading CloudNativePG objects: WAL archivers, ObjectStore references, names of Clusters."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource

from .common import as_list, kubernetes_namespace, lookup, of_type, text
from .resource_types import CNPG_CLUSTER


def wal_archivers(cluster_props: Any) -> list[Any]:
    """The enabled ``spec.plugins`` entries that archive WAL (CNPG allows at most one)."""
    return [
        plugin
        for plugin in as_list(lookup(cluster_props, "spec", "plugins"))
        if lookup(plugin, "isWALArchiver") is True and lookup(plugin, "enabled") is not False
    ]


def referenced_object_stores(cluster_props: Any) -> list[tuple[str, str]]:
    """(where, ObjectStore name) for the WAL archiver and every external cluster read through the plugin."""
    references = [
        (f"spec.plugins '{lookup(plugin, 'name')}'", lookup(plugin, "parameters", "barmanObjectName"))
        for plugin in wal_archivers(cluster_props)
    ]
    references += [
        (f"spec.externalClusters '{lookup(source, 'name')}'", lookup(source, "plugin", "parameters", "barmanObjectName"))
        for source in as_list(lookup(cluster_props, "spec", "externalClusters"))
    ]
    return [(where, name) for where, name in references if isinstance(name, str)]


def named_clusters(resources: list[PolicyResource], props: Mapping[str, Any]) -> Iterator[tuple[PolicyResource, str, str]]:
    """(Cluster, name, namespace) of every CNPG Cluster whose name is known.

    Skipped: a name computed from an output this preview cannot know yet, and a missing name
    (cnpg-federated-credentials reports that one).
    """
    for cluster in of_type(resources, CNPG_CLUSTER):
        name = text(lookup(props[cluster.urn], "metadata", "name"))
        if name is not None:
            yield cluster, name, kubernetes_namespace(props[cluster.urn])
