"""Alerts reach people: every alert the stack defines is routed to a receiver."""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from .common import as_list, depends_through, label, lookup, of_type, plain, stack_policy, text
from .resource_types import ACTION_GROUP, HELM_RELEASE, PROMETHEUS_RULE, PROMETHEUS_RULE_GROUP

KUBE_PROMETHEUS_STACK = "kube-prometheus-stack"
# kube-prometheus-stack's default receiver, which discards everything.
NULL_RECEIVER = "null"


def _has_receiver(action_group: Any) -> bool:
    return any(as_list(value) for key, value in action_group.items() if key.endswith("Receivers"))


def _alertmanager_routes(release: Any) -> bool:
    """Whether a kube-prometheus-stack release's Alertmanager sends alerts to a receiver that delivers them."""
    config = lookup(release, "values", "alertmanager", "config")
    receiver = text(lookup(config, "route", "receiver"))
    if receiver in (None, NULL_RECEIVER):
        return False
    return any(
        lookup(entry, "name") == receiver and any(key.endswith("_configs") and as_list(value) for key, value in entry.items())
        for entry in as_list(lookup(config, "receivers"))
    )


def _validate_routing(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    props = {resource.urn: plain(resource.props) for resource in args.resources}
    reachable = [group for group in of_type(args.resources, ACTION_GROUP) if _has_receiver(props[group.urn])]
    azure_routed = False
    for group in of_type(args.resources, PROMETHEUS_RULE_GROUP):
        alerts = [rule for rule in as_list(props[group.urn].get("rules")) if lookup(rule, "alert")]
        if not alerts:
            continue
        unrouted = [str(lookup(rule, "alert")) for rule in alerts if not as_list(lookup(rule, "actions"))]
        routed_to_people = any(depends_through(group, "rules", action_group) for action_group in reachable)
        if unrouted or not routed_to_people:
            shown = ", ".join(unrouted) if unrouted else "its alerts"
            report_violation(
                f"{label(group.resource_type, group.name)}: {shown} fire(s) into the Azure portal only: give every "
                "alert rule an action naming an action group with at least one receiver (e-mail, webhook, ...).",
                group.urn,
            )
        else:
            azure_routed = True
    if azure_routed:
        return  # The in-cluster rules evaluate the same alerts; Azure delivers them.
    in_cluster: list[PolicyResource] = of_type(args.resources, PROMETHEUS_RULE)
    stacks = [
        release for release in of_type(args.resources, HELM_RELEASE) if props[release.urn].get("chart") == KUBE_PROMETHEUS_STACK
    ]
    if in_cluster and not any(_alertmanager_routes(props[release.urn]) for release in stacks):
        where = stacks[0] if stacks else in_cluster[0]
        report_violation(
            f"{label(where.resource_type, where.name)}: the in-cluster alert rules reach no one: route "
            "alertmanager.config to a receiver that delivers (not kube-prometheus-stack's default 'null'), "
            "or route them through Azure Monitor.",
            where.urn,
        )


ALERT_ROUTING_POLICIES = [
    stack_policy(
        "alerts-routed",
        "Every alert rule of the stack is routed to a receiver that reaches people.",
        _validate_routing,
    ),
]
