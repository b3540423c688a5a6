"""Declared databases and roles: each bad one is one line naming the key, the value and the rule."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from settings.databases import (
    GRANTABLE_PREDEFINED_ROLES,
    IMAGE_EXTENSIONS,
    DatabaseSettings,
    RoleSettings,
    database_problems,
    image_flavour,
)
from settings.postgres import PostgresSettings

POSTGRES = PostgresSettings()  # database appdb, owner app, a PostgreSQL 18 standard image
MINIMAL_IMAGE = POSTGRES.image.replace("-standard-", "-minimal-")


def _problems(
    databases: dict[str, Any], roles: dict[str, Any], postgres: PostgresSettings = POSTGRES, path: str = "clusters.orders"
) -> list[str]:
    return database_problems(
        path,
        {name: DatabaseSettings.model_validate(value) for name, value in databases.items()},
        {name: RoleSettings.model_validate(value) for name, value in roles.items()},
        postgres,
    )


def test_a_good_declaration_has_no_problems() -> None:
    roles = {
        "orders_owner": {"login": False},
        "orders_app": {"memberOf": ["orders_owner"], "connectionLimit": 50},
        "reporting": {"memberOf": ["pg_read_all_data", "app"]},
    }
    databases = {
        "orders": {"owner": "orders_owner", "extensions": ["pgcrypto", "vector", "uuid-ossp"], "schemas": ["sales"]},
        "audit": {"owner": "app", "reclaimPolicy": "delete"},
    }
    assert _problems(databases, roles) == []


def test_defaults_keep_data_and_offer_no_dangerous_attributes() -> None:
    database = DatabaseSettings.model_validate({"owner": "app"})
    assert database.reclaim_policy == "retain"
    role = RoleSettings()
    assert (role.login, role.connection_limit, role.inherit, role.createdb, role.createrole) == (True, -1, True, False, False)
    for attribute in ("superuser", "replication", "bypassrls"):
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            RoleSettings.model_validate({attribute: True})


BAD: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    (
        "the initdb database again",
        {"appdb": {"owner": "app"}},
        {},
        "clusters.orders.databases.appdb: 'appdb' — is postgres.database, which initdb creates",
    ),
    (
        "a reserved database",
        {"template1": {"owner": "app"}},
        {},
        "clusters.orders.databases.template1: 'template1' — is reserved",
    ),
    ("a database name Kubernetes cannot carry", {"orders_": {"owner": "app"}}, {}, "databases.orders_: 'orders_' — must not end"),
    ("the initdb owner again", {}, {"app": {}}, "clusters.orders.roles.app: 'app' — is postgres.owner"),
    (
        "CloudNativePG's role",
        {},
        {"streaming_replica": {}},
        "clusters.orders.roles.streaming_replica: 'streaming_replica' — is reserved",
    ),
    ("a pg_ role", {}, {"pg_app": {}}, "clusters.orders.roles.pg_app: 'pg_app' — is reserved"),
    ("a cnpg_ role", {}, {"cnpg_app": {}}, "clusters.orders.roles.cnpg_app: 'cnpg_app' — is reserved"),
    (
        "an undeclared owner",
        {"orders": {"owner": "nobody"}},
        {},
        "clusters.orders.databases.orders.owner: 'nobody' — not a role of this cluster",
    ),
    (
        "membership of an undeclared role",
        {},
        {"reader": {"memberOf": ["readers"]}},
        "clusters.orders.roles.reader.memberOf: ['readers'] — not a role of this cluster",
    ),
    (
        "membership of a predefined role as good as superuser",
        {},
        {"loader": {"memberOf": ["pg_read_server_files"]}},
        "clusters.orders.roles.loader.memberOf: ['pg_read_server_files'] — not a predefined role offered here",
    ),
    (
        "a member of itself",
        {},
        {"reader": {"memberOf": ["reader"]}},
        "roles.reader.memberOf: 'reader' — a role cannot be a member of itself",
    ),
    (
        "a membership cycle",
        {},
        {"a": {"memberOf": ["b"]}, "b": {"memberOf": ["c"]}, "c": {"memberOf": ["a"]}},
        "clusters.orders.roles: a -> b -> c -> a — each is a member of the next",
    ),
    (
        "membership of a predefined role that does not exist",
        {},
        {"reader": {"memberOf": ["pg_read_everything"]}},
        "clusters.orders.roles.reader.memberOf: ['pg_read_everything'] — not a predefined role offered here",
    ),
    ("a membership twice", {}, {"a": {"memberOf": ["app", "app"]}}, "roles.a.memberOf: ['app'] — listed twice"),
    (
        "an extension the image lacks",
        {"orders": {"owner": "app", "extensions": ["postgis"]}},
        {},
        "clusters.orders.databases.orders.extensions: ['postgis'] — not shipped by the 'standard' PostgreSQL 18 image",
    ),
    (
        "an extension CloudNativePG manages",
        {"orders": {"owner": "app", "extensions": ["pg_stat_statements"]}},
        {},
        "databases.orders.extensions: ['pg_stat_statements'] — CloudNativePG creates these in every database itself",
    ),
    (
        "an extension twice",
        {"orders": {"owner": "app", "extensions": ["citext", "citext"]}},
        {},
        "databases.orders.extensions: ['citext'] — listed twice",
    ),
    ("a schema twice", {"orders": {"owner": "app", "schemas": ["s", "s"]}}, {}, "databases.orders.schemas: ['s'] — listed twice"),
    (
        "a system schema",
        {"orders": {"owner": "app", "schemas": ["pg_mine"]}},
        {},
        "databases.orders.schemas: ['pg_mine'] — PostgreSQL reserves",
    ),
]


@pytest.mark.parametrize(("databases", "roles", "expected"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_declarations_are_one_line_each(databases: dict[str, Any], roles: dict[str, Any], expected: str) -> None:
    problems = _problems(databases, roles)
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_the_minimal_image_lacks_the_standard_extensions() -> None:
    minimal = POSTGRES.model_copy(update={"image": MINIMAL_IMAGE})
    databases = {"orders": {"owner": "app", "extensions": ["vector", "hstore"]}}
    assert _problems(databases, {}) == []
    (problem,) = _problems(databases, {}, minimal)
    assert problem.startswith("clusters.orders.databases.orders.extensions: ['vector'] — not shipped by the 'minimal'")


def test_an_image_whose_extensions_are_unknown_takes_no_extensions() -> None:
    older = POSTGRES.model_copy(update={"image": POSTGRES.image.replace("18.6-", "17.6-")})
    assert _problems({"orders": {"owner": "app"}}, {}, older) == []
    (problem,) = _problems({"orders": {"owner": "app", "extensions": ["citext"]}}, {}, older)
    assert "PostgreSQL 17 'standard' image (postgres.image) are not known" in problem


def test_the_top_level_of_a_one_cluster_stack_has_no_prefix() -> None:
    (problem,) = _problems({"orders": {"owner": "nobody"}}, {}, path="")
    assert problem.startswith("databases.orders.owner: 'nobody' — ")


def test_catalogue() -> None:
    assert image_flavour(POSTGRES.image) == "standard"
    assert image_flavour(MINIMAL_IMAGE) == "minimal"
    assert IMAGE_EXTENSIONS[(18, "standard")] - IMAGE_EXTENSIONS[(18, "minimal")] == {"pgaudit", "vector"}
    assert all(role.startswith("pg_") for role in GRANTABLE_PREDEFINED_ROLES)
