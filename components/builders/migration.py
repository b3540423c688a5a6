"""The import of an existing PostgreSQL into a new cluster: ``bootstrap.initdb.import`` and its
``externalClusters`` entry (cloudnative-pg v1.30.0 docs/src/database_import.md; fields checked
against the pinned CRD, rules against the webhook in settings/migration.py)."""

from __future__ import annotations

from typing import Any

from settings import MigrationSettings

IMPORT_SOURCE = "migration-source"
PASSWORD_KEY = "password"
CA_KEY = "ca.crt"


def source_secret_name(cluster: str) -> str:
    """The Secret holding the source's password (and CA), created by the program from the stack's secret config."""
    return f"{cluster}-migration-source"


def import_bootstrap(migration: MigrationSettings) -> dict[str, Any]:
    """``bootstrap.initdb.import`` from the ``externalClusters`` entry ``IMPORT_SOURCE``."""
    spec: dict[str, Any] = {
        "type": migration.type,
        "databases": list(migration.databases),
        "source": {"externalCluster": IMPORT_SOURCE},
    }
    if migration.roles:
        spec["roles"] = list(migration.roles)
    if migration.post_import_sql:
        spec["postImportApplicationSQL"] = list(migration.post_import_sql)
    if migration.schema_only:
        spec["schemaOnly"] = True
    return spec


def import_source(migration: MigrationSettings, secret_name: str) -> dict[str, Any]:
    """The source as an ``externalClusters`` entry: TLS with the server certificate and host name
    verified (verify-full), against the given CA or else the image's system store (libpq 16+:
    sslrootcert=system); the password from the program's Secret, never in the manifest."""
    source = migration.source
    parameters = {
        "host": source.host,
        "port": str(source.port),
        "user": source.user,
        "dbname": source.dbname,
        "sslmode": "verify-full",
    }
    entry: dict[str, Any] = {
        "name": IMPORT_SOURCE,
        "connectionParameters": parameters,
        "password": {"name": secret_name, "key": PASSWORD_KEY},
    }
    if source.ca_certificate:
        # CNPG writes the key to a file and passes it as sslrootcert.
        entry["sslRootCert"] = {"name": secret_name, "key": CA_KEY}
    else:
        parameters["sslrootcert"] = "system"
    return entry
