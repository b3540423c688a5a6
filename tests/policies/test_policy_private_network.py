"""Private networking policies: storage behind a private endpoint answers no public network, internal
load balancers stay internal."""

from __future__ import annotations

import pytest

from .baseline import STORAGE_ACCOUNT_ID, compliant_stack
from .expectations import Analyze, flagged, only
from .synthetic import Resource, SyntheticStack

ANNOTATIONS = "spec.managed.services.additional.0.serviceTemplate.metadata.annotations"
INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal"
STATIC_IP = "service.beta.kubernetes.io/azure-load-balancer-ipv4"


def _private_storage_stack() -> SyntheticStack:
    endpoint = Resource(
        "azure-native:network:PrivateEndpoint",
        "blob-endpoint",
        {
            "resourceGroupName": "rg-cnpg",
            "privateLinkServiceConnections": [{"name": "blob", "privateLinkServiceId": STORAGE_ACCOUNT_ID, "groupIds": ["blob"]}],
        },
        sources={"privateLinkServiceConnections": ["storage-account"]},
    )
    return compliant_stack("prod").with_value("storage-account", "publicNetworkAccess", "Disabled").plus(endpoint)


def _internal_lb(annotations: dict[str, str], spec: dict[str, object] | None = None) -> Resource:
    return Resource(
        "kubernetes:core/v1:Service",
        "private-lb",
        {
            "metadata": {"name": "pg-internal", "annotations": annotations},
            "spec": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.50.0.0/16"], **(spec or {})},
        },
    )


def test_private_storage_stack_is_accepted(analyze: Analyze) -> None:
    assert analyze(_private_storage_stack()).violations == ()


@pytest.mark.parametrize("access", ["Enabled", None])
def test_storage_behind_a_private_endpoint_with_public_access_is_refused(analyze: Analyze, access: str | None) -> None:
    stack = _private_storage_stack().with_value("storage-account", "publicNetworkAccess", access)
    violation = only(analyze(stack), "storage-private-endpoint-only", stack.urn("storage-account"))
    assert "blob-endpoint" in violation.message and "'Disabled'" in violation.message


def test_endpoint_found_by_id_when_no_dependency_is_recorded(analyze: Analyze) -> None:
    stack = _private_storage_stack().with_sources("blob-endpoint", {}).with_value("storage-account", "publicNetworkAccess", None)
    stack = stack.with_value("storage-account", "id", STORAGE_ACCOUNT_ID)
    only(analyze(stack), "storage-private-endpoint-only", stack.urn("storage-account"))


def test_internal_service_is_accepted(analyze: Analyze) -> None:
    stack = compliant_stack().plus(_internal_lb({INTERNAL: "true", STATIC_IP: "10.20.15.250"}))
    assert analyze(stack).violations == ()


@pytest.mark.parametrize(
    "annotations",
    [
        {STATIC_IP: "10.20.15.250"},
        {"service.beta.kubernetes.io/azure-load-balancer-internal-subnet": "snet-nodes"},
        {INTERNAL: "false", STATIC_IP: "10.20.15.250"},
    ],
)
def test_private_address_without_the_internal_annotation_is_refused(analyze: Analyze, annotations: dict[str, str]) -> None:
    stack = compliant_stack().plus(_internal_lb(annotations))
    violation = only(analyze(stack), "internal-load-balancer-private", stack.urn("private-lb"))
    assert "public load balancer" in violation.message


@pytest.mark.parametrize(
    "public",
    [
        {"service.beta.kubernetes.io/azure-pip-name": "pip-pg"},
        {"service.beta.kubernetes.io/azure-dns-label-name": "pg-cnpg"},
    ],
)
def test_internal_service_with_a_public_frontend_is_refused(analyze: Analyze, public: dict[str, str]) -> None:
    stack = compliant_stack().plus(_internal_lb({INTERNAL: "true", **public}))
    # A named public IP of this stack is also refused by public-ip-behind-load-balancer.
    violation = flagged(analyze(stack), "internal-load-balancer-private", stack.urn("private-lb"))
    assert next(iter(public)) in violation.message


def test_internal_service_with_a_public_load_balancer_ip_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().plus(_internal_lb({INTERNAL: "true"}, {"loadBalancerIP": "20.1.2.3"}))
    only(analyze(stack), "internal-load-balancer-private", stack.urn("private-lb"))
