"""Every state of the disaster-recovery pair satisfies every mandatory policy: prod paired with dr,
dr as the replica (shipped), each side of a switchover, and dr after a regional failover."""

from __future__ import annotations

from typing import Any

import pytest

from offline.engine import StackRun, run_stack, stack_config
from offline.policy_client import PolicyPackSession
from tests.test_dr_stack import TOKEN, _outputs

P = "aks-postgres-ha:"


@pytest.fixture(scope="module")
def unpaired_runs() -> dict[str, StackRun]:
    """Each side's outputs as the other reads them (the peer's own reference cut)."""
    return {stack: run_stack(stack, {P + "disasterRecovery": None}, referenced={}) for stack in ("prod", "dr")}


STATES: dict[str, tuple[str, dict[str, Any], str]] = {
    # stack, its section, the peer's primary as its outputs say
    "prod paired, primary": ("prod", {"primary": "prod", "createdAs": "primary"}, "prod"),
    "dr shipped, replica": ("dr", {}, "prod"),
    "prod demoted": ("prod", {"primary": "dr", "createdAs": "primary"}, "prod"),
    "dr promoted with the token": ("dr", {"primary": "dr", "promotionToken": TOKEN}, "dr"),
    "dr after a regional failover": ("dr", {"primary": "dr", "failover": True}, "prod"),
}


@pytest.mark.parametrize("state", STATES)
def test_every_state_of_the_pair_passes_every_mandatory_policy(
    policy_pack: PolicyPackSession, unpaired_runs: dict[str, StackRun], state: str
) -> None:
    stack, changes, peer_primary = STATES[state]
    peer = "dr" if stack == "prod" else "prod"
    section = {
        **(stack_config("dr")[P + "disasterRecovery"] if stack == "dr" else {"peerStack": "organization/aks-postgres-ha/dr"}),
        **changes,
    }
    run = run_stack(
        stack,
        {P + "disasterRecovery": section},
        referenced=_outputs(
            unpaired_runs[peer],
            disasterRecoveryPrimary=peer_primary,
            disasterRecoveryPeerStack=f"organization/aks-postgres-ha/{stack}",
        ),
    )
    assert any(r.name == "peer-stack-reader" for r in run.registrations)
    report = policy_pack.analyze(run.registrations, stack)
    assert not report.mandatory_violations, report.describe(report.mandatory_violations)
