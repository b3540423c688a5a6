"""Where the stack's Azure resources go and how they are tagged: the arguments every Azure component takes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class AzureScope:
    # The stack's own resource group (Naming creates it).
    resource_group_name: pulumi.Input[str]
    location: str
    tags: Mapping[str, str]
