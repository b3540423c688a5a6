"""Offline render: the whole desired state of a stack, with no cloud credentials and no Pulumi CLI.

    python -m offline.render --stack prod        # writes build/prod/

Runs the program under the recording mock engine with the stack's settings and writes
``resources.json``, ``manifests/``, ``graph.mmd``, ``summary.md`` and ``policy-report.md``
(the policy pack's verdicts, obtained over its Analyzer gRPC interface as the CLI does).
Exits 1 on a mandatory policy violation and 2 on invalid settings, with a clear message.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format

from offline.charts import ChartError, render_releases, write_chart_manifests
from offline.engine import PROJECT_DIR, Registration, StackRun, run_stack, stack_config_file
from offline.policy_client import PolicyPackSession

SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
REDACTED = "[secret]"

# Assumed create durations in minutes (typical first deployment; the critical path sums them).
ESTIMATED_MINUTES: dict[str, float] = {
    "azure-native:containerservice:ManagedCluster": 6.0,
    "azure-native:containerservice:AgentPool": 6.0,
    "azure-native:dashboard:Grafana": 5.0,
    "azure-native:storage:StorageAccount": 1.0,
    "azure-native:monitor:AzureMonitorWorkspace": 1.0,
    "azure-native:operationalinsights:Workspace": 1.0,
    "azure-native:authorization:RoleAssignment": 0.5,
    "azure-native:managedidentity:UserAssignedIdentity": 0.3,
    "azure-native:network:PublicIPAddress": 0.3,
    "kubernetes:helm.sh/v3:Release": 3.0,
    "kubernetes:postgresql.cnpg.io/v1:Cluster": 5.5,
}
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
CLUSTER_TYPE = "kubernetes:postgresql.cnpg.io/v1:Cluster"
# Helm install with atomic wait, per chart (findings 2026-11, "Performance reference"); others take the Release default.
CHART_MINUTES: dict[str, float] = {
    "cert-manager": 1.5,
    "cloudnative-pg": 1.0,
    "plugin-barman-cloud": 1.0,
    "kube-prometheus-stack": 3.0,
}
DEFAULT_MINUTES = {"azure-native": 0.3, "kubernetes": 0.1, "random": 0.0, "pulumi": 0.0}
ASSUMPTION_NOTES = {
    "azure-native:containerservice:ManagedCluster": "control plane + node pools created with it, 3 zones (4-8 typical)",
    "azure-native:containerservice:AgentPool": "3 VMs across zones",
    "kubernetes:helm.sh/v3:Release": "chart install with atomic wait, a chart not listed below",
    "kubernetes:postgresql.cnpg.io/v1:Cluster": "bootstrap of 3 instances (initdb, 2 replicas join), until Ready (5-6)",
    "azure-native:authorization:RoleAssignment": "includes Entra ID propagation",
}


def _blank(value: Any) -> Any:
    """A secret's shape with every value hidden (manifests stay schema-valid)."""
    if isinstance(value, dict):
        return {key: _blank(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_blank(item) for item in value]
    return REDACTED


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        if SECRET_SIGNATURE in value:
            return _blank(value.get("value"))
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def redacted_inputs(registration: Registration) -> dict[str, Any]:
    """Inputs as sent to the engine, every secret replaced by ``[secret]``."""
    return _redact(json_format.MessageToDict(registration.raw_inputs))


def _provider_urn(registration: Registration) -> str | None:
    return registration.provider.rsplit("::", 1)[0] if registration.provider else None


def resource_records(run: StackRun) -> list[dict[str, Any]]:
    return [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "custom": r.custom,
            "parent": r.parent,
            "dependencies": r.dependencies,
            "provider": _provider_urn(r),
            "protect": r.protect,
            "inputs": redacted_inputs(r) if r.custom else {},
        }
        for r in run.registrations
    ]


def kubernetes_objects(run: StackRun) -> list[dict[str, Any]]:
    """Every Kubernetes object (not Helm releases or the provider), secrets redacted."""
    objects = []
    for registration in run.registrations:
        inputs = redacted_inputs(registration)
        if registration.type.startswith("kubernetes:") and "kind" in inputs and "apiVersion" in inputs:
            objects.append(inputs)
    return objects


def _manifest_file(index: int, obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    parts = [f"{index:02d}", obj["kind"].lower(), metadata.get("namespace", "cluster"), metadata.get("name", "unnamed")]
    return "-".join(str(part) for part in parts) + ".yaml"


def _node_id(urn: str, ids: dict[str, str]) -> str:
    return ids.setdefault(urn, f"r{len(ids)}")


def mermaid_graph(run: StackRun) -> str:
    """Components as subgraphs, resources as nodes, dependencies as arrows (dependency -> dependent)."""
    ids: dict[str, str] = {}
    by_urn = {r.urn: r for r in run.registrations}
    children: dict[str, list[Registration]] = {}
    for r in run.registrations:
        children.setdefault(r.parent, []).append(r)
    lines = ["flowchart LR"]

    def emit(parent: str, indent: str) -> None:
        for r in children.get(parent, []):
            label = f"{r.type.split(':')[-1]}<br/>{r.name}"
            if r.custom:
                lines.append(f'{indent}{_node_id(r.urn, ids)}["{label}"]')
            else:
                lines.append(f'{indent}subgraph {_node_id(r.urn, ids)}["{r.name}"]')
                emit(r.urn, indent + "  ")
                lines.append(f"{indent}end")

    roots = {r.parent for r in run.registrations if r.parent not in by_urn}
    for root in sorted(roots):
        emit(root, "  ")
    for r in run.registrations:
        sources = set(r.dependencies)
        provider = _provider_urn(r)
        if provider:
            sources.add(provider)
        for source in sorted(sources):
            if source in by_urn:
                lines.append(f"  {_node_id(source, ids)} --> {_node_id(r.urn, ids)}")
    return "\n".join(lines) + "\n"


def estimated_minutes(resource_type: str) -> float:
    if resource_type in ESTIMATED_MINUTES:
        return ESTIMATED_MINUTES[resource_type]
    return DEFAULT_MINUTES.get(resource_type.split(":")[0], 0.0)


def registration_minutes(registration: Registration) -> float:
    if registration.type == RELEASE_TYPE and registration.inputs.get("chart") in CHART_MINUTES:
        return CHART_MINUTES[registration.inputs["chart"]]
    return estimated_minutes(registration.type)


def _finish_times(run: StackRun) -> dict[str, tuple[float, list[str]]]:
    """Each resource's estimated finish (minutes from the start) and the chain of URNs that leads to it.

    A dependency on a component means all of its descendants; a resource also waits for its
    explicit provider (and so for the AKS cluster behind the Kubernetes provider).
    """
    by_urn = {r.urn: r for r in run.registrations}
    descendants: dict[str, list[str]] = {}
    for r in run.registrations:
        parent = r.parent
        while parent in by_urn:
            descendants.setdefault(parent, []).append(r.urn)
            parent = by_urn[parent].parent

    def waits_for(r: Registration) -> set[str]:
        direct = set(r.dependencies)
        provider = _provider_urn(r)
        if provider:
            direct.add(provider)
        expanded: set[str] = set()
        for urn in direct:
            if urn in by_urn and not by_urn[urn].custom:
                expanded.update(u for u in descendants.get(urn, []) if by_urn[u].custom)
            elif urn in by_urn:
                expanded.add(urn)
        return expanded

    finish: dict[str, tuple[float, list[str]]] = {}

    def resolve(urn: str) -> tuple[float, list[str]]:
        if urn not in finish:
            r = by_urn[urn]
            before = max((resolve(d) for d in waits_for(r)), key=lambda item: item[0], default=(0.0, []))
            finish[urn] = (before[0] + registration_minutes(r), [*before[1], urn])
        return finish[urn]

    return {r.urn: resolve(r.urn) for r in run.registrations if r.custom}


def critical_path(run: StackRun) -> tuple[float, list[Registration]]:
    """Longest chain of create durations through the dependency graph."""
    by_urn = {r.urn: r for r in run.registrations}
    total, path = max(_finish_times(run).values(), key=lambda item: item[0], default=(0.0, []))
    return total, [by_urn[urn] for urn in path]


def time_to_ready(run: StackRun) -> float:
    """Estimated minutes until the database (the CNPG Cluster bootstrapped from scratch) is ready."""
    finish = _finish_times(run)
    fresh = [r for r in run.registrations if r.type == CLUSTER_TYPE and "recovery" not in r.inputs["spec"].get("bootstrap", {})]
    return max(finish[r.urn][0] for r in fresh)


def time_to_ready_floor() -> float:
    """The least a first deployment can take: resource group, control-plane identity and its role, AKS,
    the operators the database needs (cert-manager then the Barman Cloud plugin, beside the CNPG
    operator), Cluster bootstrap. Anything else on the way to the database is time above this floor."""
    platform = [
        "azure-native:resources:ResourceGroup",
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:authorization:RoleAssignment",
        "azure-native:containerservice:ManagedCluster",
        CLUSTER_TYPE,
    ]
    operators = max(CHART_MINUTES["cert-manager"] + CHART_MINUTES["plugin-barman-cloud"], CHART_MINUTES["cloudnative-pg"])
    return sum(estimated_minutes(kind) for kind in platform) + operators


def _time_to_ready_line(run: StackRun) -> str:
    ready, floor = time_to_ready(run), time_to_ready_floor()
    return (
        f"Database ready after an estimated {ready:.1f} minutes; the floor (resource group → control-plane identity and "
        f"role → AKS → cert-manager → Barman Cloud plugin, beside the CNPG operator → Cluster bootstrap) is "
        f"{floor:.1f} minutes: {ready / floor:.2f}× the floor."
    )


def summary_markdown(run: StackRun) -> str:
    counts = Counter(r.type for r in run.registrations)
    lines = [f"# Stack `{run.stack}`: offline render", "", "## Resources by type", "", "| type | count |", "|---|---|"]
    lines += [f"| `{kind}` | {count} |" for kind, count in sorted(counts.items())]
    lines += [
        "",
        f"Total: {len(run.registrations)} registrations.",
        "",
        "## Stack outputs",
        "",
        "| output | value |",
        "|---|---|",
    ]
    for name in sorted(run.outputs):
        value = REDACTED if name in run.secret_outputs else f"`{json.dumps(run.outputs[name])}`"
        lines.append(f"| `{name}` | {value} |")
    total, path = critical_path(run)
    lines += ["", f"## Critical path (estimated {total:.1f} minutes for a first deployment)", ""]
    lines += [_time_to_ready_line(run), ""]
    lines += ["| # | resource | type | minutes |", "|---|---|---|---|"]
    lines += [f"| {i} | `{r.name}` | `{r.type}` | {registration_minutes(r):.1f} |" for i, r in enumerate(path, 1)]
    lines += ["", "### Duration assumptions", "", "| type | minutes | assumption |", "|---|---|---|"]
    for kind, minutes in ESTIMATED_MINUTES.items():
        lines.append(f"| `{kind}` | {minutes:.1f} | {ASSUMPTION_NOTES.get(kind, 'typical ARM/API create time')} |")
    for chart, minutes in CHART_MINUTES.items():
        lines.append(f"| `{RELEASE_TYPE}` chart `{chart}` | {minutes:.1f} | Helm install with atomic wait |")
    for prefix, minutes in DEFAULT_MINUTES.items():
        lines.append(f"| any other `{prefix}:*` | {minutes:.1f} | default for its provider |")
    return "\n".join(lines) + "\n"


def policy_markdown(report: Any, stack: str) -> str:
    lines = [f"# Policy report for stack `{stack}`", ""]
    mandatory = list(report.mandatory_violations)
    verdict = "FAIL" if mandatory else "PASS"
    lines += [
        f"Verdict: **{verdict}** ({len(mandatory)} mandatory, {len(report.violations) - len(mandatory)} advisory violations)",
        "",
    ]
    lines += ["## Violations", ""]
    if report.violations:
        lines += ["| policy | level | resource | message |", "|---|---|---|---|"]
        for v in report.violations:
            message = " ".join(str(v.message).split())
            lines.append(f"| `{v.policy_name}` | {v.enforcement_level} | `{v.urn or '(stack)'}` | {message} |")
    else:
        lines.append("None.")
    lines += ["", "## Policies evaluated", "", "| policy | level | description |", "|---|---|---|"]
    lines += [f"| `{p.name}` | {p.enforcement_level} | {p.description} |" for p in report.policies]
    return "\n".join(lines) + "\n"


def write_render(run: StackRun, out: Path, report: Any) -> None:
    if out.exists():
        shutil.rmtree(out)
    manifests = out / "manifests"
    manifests.mkdir(parents=True)
    (out / "resources.json").write_text(json.dumps(resource_records(run), indent=2, sort_keys=True) + "\n")
    for index, obj in enumerate(kubernetes_objects(run), 1):
        (manifests / _manifest_file(index, obj)).write_text(yaml.safe_dump(obj, sort_keys=False))
    (out / "graph.mmd").write_text(mermaid_graph(run))
    (out / "summary.md").write_text(summary_markdown(run))
    (out / "policy-report.md").write_text(policy_markdown(report, run.stack))


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, help="output folder (default: build/<stack>)")
    parser.add_argument("--stack-file", type=Path, help="stack settings to render instead of Pulumi.<stack>.yaml")
    args = parser.parse_args(list(argv) if argv is not None else None)
    stack_file = args.stack_file or PROJECT_DIR / f"Pulumi.{args.stack}.yaml"
    if not stack_file.is_file():
        print(f"render: --stack {args.stack!r}: no stack file {stack_file}", file=sys.stderr)
        return 2
    session = PolicyPackSession(stack=args.stack)
    with ThreadPoolExecutor(max_workers=1) as background:
        # The pack's start-up (a Python process importing pulumi-policy) overlaps the program run.
        started = background.submit(session.start)
        try:
            run = run_stack(args.stack, config=stack_config_file(stack_file))
            started.result()
            report = session.analyze(run.registrations, args.stack)
        except pulumi.RunError as error:
            print(f"render: stack {args.stack!r}: {error}", file=sys.stderr)
            return 2
        finally:
            started.exception()  # wait for the start-up before closing
            session.close()
    out = args.out or PROJECT_DIR / "build" / args.stack
    write_render(run, out, report)
    try:
        write_chart_manifests(render_releases(run), out / "charts")
    except ChartError as error:
        print(f"render: stack {args.stack!r}: {error}", file=sys.stderr)
        return 2
    mandatory = list(report.mandatory_violations)
    print(
        f"render: stack {args.stack!r}: {len(run.registrations)} resources, policy verdict "
        f"{'FAIL' if mandatory else 'PASS'} -> {out}"
    )
    for violation in mandatory:
        print(
            f"  mandatory violation: {violation.policy_name} on {violation.urn or 'the stack'}: {violation.message}",
            file=sys.stderr,
        )
    return 1 if mandatory else 0


if __name__ == "__main__":
    sys.exit(main())
