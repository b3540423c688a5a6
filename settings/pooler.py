"""Connection pooling settings (CloudNativePG ``Pooler``, PgBouncer) and the server-connection budget.

Pool sizes come from PostgreSQL's ``max_connections``: whatever the poolers can open together
must leave room for the connections PostgreSQL and CloudNativePG keep for themselves, so no
amount of client load on the poolers can exhaust the server. The arithmetic is pure, shared by
the settings check, the component and the policy pack (which recomputes it from the manifests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from settings.rules import ROLES, ContainerResources, SettingsModel, by_role, cpu_millicores, quantity_bytes

if TYPE_CHECKING:
    from settings import Settings

# Pooler types: rw forwards to the primary (<cluster>-rw), ro to the replicas (<cluster>-ro).
POOLER_TYPES = ROLES
# PostgreSQL's default superuser_reserved_connections; reserved_connections (PostgreSQL 16+) defaults to 0.
DEFAULT_SUPERUSER_RESERVED_CONNECTIONS = 3
# An allowance for CloudNativePG's own sessions on an instance: the instance manager (status,
# probes, role and database reconciliation), the metrics exporter and a backup or pg_rewind in flight.
CNPG_RESERVED_CONNECTIONS = 3
# PgBouncer applies max_db_connections per database, and each pooler instance reaches two: the
# application database (the only one its pg_hba admits clients to) and ``postgres``, where
# CloudNativePG's auth_query runs as cnpg_pooler_pgbouncer.
DATABASES_PER_POOLER_INSTANCE = 2


def _pooler_cpu(value: str) -> str:
    if cpu_millicores(value) < 100:
        raise ValueError("must be at least 100m")
    return value


def _pooler_memory(value: str) -> str:
    if quantity_bytes(value) < 64 * 2**20:
        raise ValueError("must be at least 64Mi")
    return value


class PoolerResources(ContainerResources):
    cpu: Annotated[str, AfterValidator(_pooler_cpu)] = "500m"
    """CPU request = limit of each PgBouncer container (PgBouncer is single-threaded: 1 CPU at most helps)."""
    memory: Annotated[str, AfterValidator(_pooler_memory)] = "256Mi"
    """Memory request = limit of each PgBouncer container."""


class PoolerSettings(SettingsModel):
    enabled: bool = True
    """PgBouncer poolers (CloudNativePG Pooler) of type rw and ro in front of the cluster."""
    instances: int = Field(default=2, ge=1, le=10)
    """PgBouncer pods per pooler (rw and ro each), spread over zones; prod needs at least 2."""
    pool_mode: Literal["session", "transaction"] = "transaction"
    """session: a server connection per client session; transaction: per transaction (no session state across transactions)."""
    max_db_connections: int | None = Field(default=None, ge=1)
    """Server connections per pooler instance to the application database; derived from postgres.maxConnections when unset."""
    default_pool_size: int | None = Field(default=None, ge=1)
    """Server connections per user/database pool; maxDbConnections when unset, never above it."""
    max_client_conn: int = Field(default=1000, ge=1, le=100_000)
    """Client connections each pooler instance accepts (clients beyond its pool wait in PgBouncer's queue)."""
    direct_connections: int = Field(default=10, ge=0)
    """Server connections kept for clients that bypass the poolers (migrations, administration)."""
    read_write_port: int = Field(default=6432, ge=1024, le=65535)
    """Public port of the read-write pooler (with publicEndpoint.enabled and no internal endpoint)."""
    read_only_port: int = Field(default=6433, ge=1024, le=65535)
    """Public port of the read-only pooler (with publicEndpoint.enabled and no internal endpoint)."""
    resources: PoolerResources = PoolerResources()
    """PgBouncer container resources (Guaranteed QoS)."""

    @model_validator(mode="after")
    def _ports_differ(self) -> PoolerSettings:
        if self.read_write_port == self.read_only_port:
            raise ValueError("readWritePort and readOnlyPort must differ (they share one IP address)")
        return self

    def port(self, pooler_type: str) -> int:
        return by_role(pooler_type, self.read_write_port, self.read_only_port)


@dataclass(frozen=True)
class ConnectionBudget:
    """Server connections of one PostgreSQL instance, and the share the poolers may hold.

    Both poolers count against every instance: after a failover the promoted replica can still
    hold the read-only pooler's connections while the read-write pooler connects to it.
    """

    max_connections: int
    superuser_reserved: int
    reserved: int
    cnpg_reserved: int
    standbys: int
    direct: int
    pooler_instances: int  # all pooler instances, rw and ro

    @property
    def for_poolers(self) -> int:
        return self.max_connections - self.superuser_reserved - self.reserved - self.cnpg_reserved - self.standbys - self.direct

    @property
    def max_db_connections(self) -> int:
        """The largest max_db_connections every pooler instance may have."""
        return self.for_poolers // (self.pooler_instances * DATABASES_PER_POOLER_INSTANCE)

    def held_by_poolers(self, max_db_connections: int) -> int:
        return self.pooler_instances * DATABASES_PER_POOLER_INSTANCE * max_db_connections

    def explain(self) -> str:
        return (
            f"maxConnections {self.max_connections} - superuser_reserved_connections {self.superuser_reserved} "
            f"- reserved_connections {self.reserved} - CloudNativePG {self.cnpg_reserved} - standbys {self.standbys} "
            f"- pooler.directConnections {self.direct} leaves {self.for_poolers} for {self.pooler_instances} pooler "
            f"instances x {DATABASES_PER_POOLER_INSTANCE} databases (application + auth_query)"
        )


def _count(parameters: dict[str, str], name: str, default: int) -> int:
    value = parameters.get(name, str(default)).strip()
    if not value.isdigit():
        raise ValueError(f"postgres.parameters.{name}: {value!r} — must be a whole number of connections")
    return int(value)


def connection_budget(settings: Settings) -> ConnectionBudget:
    postgres, pooler = settings.postgres, settings.pooler
    parameters = postgres.derived_parameters
    return ConnectionBudget(
        max_connections=postgres.max_connections,
        superuser_reserved=_count(parameters, "superuser_reserved_connections", DEFAULT_SUPERUSER_RESERVED_CONNECTIONS),
        reserved=_count(parameters, "reserved_connections", 0),
        cnpg_reserved=CNPG_RESERVED_CONNECTIONS,
        standbys=postgres.instances - 1,
        direct=pooler.direct_connections,
        pooler_instances=pooler.instances * len(POOLER_TYPES),
    )


@dataclass(frozen=True)
class PoolSizes:
    max_db_connections: int
    default_pool_size: int
    max_client_conn: int

    def parameters(self) -> dict[str, str]:
        """PgBouncer parameters (CloudNativePG passes them as strings)."""
        return {
            "max_db_connections": str(self.max_db_connections),
            "default_pool_size": str(self.default_pool_size),
            "max_client_conn": str(self.max_client_conn),
            # PgBouncer's extra pool would open connections beyond default_pool_size.
            "reserve_pool_size": "0",
        }


def pool_sizes(settings: Settings) -> PoolSizes:
    """Valid settings' pool sizes: overrides as given, the rest derived from the budget."""
    pooler = settings.pooler
    max_db = pooler.max_db_connections or connection_budget(settings).max_db_connections
    return PoolSizes(max_db, pooler.default_pool_size or max_db, pooler.max_client_conn)


def pooler_problems(settings: Settings) -> list[str]:
    """Problems, one line each, naming the keys to change."""
    pooler = settings.pooler
    if not pooler.enabled:
        return []
    problems = []
    if settings.environment == "prod" and pooler.instances < 2:
        problems.append(f"pooler.instances: {pooler.instances}, but prod runs at least 2 per pooler, spread over zones")
    if settings.public_endpoint.enabled:
        database_ports = {settings.public_endpoint.read_write_port, settings.public_endpoint.read_only_port}
        taken = sorted(database_ports & {pooler.read_write_port, pooler.read_only_port})
        if taken:
            problems.append(
                f"pooler.readWritePort/readOnlyPort: {taken} also used by publicEndpoint; the load balancers share "
                "one IP address, so every port must differ"
            )
    budget = connection_budget(settings)
    if budget.max_db_connections < 1:
        problems.append(
            f"postgres.maxConnections: {budget.max_connections} — too small for the poolers: {budget.explain()}; "
            "raise postgres.maxConnections or lower pooler.instances/directConnections"
        )
        return problems
    if pooler.max_db_connections is not None and pooler.max_db_connections > budget.max_db_connections:
        problems.append(
            f"pooler.maxDbConnections: {pooler.max_db_connections} — at most {budget.max_db_connections}, or the "
            f"poolers could hold {budget.held_by_poolers(pooler.max_db_connections)} connections and exhaust "
            f"PostgreSQL ({budget.explain()}); lower it or raise postgres.maxConnections"
        )
    sizes = pool_sizes(settings)
    if sizes.default_pool_size > sizes.max_db_connections:
        problems.append(
            f"pooler.defaultPoolSize: {sizes.default_pool_size} — must not exceed maxDbConnections "
            f"({sizes.max_db_connections}); PgBouncer would never fill the pool"
        )
    if sizes.max_client_conn < sizes.default_pool_size:
        problems.append(
            f"pooler.maxClientConn: {sizes.max_client_conn} — must be at least defaultPoolSize "
            f"({sizes.default_pool_size}), or the pool can never be used in full"
        )
    return problems
