"""Dependency graphs people can read, as Mermaid flowcharts of one stack run.

``resource_graph`` draws each resource inside its component (subgraphs) with only the edges no
longer path implies (transitive reduction over dependencies and explicit providers): if C
waits for B and B waits for A, the arrow A -> C adds nothing and is left out.
``component_graph`` is the coarse view: one node per top-level component, reduced the same way.
Arrows point from a dependency to what waits for it.
"""

from __future__ import annotations

from collections.abc import Iterable

from offline.engine import Registration, StackRun

Edge = tuple[str, str]


def provider_urn(registration: Registration) -> str | None:
    """The URN of the explicit provider (``<urn>::<id>`` on the wire), if any."""
    return registration.provider.rsplit("::", 1)[0] if registration.provider else None


def dependency_edges(registrations: Iterable[Registration]) -> set[Edge]:
    """(dependency, dependent) pairs: declared and input dependencies, and explicit providers."""
    registrations = list(registrations)
    known = {r.urn for r in registrations}
    edges = set()
    for r in registrations:
        sources = {*r.dependencies, provider_urn(r)}
        edges |= {(source, r.urn) for source in sources if source in known and source != r.urn}
    return edges


def _reaches(edges: set[Edge], source: str, target: str) -> bool:
    successors: dict[str, list[str]] = {}
    for a, b in edges:
        successors.setdefault(a, []).append(b)
    seen, frontier = {source}, [source]
    while frontier:
        for successor in successors.get(frontier.pop(), []):
            if successor == target:
                return True
            if successor not in seen:
                seen.add(successor)
                frontier.append(successor)
    return False


def transitive_reduction(edges: set[Edge]) -> set[Edge]:
    """Drop every edge whose target stays reachable without it.

    On an acyclic graph this is the unique transitive reduction; components can wait for each
    other both ways (AKS needs the log workspace, the workspace's data rules need AKS), and
    there it keeps a minimal set of edges with the same reachability.
    """
    kept = set(edges)
    for edge in sorted(edges):
        kept.discard(edge)
        if not _reaches(kept, *edge):
            kept.add(edge)
    return kept


def _type_name(registration: Registration) -> str:
    return registration.type.rsplit(":", 1)[-1]


def _short_name(registration: Registration, by_urn: dict[str, Registration]) -> str:
    """The name without its component's prefix (``database-app-credentials`` in ``database`` is ``app-credentials``)."""
    parent = by_urn.get(registration.parent)
    if parent is not None and registration.name.startswith(parent.name + "-"):
        return registration.name[len(parent.name) + 1 :]
    return registration.name


class _Ids:
    """Short, stable Mermaid node IDs in order of first use."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    def __call__(self, urn: str) -> str:
        return self._ids.setdefault(urn, f"n{len(self._ids)}")


def resource_graph(run: StackRun) -> str:
    """Components as subgraphs, resources as nodes, the transitive reduction of dependencies as arrows."""
    by_urn = {r.urn: r for r in run.registrations}
    children: dict[str, list[Registration]] = {}
    for r in run.registrations:
        children.setdefault(r.parent, []).append(r)
    node = _Ids()
    lines = ["flowchart LR", "  %% dependency --> dependent; arrows implied by a longer path are left out"]

    def emit(parent: str, indent: str) -> None:
        for r in children.get(parent, []):
            if r.custom:
                lines.append(f'{indent}{node(r.urn)}["{_short_name(r, by_urn)}<br/><small>{_type_name(r)}</small>"]')
            else:
                lines.append(f'{indent}subgraph {node(r.urn)}["{r.name}"]')
                emit(r.urn, indent + "  ")
                lines.append(f"{indent}end")

    for root in sorted({r.parent for r in run.registrations if r.parent not in by_urn}):
        emit(root, "  ")
    lines += [f"  {node(a)} --> {node(b)}" for a, b in _in_registration_order(resource_edges(run), by_urn)]
    return "\n".join(lines) + "\n"


def resource_edges(run: StackRun) -> set[Edge]:
    """The arrows of ``resource_graph``."""
    return transitive_reduction(dependency_edges(run.registrations))


def _in_registration_order(edges: set[Edge], by_urn: dict[str, Registration]) -> list[Edge]:
    order = {urn: index for index, urn in enumerate(by_urn)}
    return sorted(edges, key=lambda edge: (order[edge[1]], order[edge[0]]))


def _top_level(urn: str, by_urn: dict[str, Registration]) -> str:
    """The outermost ancestor below the stack (the resource itself when it has no component)."""
    while by_urn[urn].parent in by_urn:
        urn = by_urn[urn].parent
    return urn


def component_edges(run: StackRun) -> set[Edge]:
    """Top-level components that wait for one another, reduced."""
    by_urn = {r.urn: r for r in run.registrations}
    lifted = {(_top_level(a, by_urn), _top_level(b, by_urn)) for a, b in dependency_edges(run.registrations)}
    return transitive_reduction({(a, b) for a, b in lifted if a != b})


def component_graph(run: StackRun) -> str:
    """One node per top-level component (or component-less resource), arrows between them."""
    by_urn = {r.urn: r for r in run.registrations}
    node = _Ids()
    lines = ["flowchart LR", "  %% top-level components; dependency --> dependent, implied arrows left out"]
    for r in run.registrations:
        if r.parent not in by_urn:
            count = sum(1 for other in run.registrations if other.custom and _top_level(other.urn, by_urn) == r.urn)
            detail = _type_name(r) if r.custom else f"{count} resource{'' if count == 1 else 's'}"
            lines.append(f'  {node(r.urn)}["{r.name}<br/><small>{detail}</small>"]')
    lines += [f"  {node(a)} --> {node(b)}" for a, b in _in_registration_order(component_edges(run), by_urn)]
    return "\n".join(lines) + "\n"
