"""Which database cluster of a stack a drill acts on (``--cluster NAME``), and that cluster's outputs.

A platform stack runs several CNPG clusters on one AKS: each has an entry in the ``clusters`` output (plain
values: namespace, cluster name, database, hosts, ...) and in ``clusterConnectionUris`` (secret: the URIs).
A one-cluster stack also keeps its cluster's values at the top level, where the drills read them unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.cluster.database import DEPLOYED_CLUSTER_OUTPUT
from settings.platform import CLUSTERS_OUTPUT, CONNECTION_URIS_OUTPUT
from tools.drill.regional import RefusedError


def _entries(outputs: Mapping[str, Any], key: str) -> dict[str, Mapping[str, Any]]:
    value = outputs.get(key)
    if not isinstance(value, Mapping):
        return {}
    return {name: entry for name, entry in value.items() if isinstance(entry, Mapping)}


def cluster_outputs(outputs: Mapping[str, Any], name: str | None, stack: str) -> dict[str, Any]:
    """The outputs a drill reads for one database cluster of ``stack``: the stack's own (kubeconfig, location,
    resourceGroupName, ...) with cluster ``name``'s values and connection URIs in place of the top-level ones.
    Without ``name``: the top-level cluster of a one-cluster stack, or the only entry of ``clusters``.
    RefusedError (one line, exit 2) when ``name`` is not one of the stack's clusters, or when ``clusters`` has
    several entries and no ``name`` (even with top-level cluster values)."""
    clusters = _entries(outputs, CLUSTERS_OUTPUT)
    known = ", ".join(sorted(clusters))  # `pulumi stack output --json` prints map keys sorted anyway
    if name is None:
        # Before the top level: a platform's stack-named cluster (stackNames) is exported there too, yet is only one.
        if len(clusters) > 1:
            raise RefusedError(f"--cluster is required: {stack!r} runs {known}")
        if outputs.get(DEPLOYED_CLUSTER_OUTPUT) or not clusters:
            return dict(outputs)  # a one-cluster stack, as before the platform (or not deployed: refused later)
        name = next(iter(clusters))
    elif name not in clusters:
        runs = known or f"no cluster in a {CLUSTERS_OUTPUT} output (pulumi up exports it)"
        raise RefusedError(f"argument --cluster: {name!r} is not a cluster of {stack!r}; it runs {runs}")
    uris = _entries(outputs, CONNECTION_URIS_OUTPUT)
    # The top-level values of the stack-named cluster (and any other cluster's keys) must not leak into another's
    # view: a key the chosen cluster lacks (its poolers, say) stays absent.
    per_cluster = {key for entry in (*clusters.values(), *uris.values()) for key in entry}
    stack_level = {key: value for key, value in outputs.items() if key not in per_cluster}
    return {**stack_level, **clusters[name], **uris.get(name, {})}
