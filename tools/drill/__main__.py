"""Drills against deployed stacks: ``python -m tools.drill failover|restore|regional|verify|prune-snapshots --stack NAME
[--cluster NAME]``.

- failover: kill the primary (pod delete or node drain) under a writer; RTO, RPO, healing.
- restore: back up, restore into a throwaway Cluster, compare checksums; ``--method volumeSnapshot``
  from a volume-snapshot backup (disks from snapshots, WAL from Blob storage), with its time.
- regional ``--stack S --to T``: a controlled switchover of a CNPG distributed topology from stack S
  to its peer T through ``pulumi config`` and ``pulumi up`` (demotion token, promotion), under a
  writer; RTO, RPO, the time to the token, to T accepting writes and to S following T. A pair of
  platform stacks switches every cluster (``primary`` is the stack's); ``--cluster`` names the one
  the writer measures.
- verify: check the live stack end to end after ``pulumi up`` (tools/drill/verify.py), one line per check.
- prune-snapshots ``--keep N``: delete the stack's scheduled volume-snapshot backups beyond the newest N
  (CNPG never prunes them; their snapshots go with them).

Reads the stack's outputs (``pulumi stack output --json --show-secrets``, or ``--outputs FILE``); on a
stack running several database clusters ``--cluster NAME`` picks one (its entries of the ``clusters``
and ``clusterConnectionUris`` outputs). It talks only to the stack's own AKS: kubectl gets the stack's
``kubeconfig`` output (a private file) or ``--kubeconfig``, and the drill refuses to start when that
kubeconfig's current context points at another API server than the stack's. Prints a human summary or,
with ``--json``, the report as JSON; ``--report FILE`` also writes the JSON to a file. failover, restore
and regional refuse a stack whose ``environment`` setting (``Pulumi.<stack>.yaml``) is not dev unless
``--allow-prod``.
Exit codes: 0 passed, 1 failed, 2 bad arguments or a refused stack (one line).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from components.cluster.database import DEPLOYED_CLUSTER_OUTPUT, DEPLOYED_NAMESPACE_OUTPUT
from offline.stack_file import StackFileError
from settings import Settings
from settings.disaster_recovery import PEER_STACK_OUTPUT, PRIMARY_OUTPUT
from settings.names import drill_cluster_name
from settings.platform import CLUSTERS_OUTPUT
from tools.drill.arguments import bounded, matching
from tools.drill.az_cli import AzCli
from tools.drill.cluster_outputs import cluster_outputs
from tools.drill.failover import FAILURES, FailoverOptions, run_failover
from tools.drill.kube import Kubectl, cluster_ca, kubeconfig_server, same_server
from tools.drill.pulumi_cli import PROJECT_DIR, PulumiCli, policy_config, short_name, stack_setting
from tools.drill.regional import RefusedError, RegionalOptions, Side, run_regional
from tools.drill.restore import METHODS, OBJECT_STORE, TABLE_NAME, RestoreOptions, prune_snapshots, run_restore
from tools.drill.verify import Probes, VerifyOptions, check_line, run_verify
from tools.drill.writer import FAIL_FAST_OPTIONS, Connect, DrillError, database_error

STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,48}[a-z0-9])?")
# The one environment drills run in without --allow-prod (settings: environment is dev or prod).
UNGUARDED_ENVIRONMENT = "dev"
# What verify runs: kubectl for the cluster, pulumi for the outputs, az for the test alert.
VERIFY_TOOLS = ("kubectl", "pulumi", "az")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m tools.drill", description=__doc__.split("\n\n")[0])
    drills = main.add_subparsers(dest="drill", required=True, metavar="DRILL")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", required=True, type=matching(STACK_NAME, "a Pulumi stack name ([org/[project/]]name)"))
    common.add_argument("--outputs", type=Path, help="stack outputs as JSON (pulumi stack output --json --show-secrets)")
    common.add_argument(
        "--kubeconfig",
        help="kubeconfig file (default: the stack's kubeconfig output); its current context must be the stack's API server",
    )
    common.add_argument(
        "--cluster",
        help="the database cluster to act on, by its name in the stack's clusters output "
        "(required when the stack runs several; regional: the one the writer measures, every cluster is switched)",
    )
    common.add_argument("--json", action="store_true", help="print the report as JSON instead of the summary")
    common.add_argument("--report", type=Path, help="also write the JSON report to this file")
    common.add_argument(
        "--timeout", type=bounded(float, 30, 7200, "a number of seconds"), default=900.0,
        help="bound of every wait, seconds (default 900)",
    )  # fmt: skip
    # The drills that inject a fault or move the primary.
    guarded = argparse.ArgumentParser(add_help=False, parents=[common])
    guarded.add_argument("--allow-prod", action="store_true", help="run against a stack whose environment setting is not dev")
    failover = drills.add_parser("failover", parents=[guarded], help="kill the primary under a writer; measure RTO/RPO")
    failover.add_argument("--failure", choices=FAILURES, default="pod-delete")
    failover.add_argument("--switch-back", action="store_true", help="promote the original primary again afterwards")
    failover.add_argument(
        "--writes-before", type=bounded(int, 1, 100_000, "a whole number"), default=100,
        help="commits before the fault (default 100)",
    )  # fmt: skip
    restore = drills.add_parser("restore", parents=[guarded], help="back up, restore into a throwaway Cluster, verify")
    restore.add_argument(
        "--table", action="append", default=[], dest="tables",
        type=matching(TABLE_NAME, "a lowercase table name (schema.table)"), help="table to verify (repeatable)",
    )  # fmt: skip
    restore.add_argument(
        "--recovery-cluster", type=matching(DNS_LABEL, "a DNS label of at most 50 characters"),
        help="name of the throwaway Cluster (default <cluster>-drill, the one the stack trusts to read backups)",
    )  # fmt: skip
    restore.add_argument("--keep", action="store_true", help="leave the recovery Cluster for inspection")
    restore.add_argument(
        "--method", choices=METHODS, default=OBJECT_STORE,
        help="objectStore: a Barman Cloud backup from Blob storage (default); volumeSnapshot: disk snapshots, WAL from Blob",
    )  # fmt: skip
    regional = drills.add_parser(
        "regional", parents=[guarded], help="switch the primary over to the peer stack through pulumi; measure RTO/RPO"
    )
    regional.add_argument(
        "--to", required=True, type=matching(STACK_NAME, "a Pulumi stack name ([org/[project/]]name)"),
        help="the peer stack to promote (--stack: the current primary's stack)",
    )  # fmt: skip
    regional.add_argument("--to-outputs", type=Path, help="the --to stack's outputs as JSON")
    regional.add_argument("--to-kubeconfig", help="kubeconfig of the --to stack's cluster (default: its kubeconfig output)")
    regional.add_argument("--switch-back", action="store_true", help="switch the primary back to --stack afterwards")
    regional.add_argument(
        "--writes-before", type=bounded(int, 1, 100_000, "a whole number"), default=100,
        help="commits before the switchover (default 100)",
    )  # fmt: skip
    # No fault and no production guard: it only reads, but for one Backup and one test notification.
    drills.add_parser("verify", parents=[common], help="check the deployed stack end to end (after every first pulumi up)")
    # Routine housekeeping, not a fault: no production guard.
    prune = drills.add_parser(
        "prune-snapshots", parents=[common], help="delete scheduled volume-snapshot backups beyond the newest --keep"
    )
    prune.add_argument(
        "--keep", type=bounded(int, 1, 1000, "a whole number"), default=7,
        help="snapshot backups to keep (default 7: a week of the daily schedule)",
    )  # fmt: skip
    return main


def stack_outputs(stack: str, outputs_file: Path | None, pulumi: PulumiCli) -> dict[str, Any]:
    if outputs_file is not None:
        try:
            outputs = json.loads(outputs_file.read_text())
        except (OSError, ValueError) as error:
            raise DrillError(f"--outputs {outputs_file}: cannot be read as JSON ({error})") from None
    else:
        outputs = pulumi.stack_outputs(stack)
    if not isinstance(outputs, dict):
        raise DrillError("the stack outputs are not a JSON object")
    return outputs


def production_refusal(args: argparse.Namespace, argument: str, stack: str) -> str | None:
    """Why ``stack`` needs --allow-prod: its ``environment`` setting (not its name) is not dev; or None."""
    if args.allow_prod:
        return None
    try:
        environment = stack_setting(stack, "environment")
    except StackFileError as error:
        return f"argument {argument}: {stack!r}: its environment setting cannot be read ({error}); drills there need --allow-prod"
    if environment != UNGUARDED_ENVIRONMENT:
        return (
            f"argument {argument}: {stack!r} is a production stack (environment: {environment!r} in "
            f"Pulumi.{short_name(stack)}.yaml); drills there need --allow-prod"
        )
    return None


def _required(outputs: dict[str, Any], key: str) -> str:
    value = outputs.get(key)
    if not isinstance(value, str) or not value:
        raise DrillError(f"the stack outputs have no {key}; deploy the stack first (pulumi up)")
    return value


def read_write_endpoint(uri: str, kube: Kubectl, cluster: str) -> Connect:
    """Connections through readWriteUri, verifying the server against the cluster's CA (the <cluster>-ca secret)."""
    ca_file = Path(tempfile.mkdtemp(prefix="drill-ca-")) / "ca.crt"
    ca_file.write_bytes(cluster_ca(kube, cluster))

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(uri, sslrootcert=str(ca_file), autocommit=True, **FAIL_FAST_OPTIONS)

    return connect


def run(args: argparse.Namespace, outputs: dict[str, Any], kube: Kubectl, connect: Connect | None = None) -> dict[str, Any]:
    cluster = _required(outputs, DEPLOYED_CLUSTER_OUTPUT)
    if args.drill == "failover":
        endpoint = connect or read_write_endpoint(_required(outputs, "readWriteUri"), kube, cluster)
        options = FailoverOptions(cluster, args.failure, args.switch_back, args.writes_before, args.timeout)
        report = run_failover(kube, endpoint, options)
    elif args.drill == "prune-snapshots":
        report = prune_snapshots(kube, cluster, args.keep)
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
                method=args.method,
            ),
        )
    return {"stack": args.stack, "cluster": cluster, "namespace": kube.namespace, **report}


def multi_host_conninfo(source_uri: str, target_uri: str, ca_file: str) -> str:
    """libpq connection string for S's then T's read-write endpoint, keeping the one that accepts writes
    (``target_session_attrs=read-write``: a demoted or replica cluster is read-only), one CA file for both."""
    source, target = conninfo_to_dict(source_uri), conninfo_to_dict(target_uri)
    for key in ("user", "dbname"):
        if source.get(key) != target.get(key):
            raise DrillError(
                f"the two stacks' readWriteUri name different {key}s; the distributed topology replicates one database"
            )
    return make_conninfo(
        source_uri,
        host=f"{source.get('host')},{target.get('host')}",
        port=f"{source.get('port') or 5432},{target.get('port') or 5432}",
        target_session_attrs="read-write",
        sslrootcert=ca_file,
    )


def switchover_endpoint(source: Side, source_uri: str, target: Side, target_uri: str) -> Connect:
    """Connections to whichever of the two clusters accepts writes, verified against both clusters' CAs."""
    ca_file = Path(tempfile.mkdtemp(prefix="drill-ca-")) / "ca.crt"
    ca_file.write_bytes(cluster_ca(source.kube, source.cluster) + b"\n" + cluster_ca(target.kube, target.cluster))
    conninfo = multi_host_conninfo(source_uri, target_uri, str(ca_file))

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(conninfo, autocommit=True, **FAIL_FAST_OPTIONS)

    return connect


def _names(peer: Any, stack: str) -> bool:
    """Whether the fully qualified ``peer`` is ``stack`` (as given: short or qualified)."""
    if not isinstance(peer, str):
        return False
    return peer == stack if stack.count("/") == 2 else short_name(peer) == short_name(stack)


def regional_refusal(args: argparse.Namespace, source: dict[str, Any], target: dict[str, Any]) -> str | None:
    """Why the two stacks cannot be switched over as asked (argparse's message, exit 2), or None."""
    if short_name(args.stack) == short_name(args.to):
        return f"argument --to: {args.to!r} is the --stack itself; --to names the other region's stack (the peer)"
    sides = (("--stack", args.stack, source, args.to), ("--to", args.to, target, args.stack))
    for argument, stack, _, _ in sides:
        refusal = production_refusal(args, argument, stack)
        if refusal:
            return refusal
    for argument, stack, outputs, _ in sides:
        if not outputs.get(PRIMARY_OUTPUT):
            return (
                f"argument {argument}: {stack!r} has no output {PRIMARY_OUTPUT}: it is not deployed in a distributed "
                "topology (disasterRecovery config, then pulumi up)"
            )
    for argument, stack, outputs, other in sides:
        peer = outputs.get(PEER_STACK_OUTPUT)
        if not _names(peer, other):
            return (
                f"argument {argument}: {stack!r} pairs with {peer!r} ({PEER_STACK_OUTPUT}), not with {other!r}; "
                "the two stacks must name each other"
            )
    if source[PRIMARY_OUTPUT] != target[PRIMARY_OUTPUT]:
        return (
            f"argument --to: {args.to!r} says the primary is {target[PRIMARY_OUTPUT]!r}, {args.stack!r} says "
            f"{source[PRIMARY_OUTPUT]!r} ({PRIMARY_OUTPUT}); the stacks must agree: finish or revert the last switchover first"
        )
    if source[PRIMARY_OUTPUT] != short_name(args.stack):
        return (
            f"argument --stack: {args.stack!r} is not the primary ({PRIMARY_OUTPUT}: {source[PRIMARY_OUTPUT]!r}); "
            "--stack names the current primary's stack, --to the stack to promote"
        )
    for argument, stack, _, _ in sides:
        if not (PROJECT_DIR / policy_config(stack)).is_file():
            return f"argument {argument}: {stack!r} has no {policy_config(stack)}; pulumi up runs with the stack's policy config"
    if args.kubeconfig and args.kubeconfig == args.to_kubeconfig:
        return f"argument --to-kubeconfig: {args.to_kubeconfig!r} is --kubeconfig too; the two stacks run two clusters"
    return None


def stack_kubectl(
    kubectl: type[Kubectl], outputs: dict[str, Any], stack: str, given: str | None, arguments: tuple[str, str], workdir: Path
) -> Kubectl:
    """kubectl bound to ``stack``'s cluster: ``given`` or the stack's kubeconfig output (a private file), refused
    (RefusedError) unless its current context's API server is the one in the stack's kubeconfig output.
    ``arguments``: the stack's argument and its kubeconfig argument, for the message."""
    stack_argument, kubeconfig_argument = arguments
    content = outputs.get("kubeconfig")
    if not content:
        raise RefusedError(f"argument {stack_argument}: {stack!r} has no kubeconfig output; deploy it first (pulumi up)")
    text = content if isinstance(content, str) else json.dumps(content)
    try:
        expected = kubeconfig_server(text)
    except DrillError as error:
        raise RefusedError(f"argument {stack_argument}: {stack!r}: {error}") from None
    path = given
    if not path:
        private = workdir / f"kubeconfig-{short_name(stack)}"
        private.touch(mode=0o600)
        private.write_text(text)
        path = str(private)
    kube = kubectl(_required(outputs, DEPLOYED_NAMESPACE_OUTPUT), path)
    try:
        actual = kube.api_server()
    except DrillError as error:
        raise RefusedError(f"argument {kubeconfig_argument}: {error}") from None
    if not same_server(actual, expected):
        raise RefusedError(
            f"argument {kubeconfig_argument}: {path!r} points kubectl at {actual or 'no API server'}, but {stack!r}'s "
            f"cluster is {expected} (its kubeconfig output); a drill acts only on its stack's cluster"
        )
    return kube


def platform_pair(args: argparse.Namespace) -> list[str] | None:
    """The cluster names of a pair of platform stacks (their ``clusters`` setting), None for a one-cluster pair.
    RefusedError when the two stack files differ there: each cluster pairs with its namesake.
    StackFileError when a file cannot be read."""
    names = [stack_setting(stack, "clusters") for stack in (args.stack, args.to)]
    keys = [None if value is None else sorted(value) for value in names]
    if keys[0] != keys[1]:
        runs = [", ".join(key) if key else "one cluster (no clusters setting)" for key in keys]
        raise RefusedError(
            f"argument --to: {args.to!r} runs {runs[1]}, {args.stack!r} {runs[0]} (Pulumi.<stack>.yaml); "
            "a pair runs the same clusters on both stacks"
        )
    return keys[0]


def regional_side(argument: str, stack: str, outputs: dict[str, Any], kube: Kubectl, platform: list[str] | None) -> Side:
    """``stack``'s side of the switchover: the cluster ``outputs`` name (the one measured) and, on a platform,
    every other cluster of its ``clusters`` output. RefusedError when one of ``platform`` was not deployed."""
    cluster, database = _required(outputs, DEPLOYED_CLUSTER_OUTPUT), _required(outputs, "databaseName")
    if platform is None:
        return Side(stack, short_name(stack), kube, cluster, database)
    entries = outputs.get(CLUSTERS_OUTPUT)
    clusters: dict[str, Side] = {}
    for key in platform:
        entry = entries.get(key) if isinstance(entries, dict) else None
        entry = entry if isinstance(entry, dict) else {}
        try:
            namespace, name, db = (
                _required(entry, output) for output in (DEPLOYED_NAMESPACE_OUTPUT, DEPLOYED_CLUSTER_OUTPUT, "databaseName")
            )
        except DrillError as error:  # a switchover moves every cluster
            raise RefusedError(f"argument {argument}: {stack!r}'s {CLUSTERS_OUTPUT}.{key}: {error}") from None
        clusters[key] = Side(stack, short_name(stack), kube.in_namespace(namespace), name, db, key)
    measured = [key for key, side in clusters.items() if (side.kube.namespace, side.cluster) == (kube.namespace, cluster)]
    if not measured:
        raise RefusedError(f"argument --cluster: {stack!r}'s cluster {cluster!r} is none of its {CLUSTERS_OUTPUT} entries")
    others = tuple(side for key, side in clusters.items() if key != measured[0])
    return Side(stack, short_name(stack), kube, cluster, database, measured[0], others)


def run_regional_drill(
    args: argparse.Namespace,
    outputs: dict[str, Any],
    to_outputs: dict[str, Any],
    kubes: tuple[Kubectl, Kubectl],
    connect: Connect | None,
    pulumi: PulumiCli,
    platform: list[str] | None,
) -> dict[str, Any]:
    """``platform``: a platform pair's cluster names, all switched together (None: a one-cluster pair)."""
    sides = [
        regional_side(argument, stack, values, kube, platform)
        for argument, stack, values, kube in (("--stack", args.stack, outputs, kubes[0]), ("--to", args.to, to_outputs, kubes[1]))
    ]
    source, target = sides
    endpoint = connect or switchover_endpoint(
        source, _required(outputs, "readWriteUri"), target, _required(to_outputs, "readWriteUri")
    )
    report = run_regional(pulumi, source, target, endpoint, RegionalOptions(args.switch_back, args.writes_before, args.timeout))
    clusters = {side.name: {"cluster": side.cluster, "namespace": side.kube.namespace} for side in sides}
    result = {"stack": args.stack, "toStack": args.to, "clusters": clusters, **report}
    if platform is not None:
        result["switchedClusters"] = platform
        result["summary"] += (
            f"; the stack's primary moves {', '.join(platform)} together (the writer measured {source.platform_key})"
        )
    return result


def verify_zones(stack: str) -> tuple[str, ...]:
    """The stack's ``zones`` setting, or the settings' default when the stack file leaves it out."""
    zones = stack_setting(stack, "zones") or Settings.model_fields["zones"].default
    return tuple(str(zone) for zone in zones)


def _print(args: argparse.Namespace, report: dict[str, Any]) -> None:
    text = json.dumps(report, indent=2)
    if args.report:
        args.report.write_text(text + "\n")
    if args.json:
        print(text)
        return
    for check in report.get("checks", []):
        print(check_line(check))
    print(report["summary"] + ("" if report["passed"] else " — FAILED"))
    if "recovery" in report:
        print(f"drill: {report['recovery']['state']}. {report['recovery'].get('why', '')}", file=sys.stderr)
        for command in report["recovery"]["commands"]:
            print(f"  {command}", file=sys.stderr)


def main(
    argv: Sequence[str] | None = None,
    kubectl: type[Kubectl] = Kubectl,
    connect: Connect | None = None,
    pulumi: Callable[[], PulumiCli] = PulumiCli,
    az: Callable[[], AzCli] = AzCli,
    probes: Probes | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> int:
    arguments = parser()
    args = arguments.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="drill-") as private:  # 0700: kubeconfigs, the CA, az's webhook file
        workdir = Path(private)
        cli = pulumi()
        # Everything that can refuse the run, before anything in a cluster is touched: exit 2, one line.
        try:
            if args.drill == "verify":
                missing = [tool for tool in VERIFY_TOOLS if which(tool) is None]
                if missing:
                    raise RefusedError(f"verify needs {', '.join(missing)} on PATH (README Operate: set-up)")
            outputs = stack_outputs(args.stack, args.outputs, cli)
            if args.drill == "regional":
                to_outputs = stack_outputs(args.to, args.to_outputs, cli)
                refusal = regional_refusal(args, outputs, to_outputs)
                platform = None if refusal else platform_pair(args)
            else:
                unguarded = args.drill in ("verify", "prune-snapshots")
                refusal = None if unguarded else production_refusal(args, "--stack", args.stack)
            if refusal:
                raise RefusedError(refusal)
            outputs = cluster_outputs(outputs, args.cluster, args.stack)
            kube = stack_kubectl(kubectl, outputs, args.stack, args.kubeconfig, ("--stack", "--kubeconfig"), workdir)
            if args.drill == "regional":
                to_outputs = cluster_outputs(to_outputs, args.cluster, args.to)
                to_kube = stack_kubectl(kubectl, to_outputs, args.to, args.to_kubeconfig, ("--to", "--to-kubeconfig"), workdir)
            zones = verify_zones(args.stack) if args.drill == "verify" else ()
        except (DrillError, StackFileError) as error:
            arguments.error(str(error))
        try:
            if args.drill == "regional":
                report = run_regional_drill(args, outputs, to_outputs, (kube, to_kube), connect, cli, platform)
            elif args.drill == "verify":
                cluster = _required(outputs, DEPLOYED_CLUSTER_OUTPUT)
                options = VerifyOptions(args.stack, zones, args.timeout, workdir)
                report = {"stack": args.stack, "cluster": cluster, "namespace": kube.namespace,
                          **run_verify(kube, az(), outputs, cluster, options, probes)}  # fmt: skip
            else:
                report = run(args, outputs, kube, connect)
        except RefusedError as error:
            arguments.error(str(error))
        except DrillError as error:
            print(f"drill: {args.drill} failed: {error}", file=sys.stderr)
            return 1
        except psycopg.Error as error:  # an endpoint that does not answer: no such host, refused, timeout
            print(f"drill: {args.drill} failed: the database endpoint: {database_error(error)}", file=sys.stderr)
            return 1
    _print(args, report)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
