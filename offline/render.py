"""Offline render: the whole desired state of a stack, with no cloud credentials and no Pulumi CLI.

    python -m offline.render --stack prod        # writes build/prod/

Runs the program under the recording mock engine with the stack's settings and writes
``resources.json``, ``manifests/``, ``graph.mmd``, ``graph-components.mmd``, ``summary.md`` and
``policy-report.md`` (the policy pack's verdicts, obtained over its Analyzer gRPC interface as
the CLI does, with ``policies/config.<environment>.json``). Exits 1 on a mandatory policy violation and
2 on an invalid stack file, invalid settings or no policy configuration for the stack's environment,
with one line per problem. Placeholders a real deployment refuses (the shipped
documentation ranges) are flagged at the top of the summary and on the console, not fatal.
"""

from __future__ import annotations

import argparse
import gc
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
from offline.graph import component_graph, provider_urn, resource_graph
from offline.policy_client import PolicyPackError, PolicyPackSession
from offline.stack_file import StackFileError
from settings import PLACEHOLDER_WARNING

SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
CHART_CACHE_DIR = PROJECT_DIR / "build" / ".cache" / "charts"  # see offline/charts.py
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


def resource_records(run: StackRun) -> list[dict[str, Any]]:
    return [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "custom": r.custom,
            "parent": r.parent,
            "dependencies": r.dependencies,
            "provider": provider_urn(r),
            "protect": r.protect,
            "inputs": redacted_inputs(r) if r.custom else {},
        }
        for r in run.registrations
    ]


# kubectl's order for the top level; every other mapping is sorted, as ``kubectl get -o yaml`` prints it.
_TOP_LEVEL_ORDER = ("apiVersion", "kind", "metadata", "spec", "type", "data", "stringData", "binaryData")
_METADATA_ORDER = ("name", "namespace", "labels", "annotations")


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value


def _ordered(mapping: Mapping[str, Any], first: tuple[str, ...], last: tuple[str, ...] = ()) -> dict[str, Any]:
    rest = sorted(key for key in mapping if key not in first and key not in last)
    keys = [key for key in (*first, *rest, *last) if key in mapping]
    return {key: _sorted_keys(mapping[key]) for key in keys}


def manifest(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An object with its keys where kubectl users look: apiVersion, kind, metadata, spec/data ..., status last."""
    ordered = _ordered(obj, _TOP_LEVEL_ORDER, last=("status",))
    if isinstance(obj.get("metadata"), dict):
        ordered["metadata"] = _ordered(obj["metadata"], _METADATA_ORDER)
    return ordered


def kubernetes_objects(run: StackRun) -> list[dict[str, Any]]:
    """Every Kubernetes object (not Helm releases or the provider), secrets redacted, keys in kubectl order."""
    objects = []
    for registration in run.registrations:
        inputs = redacted_inputs(registration)
        if registration.type.startswith("kubernetes:") and "kind" in inputs and "apiVersion" in inputs:
            objects.append(manifest(inputs))
    return objects


def _api_group(obj: Mapping[str, Any]) -> str:
    api_version = str(obj["apiVersion"])
    return api_version.split("/")[0] if "/" in api_version else ""


def manifest_files(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """File name -> object, sorted by name: ``<kind>-<namespace>-<name>.yaml``, the kind qualified
    with its API group (``podmonitor.monitoring.coreos.com``) when several groups define that kind."""
    groups: dict[str, set[str]] = {}
    for obj in objects:
        groups.setdefault(obj["kind"], set()).add(_api_group(obj))
    files: dict[str, dict[str, Any]] = {}
    for obj in objects:
        kind = obj["kind"].lower()
        if len(groups[obj["kind"]]) > 1 and _api_group(obj):
            kind = f"{kind}.{_api_group(obj)}"
        metadata = obj.get("metadata") or {}
        name = f"{kind}-{metadata.get('namespace', 'cluster')}-{metadata.get('name', 'unnamed')}.yaml"
        if name in files:
            raise ValueError(f"two Kubernetes objects would both be written to {name}")
        files[name] = obj
    return dict(sorted(files.items()))


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
        provider = provider_urn(r)
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
    """Estimated minutes until the database (the CNPG Cluster bootstrapped from scratch, or a
    disaster-recovery stack's replica cluster) is ready; a restore's recovery cluster does not count."""
    finish = _finish_times(run)
    fresh = [
        r
        for r in run.registrations
        if r.type == CLUSTER_TYPE and ("recovery" not in r.inputs["spec"].get("bootstrap", {}) or "replica" in r.inputs["spec"])
    ]
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


def _role(registration: Registration) -> str:
    if registration.type.startswith("pulumi:providers:"):
        return "provider"
    return "resource" if registration.custom else "component"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def registration_counts(run: StackRun) -> str:
    """``38 resources, 1 provider, 11 components``: what a deployment creates, then the program's structure."""
    roles = Counter(_role(r) for r in run.registrations)
    return ", ".join(_plural(roles[role], role) for role in ("resource", "provider", "component"))


def placeholder_warnings(run: StackRun) -> list[str]:
    return [w.removeprefix(PLACEHOLDER_WARNING) for w in run.warnings if w.startswith(PLACEHOLDER_WARNING)]


def _warnings_section(run: StackRun) -> list[str]:
    placeholders = placeholder_warnings(run)
    others = [w for w in run.warnings if not w.startswith(PLACEHOLDER_WARNING)]
    lines = []
    if placeholders:
        lines += [
            f"> **Not deployable as is: {_plural(len(placeholders), 'setting')} still hold placeholders.** "
            "A real `pulumi preview` or `pulumi up` refuses them; this render goes on so you can review the rest.",
            ">",
            *(f"> - {placeholder}" for placeholder in placeholders),
            "",
        ]
    if others:
        lines += ["## Program warnings", "", *(f"- {warning}" for warning in others), ""]
    return lines


def _resources_section(run: StackRun) -> list[str]:
    roles = {r.type: _role(r) for r in run.registrations}
    counts = Counter(r.type for r in run.registrations)
    lines = ["## Registrations by type", "", "| type | role | count |", "|---|---|---|"]
    lines += [f"| `{kind}` | {roles[kind]} | {count} |" for kind, count in sorted(counts.items())]
    lines += [
        "",
        f"Total: {registration_counts(run)}. Resources and providers are what a deployment creates; components only group them.",
    ]
    return lines


def _outputs_section(run: StackRun) -> list[str]:
    lines = ["## Stack outputs", "", "| output | value | origin |", "|---|---|---|"]
    for name in sorted(run.outputs):
        if name in run.secret_outputs:
            value, origin = REDACTED, "secret"
        else:
            value = f"`{json.dumps(run.outputs[name])}`"
            origin = "**mock**" if name in run.mock_outputs else "program"
        lines.append(f"| `{name}` | {value} | {origin} |")
    lines += [
        "",
        "**mock**: holds a value the offline engine invented (resource ID, client ID, IP address, FQDN, random "
        "name suffix); a deployment reports its own. **program**: derived from the settings alone, as deployed.",
    ]
    return lines


def _critical_path_section(run: StackRun) -> list[str]:
    total, path = critical_path(run)
    lines = [f"## Critical path (estimated {total:.1f} minutes for a first deployment)", ""]
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
    return lines


def summary_markdown(run: StackRun) -> str:
    sections = [_resources_section(run), _outputs_section(run), _critical_path_section(run)]
    lines = [f"# Stack `{run.stack}`: offline render", "", *_warnings_section(run)]
    for section in sections:
        lines += [*section, ""]
    return "\n".join(lines)


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
    for file_name, obj in manifest_files(kubernetes_objects(run)).items():
        (manifests / file_name).write_text(yaml.safe_dump(obj, sort_keys=False))
    (out / "graph.mmd").write_text(resource_graph(run))
    (out / "graph-components.mmd").write_text(component_graph(run))
    (out / "summary.md").write_text(summary_markdown(run))
    (out / "policy-report.md").write_text(policy_markdown(report, run.stack))


def _arguments(argv: Iterable[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, help="output folder (default: build/<stack>)")
    parser.add_argument("--stack-file", type=Path, help="stack settings to render instead of Pulumi.<stack>.yaml")
    return parser.parse_args(list(argv) if argv is not None else None)


def _run_with_policies(stack: str, config: dict[str, Any]) -> tuple[StackRun, Any]:
    """The program run and the policy pack's report (``pulumi.RunError`` on invalid settings,
    ``PolicyPackError`` when the stack's environment has no policy configuration)."""
    session = PolicyPackSession(stack=stack, stack_config=config)
    with ThreadPoolExecutor(max_workers=1) as background:
        # The pack's start-up (a Python process importing pulumi-policy) overlaps the program run.
        started = background.submit(session.start)
        try:
            run = run_stack(stack, config=config)
            started.result()
            return run, session.analyze(run.registrations, stack, stack_config=config)
        finally:
            started.exception()  # wait for the start-up before closing
            session.close()


def _report_to_console(run: StackRun, report: Any, out: Path) -> None:
    mandatory = list(report.mandatory_violations)
    placeholders = placeholder_warnings(run)
    flag = f", NOT DEPLOYABLE: {_plural(len(placeholders), 'placeholder setting')}" if placeholders else ""
    print(
        f"render: stack {run.stack!r}: {registration_counts(run)}, policy verdict "
        f"{'FAIL' if mandatory else 'PASS'}{flag} -> {out}"
    )
    for placeholder in placeholders:
        print(f"  placeholder: {placeholder}")
    for violation in mandatory:
        print(
            f"  mandatory violation: {violation.policy_name} on {violation.urn or 'the stack'}: {violation.message}",
            file=sys.stderr,
        )


def main(argv: Iterable[str] | None = None) -> int:
    args = _arguments(argv)
    stack_file = args.stack_file or PROJECT_DIR / f"Pulumi.{args.stack}.yaml"
    if not stack_file.is_file():
        print(f"render: --stack {args.stack!r}: no stack file {stack_file}", file=sys.stderr)
        return 2
    try:
        run, report = _run_with_policies(args.stack, stack_config_file(stack_file))
    except StackFileError as error:
        print(f"render: {error}", file=sys.stderr)
        return 2
    except pulumi.RunError as error:
        print(f"render: stack {args.stack!r}: {error}", file=sys.stderr)
        return 2
    except PolicyPackError as error:
        print(f"render: stack {args.stack!r}: {error}", file=sys.stderr)
        return 2
    out = args.out or PROJECT_DIR / "build" / args.stack
    write_render(run, out, report)
    try:
        write_chart_manifests(render_releases(run, CHART_CACHE_DIR), out / "charts")
    except ChartError as error:
        print(f"render: stack {args.stack!r}: {error}", file=sys.stderr)
        return 2
    _report_to_console(run, report, out)
    return 1 if list(report.mandatory_violations) else 0


if __name__ == "__main__":
    # One program run, then exit: the cyclic collector would only rescan the SDK modules (see
    # offline/engine.py); the process's memory is returned when it ends.
    gc.disable()
    sys.exit(main())
