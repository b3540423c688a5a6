"""What this stack's last deployment exported, read back by the checks that refuse a change AKS or
Kubernetes cannot make in place (a rename of the database, a node pool's VM size)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from settings.platform import CLUSTERS_OUTPUT

# In each cluster's entry: its data was protected, and it runs under the one-cluster names.
PROTECTED_OUTPUT = "protected"
STACK_NAMES_OUTPUT = "stackNames"


def own_outputs(name: str, parent: pulumi.Resource | None) -> pulumi.Output[Mapping[str, Any]]:
    """The outputs of this stack's last deployment (none on its first), through a StackReference to itself.

    Whatever waits for a check of them is registered only once the check has passed, so a refused change
    touches nothing.
    """
    reference = pulumi.StackReference(
        name,
        stack_name=f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return reference.outputs


def cluster_outputs(outputs: Mapping[str, Any] | None, cluster: str) -> Mapping[str, Any] | None:
    """A platform cluster's entry in the stack's outputs (None before it was added)."""
    return ((outputs or {}).get(CLUSTERS_OUTPUT) or {}).get(cluster)
