"""The baseline stack is compliant, so each mutation in the other modules tests one policy."""

from __future__ import annotations

from offline.policy_client import EnforcementLevel

from .baseline import compliant_stack
from .expectations import Analyze


def test_compliant_stack_passes_every_policy_in_every_stack_config(analyze: Analyze) -> None:
    for stack in ("dev", "prod"):
        report = analyze(compliant_stack(stack))
        assert report.violations == (), report.describe()
        assert {p.enforcement_level for p in report.policies} >= {EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY}
