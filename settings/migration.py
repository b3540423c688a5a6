"""Migration in: a new cluster created by importing an existing PostgreSQL (Azure Database for
PostgreSQL Flexible Server, a VM) through CloudNativePG's ``bootstrap.initdb.import`` (pg_dump over
the network, then pg_restore). CNPG reads the bootstrap only when it creates the Cluster: the import
runs on the stack's first deployment, never later (README 'Migrating in').

The webhook rules (cloudnative-pg v1.30.0 internal/webhook/v1/cluster_webhook.go validateImport,
validateMicroservice, validateMonolith) are checked here, so a refused import never reaches it.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr

from settings.rules import SettingsModel, matching

CONFIG_KEY = "migration"
WILDCARD = "*"
# Flexible Server's host names: its admin (a member of azure_pg_admin) is no superuser and cannot read
# pg_catalog.pg_authid, which CNPG's role import queries (pkg/management/postgres/logicalimport/role.go).
FLEXIBLE_SERVER_HOST = re.compile(r".+\.postgres\.database\.azure\.com")

Host = Annotated[
    str,
    matching(
        r"(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*",
        "must be a host name or IPv4 address the cluster reaches, such as myserver.postgres.database.azure.com",
    ),
]
PemCertificate = Annotated[
    str,
    matching(
        r"\s*(-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*)+",
        "must be PEM certificates (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)",
    ),
]
SourceName = Annotated[str, Field(min_length=1, max_length=63)]


class MigrationSourceSettings(SettingsModel):
    """The PostgreSQL the import reads, always over TLS with sslmode verify-full."""

    host: Host
    """Host name (verify-full checks it against the server certificate) or IP address."""
    port: int = Field(default=5432, ge=1, le=65535)
    """Port."""
    user: SourceName
    """A user that may pg_dump the databases (and, for monolith with roles, read pg_authid: a superuser)."""
    password: SecretStr
    """Set it with --secret: pulumi config set --secret --path migration.source.password '...'. The program
    keeps it in a Kubernetes Secret it creates, as a Pulumi secret."""
    dbname: SourceName = "postgres"
    """The database CNPG connects to first (it lists and dumps the others from there)."""
    ca_certificate: PemCertificate | None = None
    """PEM of the CA that signed the server certificate (a VM's own CA). Unset: the image's system CA store
    (libpq's sslrootcert=system), enough for Flexible Server, whose certificates chain to public roots."""


class MigrationSettings(SettingsModel):
    type: Literal["microservice", "monolith"]
    """microservice: one database, restored into postgres.database owned by postgres.owner. monolith: several
    databases (or '*') and, optionally, their roles, kept with their names and owners."""
    databases: list[SourceName] = Field(min_length=1)
    """Source databases to import: exactly one for microservice; for monolith one or more, or ['*'] alone."""
    roles: list[SourceName] = []
    """monolith only: roles to import (or ['*'] alone); the databases' owners must be among them or exist."""
    post_import_sql: list[str] = []
    """microservice only: SQL run in the application database after the import (postImportApplicationSQL)."""
    schema_only: bool = False
    """Import the schema without data."""
    source: MigrationSourceSettings
    """The source server."""

    @property
    def flexible_server(self) -> bool:
        return FLEXIBLE_SERVER_HOST.fullmatch(self.source.host) is not None

    def problems(self) -> list[str]:
        """What CNPG's webhook (or the source) would refuse, one line each, naming the key and the value."""
        problems = []
        if self.type == "microservice":
            if len(self.databases) != 1:
                problems.append(f"databases: {self.databases!r} — the microservice import takes exactly one database")
            elif WILDCARD in self.databases[0]:
                problems.append(f"databases: {self.databases!r} — the microservice import takes no wildcard")
            if self.roles:
                problems.append(
                    f"roles: {self.roles!r} — the microservice import imports no roles (its database goes to postgres.owner); "
                    "use type monolith to import roles"
                )
        else:
            if len(self.databases) > 1 and WILDCARD in self.databases:
                problems.append(f"databases: {self.databases!r} — '*' (every database) cannot be listed with other names")
            if len(self.roles) > 1 and WILDCARD in self.roles:
                problems.append(f"roles: {self.roles!r} — '*' (every role) cannot be listed with other names")
            if self.post_import_sql:
                problems.append(
                    f"postImportSql: {len(self.post_import_sql)} statement(s) — CloudNativePG runs it only with the "
                    "microservice import; remove it or run it yourself after the import"
                )
            if self.roles and self.flexible_server:
                problems.append(
                    f"roles: {self.roles!r} — Flexible Server ({self.source.host!r}) lets no user read pg_authid, which "
                    "CloudNativePG's role import queries; create the roles first (README 'Migrating in') and import "
                    "the databases without roles"
                )
        return [f"{CONFIG_KEY}.{problem}" for problem in problems]
