"""Declared roles and databases as CloudNativePG reads them: the managed roles and Database objects the
builders make, checked field by field and against the v1.30.0 CRDs (schema and CEL rules)."""

from __future__ import annotations

from typing import Any

from components.builders.databases import (
    DATABASE_API_VERSION,
    DATABASE_KIND,
    database_object_name,
    database_spec,
    managed_roles,
    role_secret_name,
)
from settings.databases import DatabaseSettings, RoleSettings
from tests.k8s_schema import cel_rule_outcomes, validate_object

KUBERNETES_VERSION = "1.35"
ROLES = {
    "orders_owner": RoleSettings(login=False),
    "orders_app": RoleSettings.model_validate({"memberOf": ["orders_owner", "pg_read_all_data"], "connectionLimit": 20}),
    "migrator": RoleSettings.model_validate({"createdb": True, "createrole": True, "inherit": False}),
}
ORDERS = DatabaseSettings.model_validate(
    {"owner": "orders_owner", "extensions": ["pgcrypto", "uuid-ossp"], "schemas": ["sales", "billing"]}
)


def _database(name: str, settings: DatabaseSettings) -> dict[str, Any]:
    return {
        "apiVersion": DATABASE_API_VERSION,
        "kind": DATABASE_KIND,
        "metadata": {"name": database_object_name("pg-orders", name), "namespace": "cnpg-database"},
        "spec": database_spec("pg-orders", name, settings),
    }


def _cluster(roles: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "pg-orders", "namespace": "cnpg-database"},
        "spec": {"instances": 3, "storage": {"size": "1Gi"}, "managed": {"roles": roles}},
    }


def test_managed_roles_name_each_login_roles_secret() -> None:
    secrets = {name: role_secret_name("pg-orders", name) for name in ("orders_app", "migrator")}
    assert secrets == {"orders_app": "pg-orders-role-orders-app", "migrator": "pg-orders-role-migrator"}
    assert managed_roles(ROLES, secrets) == [
        {
            "name": "migrator",
            "ensure": "present",
            "login": True,
            "connectionLimit": -1,
            "inherit": False,
            "createdb": True,
            "createrole": True,
            "inRoles": [],
            "passwordSecret": {"name": "pg-orders-role-migrator"},
        },
        {
            "name": "orders_app",
            "ensure": "present",
            "login": True,
            "connectionLimit": 20,
            "inherit": True,
            "createdb": False,
            "createrole": False,
            "inRoles": ["orders_owner", "pg_read_all_data"],
            "passwordSecret": {"name": "pg-orders-role-orders-app"},
        },
        # A group role: no login, so no password.
        {
            "name": "orders_owner",
            "ensure": "present",
            "login": False,
            "connectionLimit": -1,
            "inherit": True,
            "createdb": False,
            "createrole": False,
            "inRoles": [],
        },
    ]


def test_managed_roles_fit_the_cluster_crd() -> None:
    secrets = {name: role_secret_name("pg-orders", name) for name in ("orders_app", "migrator")}
    cluster = _cluster(managed_roles(ROLES, secrets))
    assert validate_object(cluster, KUBERNETES_VERSION) == []
    # The harness does see the roles: a field CloudNativePG does not know is refused.
    cluster["spec"]["managed"]["roles"][0]["passwordSecretName"] = "x"
    assert validate_object(cluster, KUBERNETES_VERSION) != []


def test_database_spec() -> None:
    assert database_spec("pg-orders", "orders", ORDERS) == {
        "cluster": {"name": "pg-orders"},
        "name": "orders",
        "owner": "orders_owner",
        "ensure": "present",
        "databaseReclaimPolicy": "retain",
        "extensions": [{"name": "pgcrypto", "ensure": "present"}, {"name": "uuid-ossp", "ensure": "present"}],
        # Owned by the database's owner, not by the superuser that creates them.
        "schemas": [
            {"name": "sales", "owner": "orders_owner", "ensure": "present"},
            {"name": "billing", "owner": "orders_owner", "ensure": "present"},
        ],
    }
    plain = database_spec("pg-orders", "audit_log", DatabaseSettings.model_validate({"owner": "app", "reclaimPolicy": "delete"}))
    assert plain == {
        "cluster": {"name": "pg-orders"},
        "name": "audit_log",
        "owner": "app",
        "ensure": "present",
        "databaseReclaimPolicy": "delete",
    }
    assert database_object_name("pg-orders", "audit_log") == "pg-orders-audit-log"


def test_database_objects_fit_the_database_crd() -> None:
    for name, settings in (("orders", ORDERS), ("audit_log", DatabaseSettings(owner="app"))):
        database = _database(name, settings)
        assert validate_object(database, KUBERNETES_VERSION) == []
        outcomes = cel_rule_outcomes(database)
        assert [outcome.rule for outcome in outcomes if outcome.path == ("spec", "name")] == [
            "self != 'postgres'",
            "self != 'template0'",
            "self != 'template1'",
        ]
        assert [outcome for outcome in outcomes if outcome.failure] == []
    # The CEL rules are applied: the reserved name the settings refuse, the CRD refuses too.
    reserved = _database("postgres", ORDERS)
    assert any("the name postgres is reserved" in problem for problem in validate_object(reserved, KUBERNETES_VERSION))
