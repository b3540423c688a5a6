"""Small lookups over a StackRun's registrations shared by the component tests."""

from __future__ import annotations

from functools import cache

from offline.engine import Registration, StackRun, run_stack, stack_config


def children(run: StackRun, component: str) -> list[Registration]:
    """Resources registered directly under the component with this logical name."""
    parent = next(r.urn for r in run.registrations if r.name == component and not r.custom)
    return [r for r in run.registrations if r.parent == parent]


def depends_on(run: StackRun, resource: Registration, other: Registration) -> bool:
    return other.urn in resource.dependencies


@cache
def prod_with_public_endpoint() -> StackRun:
    """prod with its public endpoint switched on (it ships private): public load balancers beside the internal ones."""
    section = stack_config("prod")["aks-postgres-ha:publicEndpoint"]
    return run_stack("prod", {"aks-postgres-ha:publicEndpoint": {**section, "enabled": True}})


def pooler_certificate_names(cluster: str = "pg-primary", namespace: str = "cnpg-database") -> list[str]:
    """The PgBouncer poolers' in-cluster names, in the order the server certificate lists them."""
    return [
        name
        for pooler in (f"{cluster}-pooler-rw", f"{cluster}-pooler-ro")
        for name in (pooler, f"{pooler}.{namespace}", f"{pooler}.{namespace}.svc", f"{pooler}.{namespace}.svc.cluster.local")
    ]
