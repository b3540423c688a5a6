"""Drills against a deployed stack: ``python -m tools.drill failover|restore --stack NAME``.

Reads the stack's outputs (``pulumi stack output --json --show-secrets``, or ``--outputs FILE``),
talks to the cluster with kubectl (current kubeconfig or ``--kubeconfig``), prints a human summary
or, with ``--json``, the report as JSON; ``--report FILE`` also writes the JSON to a file.
Refuses a production stack unless ``--allow-prod``. Exit codes: 0 passed, 1 failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from components.cluster.database import DEPLOYED_CLUSTER_OUTPUT, DEPLOYED_NAMESPACE_OUTPUT, drill_cluster_name
from tools.drill.arguments import bounded, matching
from tools.drill.failover import FAILURES, FailoverOptions, run_failover
from tools.drill.kube import Kubectl
from tools.drill.restore import TABLE_NAME, RestoreOptions, run_restore
from tools.drill.writer import FAIL_FAST_OPTIONS, Connect, DrillError

STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,48}[a-z0-9])?")
PROD = "prod"


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m tools.drill", description=__doc__.split("\n\n")[0])
    drills = main.add_subparsers(dest="drill", required=True, metavar="failover|restore")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", required=True, type=matching(STACK_NAME, "a Pulumi stack name ([org/[project/]]name)"))
    common.add_argument("--outputs", type=Path, help="stack outputs as JSON (pulumi stack output --json --show-secrets)")
    common.add_argument("--kubeconfig", help="kubeconfig file (default: kubectl's own)")
    common.add_argument("--allow-prod", action="store_true", help="run against a production stack")
    common.add_argument("--json", action="store_true", help="print the report as JSON instead of the summary")
    common.add_argument("--report", type=Path, help="also write the JSON report to this file")
    common.add_argument(
        "--timeout", type=bounded(float, 30, 7200, "a number of seconds"), default=900.0,
        help="bound of every wait, seconds (default 900)",
    )  # fmt: skip
    failover = drills.add_parser("failover", parents=[common], help="kill the primary under a writer; measure RTO/RPO")
    failover.add_argument("--failure", choices=FAILURES, default="pod-delete")
    failover.add_argument("--switch-back", action="store_true", help="promote the original primary again afterwards")
    failover.add_argument(
        "--writes-before", type=bounded(int, 1, 100_000, "a whole number"), default=100,
        help="commits before the fault (default 100)",
    )  # fmt: skip
    restore = drills.add_parser("restore", parents=[common], help="back up, restore into a throwaway Cluster, verify")
    restore.add_argument(
        "--table", action="append", default=[], dest="tables",
        type=matching(TABLE_NAME, "a lowercase table name (schema.table)"), help="table to verify (repeatable)",
    )  # fmt: skip
    restore.add_argument(
        "--recovery-cluster", type=matching(DNS_LABEL, "a DNS label of at most 50 characters"),
        help="name of the throwaway Cluster (default <cluster>-drill, the one the stack trusts to read backups)",
    )  # fmt: skip
    restore.add_argument("--keep", action="store_true", help="leave the recovery Cluster for inspection")
    return main


def stack_outputs(stack: str, outputs_file: Path | None) -> dict[str, Any]:
    if outputs_file is not None:
        try:
            outputs = json.loads(outputs_file.read_text())
        except (OSError, ValueError) as error:
            raise DrillError(f"--outputs {outputs_file}: cannot be read as JSON ({error})") from None
    else:
        try:
            result = subprocess.run(
                ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack],
                capture_output=True, text=True, check=False, timeout=120,
            )  # fmt: skip
        except FileNotFoundError:
            raise DrillError("the pulumi CLI is not installed; pass --outputs FILE") from None
        if result.returncode != 0:
            raise DrillError(f"pulumi stack output --stack {stack} failed: {result.stderr.strip()}")
        outputs = json.loads(result.stdout)
    if not isinstance(outputs, dict):
        raise DrillError("the stack outputs are not a JSON object")
    return outputs


def is_production(stack: str, outputs: dict[str, Any]) -> bool:
    return stack.rsplit("/", 1)[-1] == PROD or outputs.get("environment") == PROD


def _required(outputs: dict[str, Any], key: str) -> str:
    value = outputs.get(key)
    if not isinstance(value, str) or not value:
        raise DrillError(f"the stack outputs have no {key}; deploy the stack first (pulumi up)")
    return value


def read_write_endpoint(uri: str, kube: Kubectl, cluster: str) -> Connect:
    """Connections through readWriteUri, verifying the server against the cluster's CA (the <cluster>-ca secret)."""
    secret = kube.get("secret", f"{cluster}-ca")
    ca_file = Path(tempfile.mkdtemp(prefix="drill-ca-")) / "ca.crt"
    ca_file.write_bytes(base64.b64decode(secret["data"]["ca.crt"]))

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(uri, sslrootcert=str(ca_file), autocommit=True, **FAIL_FAST_OPTIONS)

    return connect


def run(args: argparse.Namespace, outputs: dict[str, Any], kube: Kubectl, connect: Connect | None = None) -> dict[str, Any]:
    cluster = _required(outputs, DEPLOYED_CLUSTER_OUTPUT)
    if args.drill == "failover":
        endpoint = connect or read_write_endpoint(_required(outputs, "readWriteUri"), kube, cluster)
        options = FailoverOptions(cluster, args.failure, args.switch_back, args.writes_before, args.timeout)
        report = run_failover(kube, endpoint, options)
    else:
        report = run_restore(
            kube,
            RestoreOptions(
                cluster=cluster,
                recovery_cluster=args.recovery_cluster or drill_cluster_name(cluster),
                database=_required(outputs, "databaseName"),
                owner=_required(outputs, "databaseUser"),
                tables=tuple(args.tables),
                timeout=args.timeout,
                keep=args.keep,
            ),
        )
    return {"stack": args.stack, "cluster": cluster, "namespace": kube.namespace, **report}


def main(argv: Sequence[str] | None = None, kubectl: type[Kubectl] = Kubectl, connect: Connect | None = None) -> int:
    arguments = parser()
    args = arguments.parse_args(argv)
    try:
        outputs = stack_outputs(args.stack, args.outputs)
    except DrillError as error:
        arguments.error(str(error))
    if is_production(args.stack, outputs) and not args.allow_prod:
        arguments.error(f"argument --stack: {args.stack!r} is a production stack; drills there need --allow-prod")
    try:
        kube = kubectl(_required(outputs, DEPLOYED_NAMESPACE_OUTPUT), args.kubeconfig)
        report = run(args, outputs, kube, connect)
    except DrillError as error:
        print(f"drill: {args.drill} failed: {error}", file=sys.stderr)
        return 1
    text = json.dumps(report, indent=2)
    if args.report:
        args.report.write_text(text + "\n")
    print(text if args.json else report["summary"] + ("" if report["passed"] else " — FAILED"))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
