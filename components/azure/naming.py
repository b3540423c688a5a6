"""Naming: the resource group and the random suffix that makes global names unique."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pulumi
import pulumi_random as random
from pulumi_azure_native import resources

from components.azure.scope import AzureScope
from settings import SUFFIX_LENGTH, NameScheme


@dataclass(frozen=True)
class NamingArgs:
    scheme: NameScheme
    location: str
    tags: Mapping[str, str]


class Naming(pulumi.ComponentResource):
    """Owns the stack's resource group; every other name is derived from its suffix."""

    suffix: pulumi.Output[str]
    resource_group_name: pulumi.Output[str]
    resource_group_id: pulumi.Output[str]
    # The group, location and tags every other Azure component takes.
    scope: AzureScope

    def __init__(self, name: str, args: NamingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:Naming", name, None, opts)
        self._scheme = args.scheme
        # Kept in state: the suffix (and so every global name) never changes between runs.
        suffix = random.RandomString(
            f"{name}-suffix",
            length=SUFFIX_LENGTH,
            upper=False,
            special=False,
            numeric=True,
            lower=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.suffix = suffix.result
        group = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=self.name(NameScheme.resource_group),
            location=args.location,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.resource_group_name = group.name
        self.resource_group_id = group.id
        self.scope = AzureScope(group.name, args.location, args.tags)
        self.register_outputs({"suffix": self.suffix, "resourceGroupName": self.resource_group_name})

    def name(self, rule: Callable[[NameScheme, str], str]) -> pulumi.Output[str]:
        """An Azure name from the scheme, e.g. ``naming.name(NameScheme.storage_account)``."""
        return self.suffix.apply(lambda suffix: rule(self._scheme, suffix))
