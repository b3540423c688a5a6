"""Backup storage is not reachable from every network, in fact and not only in name."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ResourceValidationArgs

from .cidrs import RANGE_BREADTH_SCHEMA, range_problems
from .common import Report, as_list, for_types, label, lookup, resource_policy, text
from .resource_types import STORAGE_ACCOUNT

# A virtual network rule admits one subnet (with the Microsoft.Storage service endpoint).
_SUBNET_SEGMENT = "/subnets/"


def _exceptions(args: ResourceValidationArgs) -> list[str]:
    """The rules that let a Deny default admit everyone anyway."""
    rules = lookup(args.props, "networkRuleSet")
    problems = [
        f"networkRuleSet.ipRules entry {problem}"
        for problem in range_problems([lookup(rule, "iPAddressOrRange") for rule in as_list(lookup(rules, "ipRules"))], args)
    ]
    for index, rule in enumerate(as_list(lookup(rules, "virtualNetworkRules"))):
        subnet = text(lookup(rule, "virtualNetworkResourceId"))
        if subnet is not None and _SUBNET_SEGMENT not in subnet.lower():
            problems.append(f"networkRuleSet.virtualNetworkRules[{index}] '{subnet}' is not one subnet")
    for index, rule in enumerate(as_list(lookup(rules, "resourceAccessRules"))):
        if "*" in str(lookup(rule, "resourceId")) or "*" in str(lookup(rule, "tenantId")):
            problems.append(f"networkRuleSet.resourceAccessRules[{index}] admits every resource instance (a wildcard)")
    return problems


@for_types(STORAGE_ACCOUNT)
def _denied_by_default(args: ResourceValidationArgs, report: Report) -> None:
    if lookup(args.props, "publicNetworkAccess") == "Disabled":
        return  # Reached through private endpoints only.
    where = label(args.resource_type, args.name)
    action = lookup(args.props, "networkRuleSet", "defaultAction")
    if action != "Deny":
        report(
            f"{where}: networkRuleSet.defaultAction is {action!r}, so the account's "
            "data plane answers every network. Deny by default and admit the cluster's node subnet with a virtual "
            "network rule (service endpoint Microsoft.Storage) or a private endpoint: IP rules do not match traffic "
            "from the same Azure region, which reaches the account from private addresses."
        )
    for problem in _exceptions(args):
        report(f"{where}: {problem}, so the Deny default denies in name only; admit only the cluster's node subnet.")


STORAGE_NETWORK_POLICIES = [
    resource_policy(
        "storage-network-deny-by-default",
        "Storage accounts deny network access by default, with no rule that admits everyone anyway.",
        _denied_by_default,
        # Advisory until the cluster's nodes sit in a subnet this program owns: a deny now would cut off backups.
        level=EnforcementLevel.ADVISORY,
        settings=RANGE_BREADTH_SCHEMA,
    ),
]
