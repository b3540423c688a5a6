"""Measure the issue budgets on this machine (not a test: timings vary between machines).

    .venv/bin/python tools/benchmark.py [--no-tests] [--repeat N]

- the prod program under mocks in a fresh process that imports the SDKs and evaluates __main__.py
  (budget 3 s), and, in one process, its first run (SDK module imports) and the evaluation alone;
- a warm offline render of prod (``make render STACK=prod`` once set up: the program, the policy
  analysis over gRPC, the Helm releases from build/.cache/charts) (budget 3 s);
- ``make test``, the whole suite on one worker per CPU (budget 120 s; skipped with --no-tests);
- the program's evaluation alone for a 10-cluster platform against a one-cluster one, both made from
  Pulumi.platform.yaml (``platform_config``) (budget: within 2.5x);
- the estimated first-deployment time to a ready database against its floor (offline/render.py
  ``time_to_ready``: the dependency graph with per-resource and per-chart create durations; target
  within 1.05x of the floor).

Each command is timed as a whole process: the median wall time against the budget, and its CPU time
(user + system, its child processes included: the policy pack, the test workers). On a machine
shared with other work the wall time rises, the CPU time much less.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TIME_TO_READY_TARGET = 1.05  # times the floor
PLATFORM_CLUSTERS = 10
PLATFORM_TARGET = 2.5  # times the one-cluster evaluation


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float  # user + system of the command and every child it waited for


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], repeat: int, warmup: int = 0) -> list[Sample]:
    samples = []
    for run in range(warmup + repeat):
        cpu, start = _children_cpu(), time.perf_counter()
        subprocess.run(command, cwd=PROJECT_DIR, check=True, capture_output=True)
        if run >= warmup:
            samples.append(Sample(time.perf_counter() - start, _children_cpu() - cpu))
    return samples


def _report(label: str, samples: list[Sample], budget: float) -> bool:
    wall = statistics.median(sample.wall for sample in samples)
    cpu = statistics.median(sample.cpu for sample in samples)
    within = wall <= budget
    print(
        f"{label:<58} median {wall:6.2f} s  (min {min(s.wall for s in samples):.2f}, n={len(samples)}, "
        f"CPU {cpu:.2f} s)  budget {budget:.0f} s  {'OK' if within else 'OVER'}"
    )
    return within


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-tests", action="store_true", help="leave out the test suite (about 2 minutes)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ok = True
    ok &= _report(
        "prod program under mocks (fresh process, imports included)",
        _timed([PYTHON, "-c", "from offline.engine import run_stack; run_stack('prod')"], args.repeat),
        3.0,
    )
    # First run: the program's own imports of the Azure/Kubernetes SDK modules, then evaluation;
    # later runs: evaluation alone.
    timing = (
        "import time; from offline.engine import run_stack; t = time.perf_counter(); run_stack('prod'); "
        "first = time.perf_counter() - t; t, c = time.perf_counter(), time.process_time(); "
        "[run_stack('prod') for _ in range(5)]; "
        "print(first, (time.perf_counter() - t) / 5, (time.process_time() - c) / 5)"
    )
    output = subprocess.run([PYTHON, "-c", timing], cwd=PROJECT_DIR, check=True, capture_output=True, text=True).stdout
    first, evaluation, evaluation_cpu = (float(value) for value in output.split())
    print(f"{'prod program, first run in a process (SDK module imports)':<58} once   {first:6.2f} s")
    print(
        f"{'prod program evaluation alone (SDKs already imported)':<58} mean   {evaluation:6.2f} s  "
        f"(CPU {evaluation_cpu:.2f} s)  budget 1.5 s"
    )
    # Warm: one render first (the chart cache, the operating system's file cache), as after `make render`.
    with tempfile.TemporaryDirectory() as out:
        ok &= _report(
            "offline render of prod, warm (make render STACK=prod)",
            _timed([PYTHON, "-m", "offline.render", "--stack", "prod", "--out", out], args.repeat, warmup=1),
            3.0,
        )
    ok &= _report_platform_evaluation()
    if not args.no_tests:
        ok &= _report("make test (whole suite, one worker per CPU)", _timed(["make", "--no-print-directory", "test"], 1), 120.0)
    ok &= _report_time_to_ready()
    return 0 if ok else 1


def platform_config(clusters: int) -> dict[str, Any]:
    """Pulumi.platform.yaml with ``clusters`` clusters, its entries in turn (orders-1, billing-2, analytics-3,
    orders-4, ...), on a pool that holds ten: 4 Standard_D16s_v3 nodes, 6 with a zone down (settings/capacity.py)."""
    sys.path.insert(0, str(PROJECT_DIR))
    from offline.engine import PROJECT, stack_config

    values = copy.deepcopy(stack_config("platform"))
    entries = itertools.islice(itertools.cycle(values[f"{PROJECT}:clusters"].items()), clusters)
    values[f"{PROJECT}:clusters"] = {
        f"{name}-{number}": _another(entry, first=number <= 3) for number, (name, entry) in enumerate(entries, start=1)
    }
    values[f"{PROJECT}:aks"]["postgresPool"].update(vmSize="Standard_D16s_v3", maxCount=6)
    return values


def _another(entry: dict[str, Any], *, first: bool) -> dict[str, Any]:
    """A copy of an example entry; a repeat leaves out the internal addresses (each cluster needs its own)
    and the client networks that reach it through them."""
    entry = copy.deepcopy(entry)
    if not first and entry.pop("internalEndpoint", None) is not None:
        entry.get("clients", {}).pop("cidrs", None)
    return entry


def _report_platform_evaluation() -> bool:
    # One process: a first run of each (SDK module imports), then runs of one and of ten clusters in turn.
    timing = (
        "import time; from offline.engine import run_stack; from tools.benchmark import platform_config; "
        f"configs = [platform_config(1), platform_config({PLATFORM_CLUSTERS})]; "
        "[run_stack('platform', config=config) for config in configs]; wall, cpu = [0.0, 0.0], [0.0, 0.0]\n"
        "for _ in range(5):\n"
        "    for index, config in enumerate(configs):\n"
        "        t, c = time.perf_counter(), time.process_time(); run_stack('platform', config=config)\n"
        "        wall[index] += (time.perf_counter() - t) / 5; cpu[index] += (time.process_time() - c) / 5\n"
        "print(*wall, *cpu)"
    )
    output = subprocess.run([PYTHON, "-c", timing], cwd=PROJECT_DIR, check=True, capture_output=True, text=True).stdout
    one, many, one_cpu, many_cpu = (float(value) for value in output.split())
    within = many <= PLATFORM_TARGET * one
    print(
        f"{f'platform evaluation alone, {PLATFORM_CLUSTERS} clusters vs 1':<58} mean   {many:6.2f} s  against {one:.2f} s: "
        f"{many / one:.2f}x (CPU {many_cpu:.2f} s against {one_cpu:.2f} s: {many_cpu / one_cpu:.2f}x)  "
        f"budget {PLATFORM_TARGET:.1f}x  {'OK' if within else 'OVER'}"
    )
    return within


def _report_time_to_ready() -> bool:
    sys.path.insert(0, str(PROJECT_DIR))
    from offline.engine import run_stack
    from offline.render import time_to_ready, time_to_ready_floor

    ready, floor = time_to_ready(run_stack("prod")), time_to_ready_floor()
    within = ready <= TIME_TO_READY_TARGET * floor
    print(
        f"{'prod first deployment: database ready (estimate)':<58} {ready:6.1f} min  floor {floor:.1f} min  "
        f"{ready / floor:.2f}x, target {TIME_TO_READY_TARGET:.2f}x  {'OK' if within else 'OVER'}"
    )
    return within


if __name__ == "__main__":
    sys.exit(main())
