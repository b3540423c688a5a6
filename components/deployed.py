"""What this stack's last deployment exported, read back by the checks that refuse a change AKS or
Kubernetes cannot make in place (a rename of the database, a node pool's VM size)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi


def own_outputs(name: str, parent: pulumi.Resource) -> pulumi.Output[Mapping[str, Any]]:
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
