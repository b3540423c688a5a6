"""Storage network access: the backup account denies networks by default (mandatory in prod, which ships private)."""

from __future__ import annotations

import pytest

from offline.policy_client import EnforcementLevel

from .baseline import compliant_stack
from .expectations import Analyze, only


@pytest.mark.parametrize("action", ["Allow", None])
def test_account_open_to_every_network_is_flagged(analyze: Analyze, action: str | None) -> None:
    stack = compliant_stack("prod").with_value("storage-account", "networkRuleSet.defaultAction", action)
    violation = only(analyze(stack), "storage-network-deny-by-default", stack.urn("storage-account"), EnforcementLevel.MANDATORY)
    assert "same Azure region" in violation.message


def test_account_without_network_rules_is_flagged(analyze: Analyze) -> None:
    stack = compliant_stack("prod").without("storage-account", "networkRuleSet")
    only(analyze(stack), "storage-network-deny-by-default", stack.urn("storage-account"), EnforcementLevel.MANDATORY)


def test_private_endpoint_only_account_is_accepted(analyze: Analyze) -> None:
    stack = compliant_stack("prod").without("storage-account", "networkRuleSet")
    assert analyze(stack.with_value("storage-account", "publicNetworkAccess", "Disabled")).violations == ()
