"""Private networking: what a private endpoint serves answers no public network, and internal
load balancers stay internal."""

from __future__ import annotations

import ipaddress

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

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
from .network import INTERNAL_ANNOTATION, PUBLIC_IP_ANNOTATION, load_balancers
from .resource_types import CNPG_CLUSTER, CNPG_POOLER, KUBERNETES_SERVICE, PRIVATE_ENDPOINT, STORAGE_ACCOUNT

STATIC_ADDRESS_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-ipv4"
INTERNAL_SUBNET_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal-subnet"
# Annotations that give a load balancer a public frontend or a public DNS name.
PUBLIC_ANNOTATIONS = (
    PUBLIC_IP_ANNOTATION,
    "service.beta.kubernetes.io/azure-dns-label-name",
    "service.beta.kubernetes.io/azure-pip-prefix-id",
)


def _serves(endpoint_props: object, endpoint: object, account: object, account_id: str | None) -> bool:
    """Whether a private endpoint connects to ``account`` (by ID, or built from its outputs in a preview)."""
    connections = as_list(lookup(endpoint_props, "privateLinkServiceConnections"))
    targets = {text(lookup(connection, "privateLinkServiceId")) for connection in connections}
    if account_id is not None and account_id in targets:
        return True
    return depends_through(endpoint, "privateLinkServiceConnections", account)  # type: ignore[arg-type]


def _validate_private_storage(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    endpoints = of_type(args.resources, PRIVATE_ENDPOINT)
    for account in of_type(args.resources, STORAGE_ACCOUNT):
        props = plain(account.props)
        account_id = text(props.get("id"))
        served = [endpoint for endpoint in endpoints if _serves(plain(endpoint.props), endpoint, account, account_id)]
        access = props.get("publicNetworkAccess")
        if served and access != "Disabled":
            report_violation(
                f"{label(account.resource_type, account.name)} is reached through private endpoint "
                f"{label(served[0].resource_type, served[0].name)} but publicNetworkAccess is {access!r}, so its public "
                "endpoint still answers; set publicNetworkAccess to 'Disabled' (private mode).",
                account.urn,
            )


def _private_address(value: object) -> bool:
    try:
        return ipaddress.ip_address(str(value)).is_private
    except ValueError:
        return False


@for_types(KUBERNETES_SERVICE, CNPG_CLUSTER, CNPG_POOLER)
def _internal_stays_internal(args: ResourceValidationArgs, report: Report) -> None:
    for balancer in load_balancers(args.resource_type, args.name, args.props):
        meant_internal = _private_address(lookup(balancer.annotations, STATIC_ADDRESS_ANNOTATION)) or (
            lookup(balancer.annotations, INTERNAL_SUBNET_ANNOTATION) is not None
        )
        if meant_internal and not balancer.internal:
            report(
                f"{balancer.where} asks for a private address or subnet ({STATIC_ADDRESS_ANNOTATION}, "
                f'{INTERNAL_SUBNET_ANNOTATION}) without {INTERNAL_ANNOTATION}: "true", so Azure builds a public load '
                "balancer for it; add the internal annotation."
            )
        if not balancer.internal:
            continue
        public = [name for name in PUBLIC_ANNOTATIONS if lookup(balancer.annotations, name) is not None]
        if public:
            report(
                f"{balancer.where} is internal but carries {', '.join(public)}, which give it a public frontend or name; "
                "remove them (a public endpoint is a separate service)."
            )
        address = lookup(balancer.spec, "loadBalancerIP")
        if address is not None and not _private_address(address):
            report(f"{balancer.where} is internal but spec.loadBalancerIP {address!r} is a public address; use a private one.")


PRIVATE_NETWORK_POLICIES = [
    stack_policy(
        "storage-private-endpoint-only",
        "A storage account served by a private endpoint has public network access disabled.",
        _validate_private_storage,
    ),
    resource_policy(
        "internal-load-balancer-private",
        "Internal load balancers carry the internal annotation and no public IP or public DNS name.",
        _internal_stays_internal,
    ),
]
