"""Small lookups over a StackRun's registrations shared by the component tests."""

from __future__ import annotations

from offline.engine import Registration, StackRun


def children(run: StackRun, component: str) -> list[Registration]:
    """Resources registered directly under the component with this logical name."""
    parent = next(r.urn for r in run.registrations if r.name == component and not r.custom)
    return [r for r in run.registrations if r.parent == parent]


def depends_on(run: StackRun, resource: Registration, other: Registration) -> bool:
    return other.urn in resource.dependencies
