"""Migration in: a new cluster created by CNPG's initdb import from an existing PostgreSQL, its
credentials a Pulumi secret, its connection verify-full; what CNPG's webhook refuses is refused
before any resource (settings/migration.py)."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format
from pulumi import RunError

from offline.engine import run_stack, stack_config
from offline.render import kubernetes_objects
from tests.k8s_schema import validate_object
from tests.test_program import _plain_parts

P = "aks-postgres-ha:"
PASSWORD = "s0urce-Passw0rd-never-plain"
CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2E=\n-----END CERTIFICATE-----\n"
FLEXIBLE_SERVER = {"host": "legacy.postgres.database.azure.com", "user": "migrator", "password": PASSWORD}
MICROSERVICE = {"type": "microservice", "databases": ["orders"], "source": FLEXIBLE_SERVER}
MONOLITH = {
    "type": "monolith",
    "databases": ["accounting", "banking"],
    "roles": ["accountant"],
    "source": {"host": "10.50.0.4", "port": 5433, "user": "postgres", "password": PASSWORD, "caCertificate": CA},
}
CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
SECRET = "kubernetes:core/v1:Secret"


def _cluster_spec(migration: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    run = run_stack("prod", {P + "migration": migration})
    return run.one(CLUSTER, "database-cluster").inputs["spec"], run


def test_a_microservice_import_from_flexible_server() -> None:
    spec, run = _cluster_spec(MICROSERVICE)
    initdb = spec["bootstrap"]["initdb"]
    # Restored into the application database and owner the stack already names.
    assert initdb["database"] == "appdb" and initdb["owner"] == "app"
    assert initdb["import"] == {
        "type": "microservice",
        "databases": ["orders"],
        "source": {"externalCluster": "migration-source"},
    }
    (source,) = spec["externalClusters"]
    assert source == {
        "name": "migration-source",
        "connectionParameters": {
            "host": "legacy.postgres.database.azure.com",
            "port": "5432",
            "user": "migrator",
            "dbname": "postgres",
            # Flexible Server's certificates chain to public roots: the image's store verifies them.
            "sslmode": "verify-full",
            "sslrootcert": "system",
        },
        "password": {"name": "pg-primary-migration-source", "key": "password"},
    }
    secret = run.one(SECRET, "database-migration-source")
    assert secret.inputs["metadata"] == {"name": "pg-primary-migration-source", "namespace": "cnpg-database"}
    # The password is in no plain input of any resource, only inside secret-marked values.
    for registration in run.registrations:
        assert not any(PASSWORD in text for text in _plain_parts(json_format.MessageToDict(registration.raw_inputs)))
    # The Secret exists before CNPG reads it.
    assert secret.urn in run.one(CLUSTER, "database-cluster").dependencies


def test_a_monolith_import_with_roles_and_the_source_ca() -> None:
    spec, run = _cluster_spec(MONOLITH)
    assert spec["bootstrap"]["initdb"]["import"]["roles"] == ["accountant"]
    (source,) = spec["externalClusters"]
    assert source["connectionParameters"]["sslmode"] == "verify-full" and "sslrootcert" not in source["connectionParameters"]
    assert source["connectionParameters"]["port"] == "5433"
    assert source["sslRootCert"] == {"name": "pg-primary-migration-source", "key": "ca.crt"}
    assert run.one(SECRET, "database-migration-source").inputs["stringData"]["ca.crt"] == CA


@pytest.mark.parametrize("migration", [MICROSERVICE, MONOLITH], ids=["microservice", "monolith"])
def test_the_import_is_valid_against_the_crds(migration: dict[str, Any]) -> None:
    run = run_stack("prod", {P + "migration": migration})
    assert [problem for obj in kubernetes_objects(run) for problem in validate_object(obj, "1.35")] == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"databases": ["orders", "billing"]},
            "migration.databases: ['orders', 'billing'] — the microservice import takes exactly one database",
        ),
        ({"databases": ["ord*"]}, "migration.databases: ['ord*'] — the microservice import takes no wildcard"),
        ({"roles": ["app_rw"]}, "migration.roles: ['app_rw'] — the microservice import imports no roles"),
        (
            {"type": "monolith", "databases": ["*", "a"]},
            "migration.databases: ['*', 'a'] — '*' (every database) cannot be listed",
        ),
        ({"type": "monolith", "roles": ["*", "r"]}, "migration.roles: ['*', 'r'] — '*' (every role) cannot be listed"),
        (
            {"type": "monolith", "postImportSql": ["SELECT 1"]},
            "migration.postImportSql: 1 statement(s) — CloudNativePG runs it only",
        ),
        (
            {"type": "monolith", "roles": ["a"]},
            "migration.roles: ['a'] — Flexible Server ('legacy.postgres.database.azure.com') lets no user read pg_authid",
        ),
        ({"databases": []}, "migration.databases: [] — List should have at least 1 item"),
        ({"type": "dump"}, "migration.type: 'dump' — Input should be 'microservice' or 'monolith'"),
        ({"source": {**FLEXIBLE_SERVER, "host": "bad host/"}}, "migration.source.host: 'bad host/' — must be a host name"),
        ({"source": {**FLEXIBLE_SERVER, "caCertificate": "not pem"}}, "migration.source.caCertificate: 'not pem' — must be PEM"),
    ],
)
def test_what_cnpg_refuses_is_refused_before_any_resource(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(RunError) as raised:
        run_stack("prod", {P + "migration": {**MICROSERVICE, **changes}})
    message = str(raised.value)
    assert expected in message
    assert PASSWORD not in message
    assert not raised.value.registrations  # type: ignore[attr-defined]


def test_a_replica_stack_does_not_import() -> None:
    with pytest.raises(RunError, match=r"migration: set, but disasterRecovery\.createdAs is 'replica'"):
        run_stack("dr", {P + "migration": MICROSERVICE})


def test_shipped_stacks_import_nothing() -> None:
    assert all(P + "migration" not in stack_config(stack) for stack in ("dev", "prod", "dr"))
