"""Measure the issue budgets on this machine (not a test: timings vary between machines).

    .venv/bin/python tools/benchmark.py [--tests]

- prod program under mocks: a fresh process that imports the SDKs and evaluates __main__.py
  (budget 1.5 s), and the evaluation alone once the SDKs are imported;
- offline render of prod including the policy analysis over gRPC (budget 3 s);
- with --tests, the whole test suite (budget 90 s);
- the estimated first-deployment time to a ready database against its floor (offline/render.py
  ``time_to_ready``: the dependency graph with per-resource and per-chart create durations; target
  within 1.05x of the floor).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TIME_TO_READY_TARGET = 1.05  # times the floor


def _timed(command: list[str], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=PROJECT_DIR, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return samples


def _report(label: str, samples: list[float], budget: float) -> bool:
    median = statistics.median(samples)
    within = median <= budget
    verdict = "OK" if within else "OVER"
    print(f"{label:<58} median {median:6.2f} s  (min {min(samples):.2f}, n={len(samples)})  budget {budget:.1f} s  {verdict}")
    return within


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", action="store_true", help="also time the whole test suite")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ok = True
    ok &= _report(
        "prod program under mocks (fresh process, imports included)",
        _timed([PYTHON, "-c", "from offline.engine import run_stack; run_stack('prod')"], args.repeat),
        1.5,
    )
    # First run: the program's own imports of the Azure/Kubernetes SDK modules, then evaluation;
    # later runs: evaluation alone.
    timing = (
        "import time; from offline.engine import run_stack; t = time.perf_counter(); run_stack('prod'); "
        "first = time.perf_counter() - t; t = time.perf_counter(); [run_stack('prod') for _ in range(5)]; "
        "print(first, (time.perf_counter() - t) / 5)"
    )
    output = subprocess.run([PYTHON, "-c", timing], cwd=PROJECT_DIR, check=True, capture_output=True, text=True).stdout
    first, evaluation = (float(value) for value in output.split())
    print(f"{'prod program, first run in a process (SDK module imports)':<58} once   {first:6.2f} s")
    print(f"{'prod program evaluation alone (SDKs already imported)':<58} mean   {evaluation:6.2f} s  budget 1.5 s")
    with tempfile.TemporaryDirectory() as out:
        ok &= _report(
            "offline render of prod, policy analysis included",
            _timed([PYTHON, "-m", "offline.render", "--stack", "prod", "--out", out], args.repeat),
            3.0,
        )
    if args.tests:
        ok &= _report("whole test suite", _timed([PYTHON, "-m", "pytest", "-q"], 1), 90.0)
    ok &= _report_time_to_ready()
    return 0 if ok else 1


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
