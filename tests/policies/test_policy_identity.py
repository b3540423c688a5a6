"""Identity policies: narrow role scopes, and control-plane identities never used by workloads."""

from __future__ import annotations

import pytest

from .baseline import GROUP, SUBSCRIPTION, compliant_stack
from .expectations import Analyze, only
from .synthetic import UNKNOWN

CONTROL_PLANE = "control-plane-identity"


@pytest.mark.parametrize(
    "scope",
    [SUBSCRIPTION, f"{SUBSCRIPTION}/", "/", "/providers/Microsoft.Management/managementGroups/platform"],
)
def test_broad_role_scope_is_refused(analyze: Analyze, scope: str) -> None:
    stack = compliant_stack().with_value("control-plane-network", "scope", scope)
    violation = only(analyze(stack), "role-assignment-scope", stack.urn("control-plane-network"))
    assert repr(scope) in violation.message


def test_resource_group_scope_is_accepted(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("control-plane-network", "scope", GROUP)
    assert analyze(stack).violations == ()


def test_control_plane_identity_with_a_federated_credential_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_sources("cluster-credential", {"resourceName": [CONTROL_PLANE], "issuer": ["aks"]})
    violation = only(analyze(stack), "identity-separation", stack.urn(CONTROL_PLANE))
    assert "cluster-credential" in violation.message and "control-plane identity of ManagedCluster 'aks'" in violation.message


def test_control_plane_identity_with_storage_access_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_sources("backup-writer", {"scope": ["backup-container"], "principalId": [CONTROL_PLANE]})
    assert "backup-writer" in only(analyze(stack), "identity-separation", stack.urn(CONTROL_PLANE)).message


def test_sharing_is_found_by_name_when_no_dependency_was_recorded(analyze: Analyze) -> None:
    # A credential on "mi-aks" written as a literal name, and the cluster naming the identity by ID.
    stack = (
        compliant_stack()
        .with_value("cluster-credential", "resourceName", "mi-aks")
        .with_sources("cluster-credential", {"issuer": ["aks"]})
        .with_sources("aks", {})
    )
    only(analyze(stack), "identity-separation", stack.urn(CONTROL_PLANE))


def test_sharing_is_found_in_preview_when_identity_ids_are_unknown(analyze: Analyze) -> None:
    stack = (
        compliant_stack()
        .with_value("aks", "identity.userAssignedIdentities", [UNKNOWN])
        .with_value("backup-writer", "principalId", UNKNOWN)
        .with_sources("backup-writer", {"scope": ["backup-container"], "principalId": [CONTROL_PLANE]})
    )
    only(analyze(stack), "identity-separation", stack.urn(CONTROL_PLANE))
