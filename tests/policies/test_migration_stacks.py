"""With an import configured, the stacks still satisfy every mandatory policy: the source's password
lives in a Secret the program creates (a Pulumi secret), never in the Cluster."""

from __future__ import annotations

from typing import Any

import pytest

from offline.engine import run_stack
from offline.policy_client import PolicyPackSession
from tests.components.cluster.test_migration import MICROSERVICE, MONOLITH


@pytest.mark.parametrize("migration", [MICROSERVICE, MONOLITH], ids=["microservice", "monolith"])
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_an_import_passes_every_mandatory_policy(policy_pack: PolicyPackSession, stack: str, migration: dict[str, Any]) -> None:
    run = run_stack(stack, {"aks-postgres-ha:migration": migration})
    assert any(r.name == "database-migration-source" for r in run.registrations)
    report = policy_pack.analyze(run.registrations, stack)
    assert not report.mandatory_violations, report.describe(report.mandatory_violations)
