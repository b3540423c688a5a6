"""PgBouncer poolers (CloudNativePG ``Pooler``) cannot exhaust their Cluster's ``max_connections``.

PgBouncer opens server connections on demand up to ``max_db_connections`` per database and pooler
instance (its default 0 means unlimited; ``default_pool_size`` is per user/database pair, so it
bounds nothing). Each pooler instance reaches two databases: the application database and
``postgres``, where CloudNativePG's auth_query runs (settings/pooler.py,
``DATABASES_PER_POOLER_INSTANCE``). So all Poolers of a Cluster together can hold
sum(instances x max_db_connections x 2), and that plus the connections PostgreSQL keeps for
superusers and reserved roles must stay within ``max_connections``, or client load on the poolers
alone can refuse every other connection. Both pooler types count against every instance: after a
failover the promoted replica can still hold the read-only pooler's connections.

The program's own budget (settings/pooler.py) is stricter: it also keeps room for CloudNativePG's
sessions, standbys and direct clients. This policy is the floor any stack must meet.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from .cnpg_objects import named_clusters
from .common import UNKNOWN, kubernetes_name, kubernetes_namespace, label, lookup, of_type, plain, stack_policy, text
from .resource_types import CNPG_POOLER

# PostgreSQL's defaults when the Cluster does not set them; CloudNativePG's default Pooler instances.
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_SUPERUSER_RESERVED_CONNECTIONS = 3
DEFAULT_RESERVED_CONNECTIONS = 0
DEFAULT_POOLER_INSTANCES = 1
PGBOUNCER_DEFAULT_POOL_SIZE = 20
# As settings/pooler.py: the application database and ``postgres`` (auth_query).
DATABASES_PER_POOLER_INSTANCE = 2


class _UnreadableError(ValueError):
    """A setting that is set but not a whole number."""


def _whole(value: Any, default: int) -> int | None:
    """A count given as a number or a string of digits; ``default`` when unset, None when unknown."""
    if value is None:
        return default
    if value is UNKNOWN:
        return None
    if isinstance(value, bool):
        raise _UnreadableError(repr(value))
    if isinstance(value, int | float) and float(value).is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise _UnreadableError(repr(value))


def _named(resource: PolicyResource, props: Any) -> str:
    return f"{label(resource.resource_type, resource.name)} ('{kubernetes_name(props)}')"


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    props = {resource.urn: plain(resource.props) for resource in args.resources}
    clusters = {(namespace, name): cluster for cluster, name, namespace in named_clusters(args.resources, props)}
    poolers: dict[tuple[str, str], list[PolicyResource]] = {}
    for pooler in of_type(args.resources, CNPG_POOLER):
        cluster_name = text(lookup(props[pooler.urn], "spec", "cluster", "name"))
        key = (kubernetes_namespace(props[pooler.urn]), cluster_name or "")
        if key in clusters:  # a Pooler of a Cluster outside this stack cannot be checked here
            poolers.setdefault(key, []).append(pooler)
    for key, members in poolers.items():
        _check_cluster(clusters[key], members, props, report_violation)


def _check_cluster(
    cluster: PolicyResource, poolers: list[PolicyResource], props: dict[str, Any], report_violation: ReportViolation
) -> None:
    parameters = lookup(props[cluster.urn], "spec", "postgresql", "parameters")
    where = _named(cluster, props[cluster.urn])
    counts: dict[str, int] = {}
    for name, default in (
        ("max_connections", DEFAULT_MAX_CONNECTIONS),
        ("superuser_reserved_connections", DEFAULT_SUPERUSER_RESERVED_CONNECTIONS),
        ("reserved_connections", DEFAULT_RESERVED_CONNECTIONS),
    ):
        try:
            count = _whole(lookup(parameters, name), default)
        except _UnreadableError as error:
            report_violation(
                f"{where}: spec.postgresql.parameters.{name} is {error}, not a whole number, so its Poolers' "
                "connections cannot be checked against it; set it to a number of connections.",
                cluster.urn,
            )
            return
        if count is None:
            return  # not known in this preview
        counts[name] = count
    shares: list[tuple[str, int, int, int]] = []  # (Pooler, instances, max_db_connections, connections)
    complete = True
    for pooler in poolers:
        share = _pooler_share(pooler, props[pooler.urn], report_violation)
        if share is None:
            complete = False
        else:
            shares.append((_named(pooler, props[pooler.urn]), *share))
    if not complete or not shares:
        return
    reserved = counts["superuser_reserved_connections"] + counts["reserved_connections"]
    held = sum(connections for *_, connections in shares)
    if held + reserved <= counts["max_connections"]:
        return
    instances = sum(instances for _, instances, _, _ in shares)
    largest = (counts["max_connections"] - reserved) // (instances * DATABASES_PER_POOLER_INSTANCE)
    breakdown = "; ".join(
        f"{name}: {instances} instance(s) x max_db_connections {max_db} x {DATABASES_PER_POOLER_INSTANCE} databases "
        f"= {connections}"
        for name, instances, max_db, connections in shares
    )
    report_violation(
        f"{where}: its Poolers can open {held} server connections ({breakdown}); with "
        f"superuser_reserved_connections {counts['superuser_reserved_connections']} and reserved_connections "
        f"{counts['reserved_connections']} that is {held + reserved}, above max_connections {counts['max_connections']}, "
        "so client load on the poolers alone can exhaust PostgreSQL. Lower the Poolers' "
        f"spec.pgbouncer.parameters.max_db_connections (at most {largest} with these instances) or spec.instances, "
        "or raise spec.postgresql.parameters.max_connections.",
        cluster.urn,
    )


def _pooler_share(pooler: PolicyResource, spec_props: Any, report_violation: ReportViolation) -> tuple[int, int, int] | None:
    """(instances, max_db_connections, connections it can open), or None when unbounded, unreadable or unknown."""
    where = _named(pooler, spec_props)
    parameters = lookup(spec_props, "spec", "pgbouncer", "parameters")
    try:
        instances = _whole(lookup(spec_props, "spec", "instances"), DEFAULT_POOLER_INSTANCES)
        max_db = _whole(lookup(parameters, "max_db_connections"), 0)
    except _UnreadableError as error:
        report_violation(
            f"{where}: spec.instances or spec.pgbouncer.parameters.max_db_connections is {error}, not a whole "
            "number; set both to numbers so the connections it can open are bounded and checkable.",
            pooler.urn,
        )
        return None
    if instances is None or max_db is None:
        return None
    if max_db == 0:
        pool_size = lookup(parameters, "default_pool_size")
        shown = pool_size if pool_size not in (None, UNKNOWN) else f"PgBouncer's default {PGBOUNCER_DEFAULT_POOL_SIZE}"
        report_violation(
            f"{where}: spec.pgbouncer.parameters.max_db_connections is "
            f"{'not set' if lookup(parameters, 'max_db_connections') is None else 0} (PgBouncer: unlimited), so its "
            f"{instances} instance(s) can open any number of server connections; default_pool_size ({shown}) does not "
            "bound them, it applies per user and database. Set max_db_connections so that all Poolers of the "
            f"Cluster together (instances x max_db_connections x {DATABASES_PER_POOLER_INSTANCE} databases) plus the "
            "reserved connections stay within max_connections.",
            pooler.urn,
        )
        return None
    return instances, max_db, instances * max_db * DATABASES_PER_POOLER_INSTANCE


POOLER_POLICIES = [
    stack_policy(
        "cnpg-pooler-connection-budget",
        "The PgBouncer Poolers of a CNPG Cluster cannot open more server connections than its max_connections.",
        _validate,
    ),
]
