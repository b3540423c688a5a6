"""Shared fixtures: whole-program runs under the recording mock engine.

A run takes well under a second, so the shipped stacks are run once per session and shared;
tests that need other settings call ``run_stack`` with overrides.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from offline.engine import StackRun, run_stack  # noqa: E402

STACKS = ("dev", "prod")


@pytest.fixture(scope="session")
def stack_runs() -> dict[str, StackRun]:
    return {stack: run_stack(stack) for stack in STACKS}


@pytest.fixture(scope="session")
def dev(stack_runs: dict[str, StackRun]) -> StackRun:
    return stack_runs["dev"]


@pytest.fixture(scope="session")
def prod(stack_runs: dict[str, StackRun]) -> StackRun:
    return stack_runs["prod"]


@pytest.fixture(params=STACKS)
def shipped(request: pytest.FixtureRequest, stack_runs: dict[str, StackRun]) -> StackRun:
    """Each shipped stack in turn."""
    return stack_runs[request.param]
