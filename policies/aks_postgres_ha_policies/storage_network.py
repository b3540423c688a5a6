"""Backup storage is not reachable from every network."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ResourceValidationArgs

from .common import Report, for_types, label, lookup, resource_policy
from .resource_types import STORAGE_ACCOUNT


@for_types(STORAGE_ACCOUNT)
def _denied_by_default(args: ResourceValidationArgs, report: Report) -> None:
    if lookup(args.props, "publicNetworkAccess") == "Disabled":
        return  # Reached through private endpoints only.
    action = lookup(args.props, "networkRuleSet", "defaultAction")
    if action != "Deny":
        report(
            f"{label(args.resource_type, args.name)}: networkRuleSet.defaultAction is {action!r}, so the account's "
            "data plane answers every network. Deny by default and admit the cluster's node subnet with a virtual "
            "network rule (service endpoint Microsoft.Storage) or a private endpoint: IP rules do not match traffic "
            "from the same Azure region, which reaches the account from private addresses."
        )


STORAGE_NETWORK_POLICIES = [
    resource_policy(
        "storage-network-deny-by-default",
        "Storage accounts deny network access by default (virtual network rules or private endpoints admit clients).",
        _denied_by_default,
        # Advisory until the cluster's nodes sit in a subnet this program owns: a deny now would cut off backups.
        level=EnforcementLevel.ADVISORY,
    ),
]
