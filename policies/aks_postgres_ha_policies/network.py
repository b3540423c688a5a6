"""Public exposure: load balancers admit only listed client networks, public IPs sit behind them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from .cidrs import RANGE_BREADTH_SCHEMA, range_problems
from .common import (
    Report,
    as_list,
    depends_through,
    for_types,
    label,
    lookup,
    of_type,
    plain,
    resource_policy,
    stack_policy,
    text,
)
from .resource_types import CNPG_CLUSTER, CNPG_POOLER, KUBERNETES_SERVICE, MANAGED_CLUSTER, PUBLIC_IP_ADDRESS

INTERNAL_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal"
PUBLIC_IP_ANNOTATION = "service.beta.kubernetes.io/azure-pip-name"


@dataclass(frozen=True)
class LoadBalancer:
    """A Service of type LoadBalancer: a Kubernetes Service, or one CNPG manages for a Cluster or a Pooler."""

    where: str
    annotations: Any
    spec: Any

    @property
    def internal(self) -> bool:
        return str(lookup(self.annotations, INTERNAL_ANNOTATION)).lower() == "true"


def load_balancers(resource_type: str, name: str, props: Any) -> list[LoadBalancer]:
    """The LoadBalancer services a resource declares (works on proxies and on plain copies)."""
    if resource_type == KUBERNETES_SERVICE:
        services = [(label(resource_type, name), props)]
    elif resource_type == CNPG_CLUSTER:
        additional = as_list(lookup(props, "spec", "managed", "services", "additional"))
        services = [
            (
                f"managed service '{lookup(service, 'serviceTemplate', 'metadata', 'name') or index}' "
                f"(spec.managed.services.additional[{index}]) of {label(resource_type, name)}",
                lookup(service, "serviceTemplate"),
            )
            for index, service in enumerate(additional)
        ]
    elif resource_type == CNPG_POOLER:
        services = [(f"spec.serviceTemplate of {label(resource_type, name)}", lookup(props, "spec", "serviceTemplate"))]
    else:
        return []
    return [
        LoadBalancer(where, lookup(service, "metadata", "annotations"), lookup(service, "spec"))
        for where, service in services
        if lookup(service, "spec", "type") == "LoadBalancer"
    ]


@for_types(KUBERNETES_SERVICE, CNPG_CLUSTER, CNPG_POOLER)
def _restricted_sources(args: ResourceValidationArgs, report: Report) -> None:
    for balancer in load_balancers(args.resource_type, args.name, args.props):
        ranges = as_list(lookup(balancer.spec, "loadBalancerSourceRanges"))
        if not ranges and not balancer.internal:
            report(
                f"{balancer.where} is a public LoadBalancer without spec.loadBalancerSourceRanges, so it is open to the "
                "whole internet; list the client networks in loadBalancerSourceRanges, or make it internal with the "
                f'annotation {INTERNAL_ANNOTATION}: "true".'
            )
        for problem in range_problems(ranges, args):
            report(f"{balancer.where}: loadBalancerSourceRanges entry {problem}; allow only the client networks.")


def _fronts(balancer: LoadBalancer, owner: PolicyResource, address: PolicyResource, address_name: str | None) -> bool:
    """Whether ``balancer`` (declared by ``owner``) takes ``address`` as its public IP."""
    named = lookup(balancer.annotations, PUBLIC_IP_ANNOTATION)
    if isinstance(named, str) and address_name is not None:
        return named.lower() == address_name.lower()
    # A name not known yet (preview): the annotation is there and was built from the address.
    return named is not None and any(depends_through(owner, prop, address) for prop in owner.property_dependencies)


def _validate_public_ips(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    props = {resource.urn: plain(resource.props) for resource in args.resources}
    balancers = [
        (resource, balancer)
        for resource in args.resources
        for balancer in load_balancers(resource.resource_type, resource.name, props[resource.urn])
    ]
    clusters = of_type(args.resources, MANAGED_CLUSTER)
    for address in of_type(args.resources, PUBLIC_IP_ADDRESS):
        name = text(props[address.urn].get("publicIpAddressName")) or text(props[address.urn].get("name"))
        fronting = [(owner, balancer) for owner, balancer in balancers if _fronts(balancer, owner, address, name)]
        outbound = any(depends_through(cluster, "networkProfile", address) for cluster in clusters)
        if not fronting and not outbound:
            expected = f" '{name}'" if name else ""
            report_violation(
                f"{label(address.resource_type, address.name)} is not used by any LoadBalancer Service of this stack "
                f"(no {PUBLIC_IP_ANNOTATION} annotation names{expected}), so nothing here restricts who reaches it and a "
                "Service meant to use it gets an ephemeral address instead. Name it in the Service's (or CNPG managed "
                "service's) annotation, or remove it.",
                address.urn,
            )
        for owner, balancer in fronting:
            if balancer.internal:
                report_violation(
                    f'{balancer.where} is internal ({INTERNAL_ANNOTATION}: "true") but names public IP '
                    f"{label(address.resource_type, address.name)}; an internal load balancer cannot use a public IP. "
                    "Drop one of the two annotations.",
                    owner.urn,
                )


@for_types(CNPG_POOLER)
def _internal_pooler(args: ResourceValidationArgs, report: Report) -> None:
    for balancer in load_balancers(args.resource_type, args.name, args.props):
        if not balancer.internal:
            report(
                f"{balancer.where} is a public LoadBalancer: PgBouncer then answers the internet (limited only by its "
                f'source ranges); add the annotation {INTERNAL_ANNOTATION}: "true" (network.internalEndpoint).'
            )


NETWORK_POLICIES = [
    resource_policy(
        "load-balancer-source-ranges",
        "LoadBalancer services admit only listed client networks, never the whole internet.",
        _restricted_sources,
        settings=RANGE_BREADTH_SCHEMA,
    ),
    resource_policy(
        "pooler-load-balancer-internal",
        "PgBouncer Poolers are reached through internal load balancers only.",
        _internal_pooler,
    ),
    stack_policy(
        "public-ip-behind-load-balancer",
        "Every public IP fronts a LoadBalancer Service of this stack (whose source ranges are checked).",
        _validate_public_ips,
    ),
]
