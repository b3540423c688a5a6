"""Every state of the disaster-recovery pair satisfies every mandatory policy: prod paired with dr,
dr as the replica (shipped), each side of a switchover, and dr after a regional failover; and a pair
of platform stacks, each cluster reading only its namesake's archive."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from google.protobuf import struct_pb2

from offline.engine import Registration, StackRun, run_stack, stack_config
from offline.policy_client import PolicyPackSession
from tests.program.test_platform_pair import CLUSTERS, PRIMARY_SECTION, REPLICA_SECTION, pair_config, paired, replica
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


@pytest.mark.parametrize(("side", "section"), [(replica, REPLICA_SECTION), (paired, PRIMARY_SECTION)])
def test_a_platform_pair_passes_every_mandatory_policy(policy_pack: PolicyPackSession, side: Any, section: Any) -> None:
    run = side()
    assert {f"peer-stack-{cluster}-reader" for cluster in CLUSTERS} <= {r.name for r in run.registrations}
    report = policy_pack.analyze(run.registrations, run.stack, stack_config=pair_config(run.stack, section))
    assert not report.mandatory_violations, report.describe(report.mandatory_violations)


def _scoped(reader: Registration, scope: str) -> Registration:
    raw = struct_pb2.Struct()
    raw.CopyFrom(reader.raw_inputs)
    raw["scope"] = scope
    return dataclasses.replace(reader, inputs={**reader.inputs, "scope": scope}, raw_inputs=raw)


def test_a_cluster_reading_another_clusters_peer_archive_is_refused(policy_pack: PolicyPackSession) -> None:
    run = replica()
    orders_scope = run.one("azure-native:authorization:RoleAssignment", "peer-stack-orders-reader").inputs["scope"]
    registrations = [_scoped(r, orders_scope) if r.name == "peer-stack-billing-reader" else r for r in run.registrations]
    report = policy_pack.analyze(registrations, run.stack, stack_config=pair_config(run.stack, REPLICA_SECTION))
    assert [v.policy_name for v in report.mandatory_violations] == ["cluster-archive-isolation"], report.describe()
