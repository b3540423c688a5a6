"""Every state of the disaster-recovery pair satisfies every mandatory policy: prod paired with dr,
dr as the replica (shipped), each side of a switchover, and dr after a regional failover."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from offline.engine import StackOutputs, StackRun, run_stack, stack_config
from offline.policy_client import PolicyPackSession

P = "aks-postgres-ha:"
TOKEN = base64.b64encode(
    json.dumps(
        {
            "latestCheckpointTimelineID": "1",
            "redoWalFile": "000000010000000000000007",
            "databaseSystemIdentifier": "7445366212148768807",
            "latestCheckpointREDOLocation": "0/7000028",
            "timeOfLatestCheckpoint": "Sun Nov 29 22:10:01 2026",
            "operatorVersion": "1.30.1",
        }
    ).encode()
).decode()


def _as_peer(run: StackRun, **topology: Any) -> dict[str, StackOutputs]:
    outputs = {**run.outputs, **{f"disasterRecovery{key}": value for key, value in topology.items()}}
    return {f"organization/aks-postgres-ha/{run.stack}": StackOutputs(outputs, frozenset(run.secret_outputs))}


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
        referenced=_as_peer(unpaired_runs[peer], Primary=peer_primary, PeerStack=f"organization/aks-postgres-ha/{stack}"),
    )
    assert any(r.name == "peer-stack-reader" for r in run.registrations)
    report = policy_pack.analyze(run.registrations, stack)
    assert not report.mandatory_violations, report.describe(report.mandatory_violations)
