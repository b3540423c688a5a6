"""Assertions on policy reports that print the whole report when they fail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from offline.policy_client import EnforcementLevel, PolicyReport, Violation

from .synthetic import SyntheticStack


class Analyze(Protocol):
    """The ``analyze`` fixture: the policy config of the stack's environment (``config.<environment>.json``) unless ``config``."""

    def __call__(self, stack: SyntheticStack, config: Mapping[str, Any] | None = None) -> PolicyReport: ...


def flagged(report: PolicyReport, policy: str, urn: str, level: EnforcementLevel = EnforcementLevel.MANDATORY) -> Violation:
    """The one violation of ``policy`` on ``urn``, at ``level``."""
    found = [v for v in report.of_policy(policy) if v.urn == urn]
    assert len(found) == 1, f"expected one {policy} violation on {urn}, got:\n{report.describe()}"
    assert found[0].enforcement_level == level, report.describe(found)
    return found[0]


def passes(report: PolicyReport, policy: str) -> None:
    assert not report.of_policy(policy), report.describe(report.of_policy(policy))


def only(report: PolicyReport, policy: str, urn: str, level: EnforcementLevel = EnforcementLevel.MANDATORY) -> Violation:
    """``flagged``, and nothing else in the report: the change trips exactly one policy."""
    violation = flagged(report, policy, urn, level)
    assert report.violations == (violation,), report.describe()
    return violation
