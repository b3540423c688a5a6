"""Declarative databases and roles of a cluster, beside the one initdb creates (postgres.database, owned by
postgres.owner): CloudNativePG ``Database`` objects and the Cluster's ``spec.managed.roles``.

Removing an entry never drops data: a removed database stays in PostgreSQL (``reclaimPolicy: retain``, the
default) and a removed role stays too (CloudNativePG ignores roles the spec no longer names); removing a
schema or an extension from a list leaves it in place as well.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, TypeAdapter, ValidationError

from settings.postgres import PostgresSettings
from settings.rules import DatabaseName, RoleName, SettingsModel, SqlIdentifier
from sizing.postgres_parameters import CNPG_MANAGED_EXTENSION_LIBRARIES

# The extensions CREATE EXTENSION finds in CloudNativePG's PostgreSQL 18 images, by flavour.
# minimal: Debian's postgresql-18 package (PGDG), which ships contrib: every contrib directory with a .control
# file (postgres/postgres contrib/meson.build @ 7cdfeee320e72162b62dddddee638e713c2b8680, the 18 cycle's, with
# pg_logicalinspect; spi/ holds autoinc, insert_username, moddatetime and refint). Left out: the PL/Perl and
# PL/Python transforms (bool_plperl, hstore_plperl, hstore_plpython3u, jsonb_plperl, jsonb_plpython3u,
# ltree_plpython3u), whose languages come in packages neither image installs.
# standard: minimal plus the packages postgresql-18-pgaudit, -pgvector and -pg-failover-slots
# (cloudnative-pg/postgres-containers docker-bake.hcl `extensions` and Dockerfile target standard @
# a949ae5871b3685ebd569070fe8657e261328e7f): the extensions pgaudit and vector; pg_failover_slots is a
# preloaded library, not an extension.
CONTRIB_EXTENSIONS_18: frozenset[str] = frozenset(
    {
        "amcheck", "autoinc", "bloom", "btree_gin", "btree_gist", "citext", "cube", "dblink", "dict_int",
        "dict_xsyn", "earthdistance", "file_fdw", "fuzzystrmatch", "hstore", "insert_username", "intagg",
        "intarray", "isn", "lo", "ltree", "moddatetime", "pageinspect", "pg_buffercache", "pg_freespacemap",
        "pg_logicalinspect", "pg_prewarm", "pg_stat_statements", "pg_surgery", "pg_trgm", "pg_visibility",
        "pg_walinspect", "pgcrypto", "pgrowlocks", "pgstattuple", "postgres_fdw", "refint", "seg", "sslinfo",
        "tablefunc", "tcn", "tsm_system_rows", "tsm_system_time", "unaccent", "uuid-ossp", "xml2",
    }
)  # fmt: skip
IMAGE_EXTENSIONS: Mapping[tuple[int, str], frozenset[str]] = {
    (18, "minimal"): CONTRIB_EXTENSIONS_18,
    (18, "standard"): CONTRIB_EXTENSIONS_18 | {"pgaudit", "vector"},
}
_FLAVOUR = re.compile(r"/postgresql:[^@]*-(?P<flavour>standard|minimal)-")

# PostgreSQL 18's predefined roles a declared role may be a member of (the documentation's "Predefined Roles").
# Not offered: pg_read_server_files, pg_write_server_files and pg_execute_server_program reach the server's files
# and programs as its OS user (as good as superuser); every database's owner is pg_database_owner implicitly.
GRANTABLE_PREDEFINED_ROLES = (
    "pg_checkpoint", "pg_create_subscription", "pg_maintain", "pg_monitor", "pg_read_all_data",
    "pg_read_all_settings", "pg_read_all_stats", "pg_signal_autovacuum_worker", "pg_signal_backend",
    "pg_stat_scan_tables", "pg_use_reserved_connections", "pg_write_all_data",
)  # fmt: skip
# PostgreSQL refuses schema names with this prefix (they are the system's).
RESERVED_SCHEMA_PREFIX = "pg_"

_ROLE_NAME: TypeAdapter[str] = TypeAdapter(RoleName)
_DATABASE_NAME: TypeAdapter[str] = TypeAdapter(DatabaseName)


class DatabaseSettings(SettingsModel):
    owner: RoleName
    """Owning role: a role of roles, or postgres.owner."""
    extensions: list[str] = []
    """Extensions to create (CREATE EXTENSION), among those the image ships; removing one leaves it installed."""
    schemas: list[SqlIdentifier] = []
    """Schemas to create, owned by owner; removing one leaves it in place."""
    reclaim_policy: Literal["retain", "delete"] = "retain"
    """retain: removing the entry leaves the database (and its data) in PostgreSQL; delete: removing it DROPs it."""


class RoleSettings(SettingsModel):
    login: bool = True
    """The role logs in: it gets a generated password (Secret <cluster>-role-<name>) and connection URIs."""
    connection_limit: int = Field(default=-1, ge=-1)
    """Concurrent connections the role may open; -1: no limit."""
    member_of: list[SqlIdentifier] = []
    """Roles this one is a member of: roles declared here, postgres.owner, or predefined ones such as
    pg_read_all_data, pg_write_all_data or pg_monitor."""
    inherit: bool = True
    """The role uses the privileges of the roles it is a member of without SET ROLE."""
    createdb: bool = False
    """The role may create databases."""
    createrole: bool = False
    """The role may create roles (and administer those it creates)."""


def kubernetes_name(identifier: str) -> str:
    """The part of a Kubernetes object name that stands for a PostgreSQL identifier (no '_' there)."""
    return identifier.replace("_", "-")


def image_flavour(image: str) -> str | None:
    """``standard`` or ``minimal`` from the image's tag; None if the tag does not say."""
    match = _FLAVOUR.search(image)
    return match.group("flavour") if match else None


def _key(path: str, *parts: str) -> str:
    return ".".join(part for part in (path, *parts) if part)


def _name_problem(adapter: TypeAdapter[str], name: str) -> str | None:
    try:
        adapter.validate_python(name)
    except ValidationError as error:
        return "; ".join(str(item["msg"]).removeprefix("Value error, ") for item in error.errors())
    if name.endswith("_"):
        return "must not end with '_': the Kubernetes objects named after it (where '_' becomes '-') cannot end with '-'"
    return None


def _duplicates(values: list[str]) -> list[str]:
    return sorted({value for value in values if values.count(value) > 1})


def _extension_problems(key: str, extensions: list[str], postgres: PostgresSettings) -> list[str]:
    problems = []
    duplicates = _duplicates(extensions)
    if duplicates:
        problems.append(f"{key}: {duplicates!r} — listed twice; CloudNativePG refuses a Database naming an extension twice")
    managed = [name for name in extensions if name in CNPG_MANAGED_EXTENSION_LIBRARIES]
    if managed:
        problems.append(
            f"{key}: {managed!r} — CloudNativePG creates these in every database itself while a parameter of theirs is "
            f"set in postgres.parameters (e.g. {managed[0]}.*), and drops them otherwise: set the parameter instead"
        )
    flavour = image_flavour(postgres.image)
    known = IMAGE_EXTENSIONS.get((postgres.major_version, flavour or ""))
    if known is None:
        problems.append(
            f"{key}: {extensions!r} — the extensions of a PostgreSQL {postgres.major_version} "
            f"'{flavour or 'unnamed flavour'}' image (postgres.image) are not known (settings/databases.py "
            f"IMAGE_EXTENSIONS knows {sorted(IMAGE_EXTENSIONS)}); name the flavour in the tag, or add its list"
        )
        return problems
    missing = [name for name in extensions if name not in known and name not in CNPG_MANAGED_EXTENSION_LIBRARIES]
    if missing:
        hint = " (the 'standard' image adds vector)" if flavour == "minimal" else ""
        problems.append(
            f"{key}: {missing!r} — not shipped by the '{flavour}' PostgreSQL {postgres.major_version} image "
            f"(postgres.image){hint}; it has: {', '.join(sorted(known - set(CNPG_MANAGED_EXTENSION_LIBRARIES)))}"
        )
    return problems


def _membership_cycle(roles: Mapping[str, RoleSettings]) -> list[str] | None:
    """A chain of declared roles, each a member of the next, that comes back to its first; None if there is none."""
    finished: set[str] = set()

    def visit(role: str, chain: list[str]) -> list[str] | None:
        if role in chain:
            return [*chain[chain.index(role) :], role]
        if role in finished or role not in roles:
            return None
        for group in roles[role].member_of:
            cycle = visit(group, [*chain, role])
            if cycle:
                return cycle
        finished.add(role)
        return None

    for role in sorted(roles):
        cycle = visit(role, [])
        if cycle:
            return cycle
    return None


def _role_problems(path: str, roles: Mapping[str, RoleSettings], postgres: PostgresSettings) -> list[str]:
    problems = []
    for name, role in roles.items():
        key = _key(path, "roles", name)
        rule = _name_problem(_ROLE_NAME, name)
        if rule:
            problems.append(f"{key}: {name!r} — {rule}")
        elif name == postgres.owner:
            problems.append(
                f"{key}: {name!r} — is postgres.owner, which initdb creates with the application database and "
                "CloudNativePG gives its password; declare other roles here"
            )
        member_key = f"{key}.memberOf"
        duplicates = _duplicates(role.member_of)
        if duplicates:
            problems.append(f"{member_key}: {duplicates!r} — listed twice")
        if name in role.member_of:
            problems.append(f"{member_key}: {name!r} — a role cannot be a member of itself")
        unknown = [group for group in role.member_of if group not in roles and group != postgres.owner]
        predefined = [group for group in unknown if group.startswith("pg_") and group not in GRANTABLE_PREDEFINED_ROLES]
        undeclared = [group for group in unknown if not group.startswith("pg_")]
        if undeclared:
            problems.append(
                f"{member_key}: {undeclared!r} — not a role of this cluster: name roles declared under roles, "
                f"postgres.owner ({postgres.owner!r}) or a predefined role such as pg_read_all_data"
            )
        if predefined:
            problems.append(
                f"{member_key}: {predefined!r} — not a predefined role offered here (pg_read_server_files, "
                "pg_write_server_files and pg_execute_server_program are as good as superuser); one of "
                f"{', '.join(GRANTABLE_PREDEFINED_ROLES)}"
            )
    cycle = _membership_cycle(roles)
    if cycle and len(cycle) > 2:  # a role in its own memberOf is reported above
        problems.append(
            f"{_key(path, 'roles')}: {' -> '.join(cycle)} — each is a member of the next, a cycle PostgreSQL refuses "
            "(ERROR: role ... is a member of role ...): drop one memberOf entry"
        )
    return problems


def _database_problems(
    path: str, databases: Mapping[str, DatabaseSettings], roles: Mapping[str, RoleSettings], postgres: PostgresSettings
) -> list[str]:
    problems = []
    for name, database in databases.items():
        key = _key(path, "databases", name)
        rule = _name_problem(_DATABASE_NAME, name)
        if rule:
            problems.append(f"{key}: {name!r} — {rule}")
        elif name == postgres.database:
            problems.append(
                f"{key}: {name!r} — is postgres.database, which initdb creates (owned by postgres.owner); "
                "declare other databases here"
            )
        if database.owner not in roles and database.owner != postgres.owner:
            problems.append(
                f"{key}.owner: {database.owner!r} — not a role of this cluster: declare it under roles, or name "
                f"postgres.owner ({postgres.owner!r})"
            )
        if database.extensions:
            problems += _extension_problems(f"{key}.extensions", database.extensions, postgres)
        duplicates = _duplicates(database.schemas)
        if duplicates:
            problems.append(
                f"{key}.schemas: {duplicates!r} — listed twice; CloudNativePG refuses a Database naming a schema twice"
            )
        system = [schema for schema in database.schemas if schema.startswith(RESERVED_SCHEMA_PREFIX)]
        if system:
            problems.append(
                f"{key}.schemas: {system!r} — PostgreSQL reserves schema names starting with {RESERVED_SCHEMA_PREFIX}"
            )
    return problems


def database_problems(
    path: str, databases: Mapping[str, DatabaseSettings], roles: Mapping[str, RoleSettings], postgres: PostgresSettings
) -> list[str]:
    """Problems of a cluster's declared databases and roles, one line each naming the key, the value and the rule.

    ``path``: the key of the cluster's section (``clusters.orders``), or "" for the top level of a one-cluster stack;
    ``postgres``: the same cluster's settings (its initdb database and owner, its image).
    """
    return _role_problems(path, roles, postgres) + _database_problems(path, databases, roles, postgres)
