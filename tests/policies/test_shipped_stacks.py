"""The program's own stacks satisfy every mandatory policy, with their own policy config."""

from __future__ import annotations

from offline.engine import StackRun, run_stack
from offline.policy_client import PolicyPackSession


def test_shipped_stacks_pass(policy_pack: PolicyPackSession, stack_runs: dict[str, StackRun]) -> None:
    reports = {stack: policy_pack.analyze(run.registrations, stack) for stack, run in stack_runs.items()}
    assert set(reports) == {"dev", "prod"}
    failures = {
        stack: report.describe(report.mandatory_violations) for stack, report in reports.items() if report.mandatory_violations
    }
    assert not failures, "\n".join(f"{stack}:\n{text}" for stack, text in failures.items())


def test_the_platform_stack_passes(policy_pack: PolicyPackSession) -> None:
    """Pulumi.platform.yaml: three clusters, each with its own identity, archive, namespace and policies."""
    report = policy_pack.analyze(run_stack("platform").registrations, "platform")
    assert not report.mandatory_violations, report.describe(report.mandatory_violations)
