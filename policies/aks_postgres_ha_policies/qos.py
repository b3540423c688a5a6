"""Guaranteed QoS for PostgreSQL pods: every container, the Barman Cloud sidecar included.

A pod is Guaranteed only when each of its containers (init and sidecar containers too) has cpu
and memory limits equal to its requests; the kubelet then evicts it last under node pressure.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from .cnpg_objects import named_clusters, wal_archivers
from .common import (
    Report,
    for_types,
    kubernetes_name,
    kubernetes_namespace,
    label,
    lookup,
    of_type,
    plain,
    resource_policy,
    stack_policy,
)
from .resource_types import BARMAN_OBJECT_STORE, CNPG_CLUSTER

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]*)$")
_SUFFIX_FACTORS = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
}


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity (``2``, ``1500m``, ``8Gi``) as a number, or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(value.strip()) if isinstance(value, str) else None
    if match is None or match.group(2) not in _SUFFIX_FACTORS:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIX_FACTORS[match.group(2)]
    except InvalidOperation:
        return None


def guaranteed_problems(resources: Any) -> list[str]:
    """Why a container with these ``resources`` is not Guaranteed (a missing request defaults to the limit)."""
    problems = []
    for kind in ("cpu", "memory"):
        limit, request = lookup(resources, "limits", kind), lookup(resources, "requests", kind)
        if limit is None:
            problems.append(f"limits.{kind} is not set")
        elif quantity(limit) is None:
            problems.append(f"limits.{kind} '{limit}' is not a Kubernetes quantity")
        elif request is not None and quantity(request) != quantity(limit):
            problems.append(f"requests.{kind} ({request}) differs from limits.{kind} ({limit})")
    return problems


@for_types(CNPG_CLUSTER)
def _guaranteed_instances(args: ResourceValidationArgs, report: Report) -> None:
    problems = guaranteed_problems(lookup(args.props, "spec", "resources"))
    if problems:
        report(
            f"{label(args.resource_type, args.name)}: spec.resources: {'; '.join(problems)}. Set requests equal to limits "
            "for cpu and memory, so the instances get Guaranteed QoS and the memory PostgreSQL was sized for is reserved."
        )


def _validate_sidecars(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    props = {resource.urn: plain(resource.props) for resource in args.resources}
    stores = {
        (kubernetes_namespace(props[store.urn]), kubernetes_name(props[store.urn])): store
        for store in of_type(args.resources, BARMAN_OBJECT_STORE)
    }
    for cluster, _, namespace in named_clusters(args.resources, props):
        for archiver in wal_archivers(props[cluster.urn]):
            store = stores.get((namespace, lookup(archiver, "parameters", "barmanObjectName")))
            if store is None:
                continue  # a missing ObjectStore is cnpg-backups-configured's finding
            problems = guaranteed_problems(lookup(props[store.urn], "spec", "instanceSidecarConfiguration", "resources"))
            if problems:
                report_violation(
                    f"{label(store.resource_type, store.name)}: spec.instanceSidecarConfiguration.resources: "
                    f"{'; '.join(problems)}. The Barman Cloud plugin injects its sidecar with these resources into every "
                    f"instance pod of {label(cluster.resource_type, cluster.name)}, so the pods are not Guaranteed QoS; "
                    "set requests equal to limits for cpu and memory, sized for WAL compression and upload.",
                    store.urn,
                )


QOS_POLICIES = [
    resource_policy(
        "cnpg-guaranteed-qos",
        "CNPG instances request exactly what they are limited to (Guaranteed QoS).",
        _guaranteed_instances,
    ),
    stack_policy(
        "cnpg-sidecar-guaranteed-qos",
        "The Barman Cloud sidecar in CNPG instance pods keeps them Guaranteed QoS.",
        _validate_sidecars,
    ),
]
