"""Network policies: load balancers restricted to client networks, public IPs behind them."""

from __future__ import annotations

import pytest

from .baseline import compliant_stack
from .expectations import Analyze, flagged, only
from .synthetic import Resource

INTERNAL = ("metadata", "annotations", "service.beta.kubernetes.io/azure-load-balancer-internal")
MANAGED_SERVICE = "spec.managed.services.additional.0.serviceTemplate"


def _public_service(source_ranges: list[str] | None) -> Resource:
    spec: dict[str, object] = {"type": "LoadBalancer", "ports": [{"port": 5432}]}
    if source_ranges is not None:
        spec["loadBalancerSourceRanges"] = source_ranges
    return Resource("kubernetes:core/v1:Service", "public-lb", {"metadata": {"name": "pg-public"}, "spec": spec})


@pytest.mark.parametrize("source_ranges", [None, [], ["0.0.0.0/0"], ["203.0.113.0/24", "::/0"]])
def test_public_service_open_to_the_world_is_refused(analyze: Analyze, source_ranges: list[str] | None) -> None:
    stack = compliant_stack().plus(_public_service(source_ranges))
    flagged(analyze(stack), "load-balancer-source-ranges", stack.urn("public-lb"))


def test_restricted_public_service_is_accepted(analyze: Analyze) -> None:
    assert analyze(compliant_stack().plus(_public_service(["198.51.100.7/32"]))).violations == ()


def test_internal_service_may_not_be_world_open_either(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("internal-lb", "spec.loadBalancerSourceRanges", ["0.0.0.0/0"])
    only(analyze(stack), "load-balancer-source-ranges", stack.urn("internal-lb"))


def test_public_service_losing_its_internal_annotation_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("internal-lb", INTERNAL, "false")
    assert (
        "without spec.loadBalancerSourceRanges"
        in only(analyze(stack), "load-balancer-source-ranges", stack.urn("internal-lb")).message
    )


@pytest.mark.parametrize("source_ranges", [["0.0.0.0/0"], ["::/0"], []])
def test_cnpg_managed_load_balancer_open_to_the_world_is_refused(analyze: Analyze, source_ranges: list[str]) -> None:
    stack = compliant_stack().with_value("cluster", f"{MANAGED_SERVICE}.spec.loadBalancerSourceRanges", source_ranges)
    violation = only(analyze(stack), "load-balancer-source-ranges", stack.urn("cluster"))
    assert "managed service 'pg-primary-public-rw' (spec.managed.services.additional[0])" in violation.message


def test_public_ip_no_service_uses_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_value(
        "cluster",
        (*MANAGED_SERVICE.split("."), "metadata", "annotations", "service.beta.kubernetes.io/azure-pip-name"),
        "pip-other",
    )
    stack = stack.with_sources("cluster", {"spec": ["workload-identity"]})
    assert "'pip-pg'" in only(analyze(stack), "public-ip-behind-load-balancer", stack.urn("public-ip")).message


def test_public_ip_is_matched_by_dependency_when_its_name_is_unknown(analyze: Analyze) -> None:
    stack = compliant_stack().without("public-ip", "publicIpAddressName")
    assert analyze(stack).violations == ()


def test_internal_load_balancer_cannot_take_a_public_ip(analyze: Analyze) -> None:
    annotations = (*MANAGED_SERVICE.split("."), "metadata", "annotations")
    stack = compliant_stack().with_value("cluster", (*annotations, INTERNAL[-1]), "true")
    report = analyze(stack)
    violation = flagged(report, "public-ip-behind-load-balancer", stack.urn("cluster"))
    assert "cannot use a public IP" in violation.message
    # The internal service now also carries a public IP name, which internal-load-balancer-private refuses too;
    # nothing else in the report.
    internal = flagged(report, "internal-load-balancer-private", stack.urn("cluster"))
    assert "service.beta.kubernetes.io/azure-pip-name" in internal.message
    assert len(report.violations) == 2 and set(report.violations) == {violation, internal}, report.describe()
