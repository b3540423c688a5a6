"""One policy-pack server for the whole session: starting it costs more than an analysis."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from offline.policy_client import PolicyPackSession, PolicyReport

from .expectations import Analyze
from .synthetic import SyntheticStack


@pytest.fixture(scope="session")
def policy_pack() -> Iterator[PolicyPackSession]:
    with PolicyPackSession() as session:
        yield session


@pytest.fixture
def analyze(policy_pack: PolicyPackSession) -> Analyze:
    def run(stack: SyntheticStack, config: Mapping[str, Any] | None = None) -> PolicyReport:
        return policy_pack.analyze(stack.registrations(), stack.stack, config)

    return run
