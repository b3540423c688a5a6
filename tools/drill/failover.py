"""Failover drill against a deployed stack: the lab's writer and measurement, a real fault.

The writer commits through the stack's read-write endpoint (``readWriteUri``: the -rw Service)
while the drill deletes the primary's pod or drains its node. RTO and RPO come from
``tools.drill.writer`` exactly as in the lab; then the drill waits until the Cluster heals
(every instance ready, the old primary back as a replica) and, with ``switch_back``, promotes
the original instance again with ``kubectl cnpg promote`` (a switchover).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tools.drill.kube import Kubectl, wait_until
from tools.drill.writer import Connect, DrillError, NumberedWriter, committed_numbers, forget_run, measure, summary_line

FAILURES = ("pod-delete", "node-drain")


@dataclass(frozen=True)
class FailoverOptions:
    cluster: str
    failure: str
    switch_back: bool
    writes_before: int
    timeout: float
    poll_seconds: float = 5.0


def primary_selector(cluster: str) -> str:
    return f"cnpg.io/cluster={cluster},cnpg.io/instanceRole=primary"


def _cluster_status(kube: Kubectl, cluster: str) -> dict[str, Any]:
    status: dict[str, Any] = kube.get("clusters.postgresql.cnpg.io", cluster).get("status", {})
    return status


def _healed(kube: Kubectl, cluster: str, old_primary: str) -> bool:
    document = kube.get("clusters.postgresql.cnpg.io", cluster)
    status = document.get("status", {})
    replicas = {pod["metadata"]["name"] for pod in kube.items("pods", f"cnpg.io/cluster={cluster},cnpg.io/instanceRole=replica")}
    return status.get("readyInstances") == document["spec"]["instances"] and old_primary in replicas


def primary_pod(kube: Kubectl, cluster: str) -> dict[str, Any]:
    """The one pod labelled primary (in a replica cluster, its designated primary)."""
    pods = kube.items("pods", primary_selector(cluster))
    if len(pods) != 1:
        raise DrillError(f"expected one pod labelled {primary_selector(cluster)}, found {len(pods)}")
    return pods[0]


def inject(kube: Kubectl, options: FailoverOptions) -> dict[str, Any]:
    """Kill the primary the chosen way; what was hit."""
    primary = primary_pod(kube, options.cluster)
    pod = primary["metadata"]["name"]
    node = primary["spec"].get("nodeName", "")
    if options.failure == "pod-delete":
        kube.delete("pod", pod)
    else:
        kube.cordon(node)
        kube.drain(node, timeout_seconds=int(options.timeout))
    return {"failure": options.failure, "pod": pod, "node": node}


def run_failover(kube: Kubectl, connect: Connect, options: FailoverOptions) -> dict[str, Any]:
    """The drill's report; raises DrillError when it cannot measure."""
    original = _cluster_status(kube, options.cluster).get("currentPrimary", "")
    writer = NumberedWriter(connect, max_writes=1_000_000, max_seconds=options.timeout * 2 + options.writes_before)
    writer.prepare()
    writer.start()
    fault: dict[str, Any] = {}
    try:
        if not writer.wait_for_commits(options.writes_before, after=0.0, timeout=options.timeout):
            raise DrillError(f"the writer did not commit {options.writes_before} rows through readWriteUri")
        fault_at = time.monotonic()
        try:
            fault = inject(kube, options)
            new_primary_seconds = wait_until(
                lambda: _cluster_status(kube, options.cluster).get("currentPrimary", original) != original,
                options.timeout, "a new primary", options.poll_seconds,
            )  # fmt: skip
            if not writer.wait_for_commits(1, after=fault_at, timeout=options.timeout):
                raise DrillError("no commit succeeded through readWriteUri after the failover")
        finally:
            if options.failure == "node-drain" and fault.get("node"):
                kube.uncordon(fault["node"])  # required anti-affinity: the old primary can only return to its node
    finally:
        writer.stop()
    measurement = measure(writer.log, fault_at, committed_numbers(connect, writer.log.run_id))
    forget_run(connect, writer.log.run_id)
    report: dict[str, Any] = {
        "drill": "failover",
        "summary": summary_line("drill", measurement),
        **measurement.as_dict(),
        "originalPrimary": original,
        "newPrimary": _cluster_status(kube, options.cluster).get("currentPrimary"),
        "newPrimaryElectedSeconds": round(new_primary_seconds, 1),
        **fault,
    }
    report["healedSeconds"] = round(
        wait_until(lambda: _healed(kube, options.cluster, original), options.timeout, "the old primary rejoining as a replica",
                   options.poll_seconds), 1,
    )  # fmt: skip
    if options.switch_back:
        if not kube.has_cnpg_plugin():
            raise DrillError("--switch-back needs the kubectl cnpg plugin (kubectl krew install cnpg)")
        kube.promote(options.cluster, original)
        report["switchBackSeconds"] = round(
            wait_until(lambda: _cluster_status(kube, options.cluster).get("currentPrimary") == original
                       and _healed(kube, options.cluster, report["newPrimary"]), options.timeout,
                       f"{original} becoming primary again", options.poll_seconds), 1,
        )  # fmt: skip
    report["passed"] = measurement.rpo_transactions == 0
    return report
