"""PgBouncer poolers (CloudNativePG ``Pooler``) keep TLS on both legs and their own pg_hba.

A Pooler's ``spec.pgbouncer.parameters`` reach pgbouncer.ini as written: ``client_tls_sslmode``
governs clients to PgBouncer, ``server_tls_sslmode`` PgBouncer to PostgreSQL. ``spec.pgbouncer.pg_hba``
is PgBouncer's own hba file (same line format as PostgreSQL's), the only place that refuses a client
before PgBouncer's auth_query runs.
"""

from __future__ import annotations

from pulumi_policy import ResourceValidationArgs

from .cnpg import hba_line_problems
from .common import Report, as_list, described, for_types, label, lookup, resource_policy, text_setting
from .resource_types import CNPG_POOLER

# libpq/PgBouncer sslmode values, weakest first.
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# What the program sets (components/cluster/poolers.py): clients must use TLS; PgBouncer checks the
# server certificate and its name.
MIN_CLIENT_SSLMODE = "require"
MIN_SERVER_SSLMODE = "verify-full"


@for_types(CNPG_POOLER)
def _pooler_tls(args: ResourceValidationArgs, report: Report) -> None:
    where = label(args.resource_type, args.name)
    parameters = lookup(args.props, "spec", "pgbouncer", "parameters")
    for key, setting, default in (
        ("client_tls_sslmode", "minClientTlsSslmode", MIN_CLIENT_SSLMODE),
        ("server_tls_sslmode", "minServerTlsSslmode", MIN_SERVER_SSLMODE),
    ):
        required = text_setting(args, setting, default)
        value = lookup(parameters, key)
        if value not in SSLMODES or SSLMODES.index(value) < SSLMODES.index(required):
            report(
                f"{where}: {described(f'spec.pgbouncer.parameters.{key}', value)}; set it to '{required}' (or "
                "stricter) so passwords and data never cross the network in clear text or to an unchecked server."
            )
    lines = [str(line) for line in as_list(lookup(args.props, "spec", "pgbouncer", "pg_hba"))]
    if not lines:
        report(
            f"{where}: spec.pgbouncer.pg_hba is not set, so PgBouncer admits every client its auth_query accepts; "
            "list 'hostssl <database> all <network> scram-sha-256' lines and end with 'host all all 0.0.0.0/0 reject' "
            "and 'host all all ::/0 reject'."
        )
    for index, line in enumerate(lines):
        for problem in hba_line_problems(line):
            report(f"{where}: spec.pgbouncer.pg_hba[{index}] '{line}' {problem}.")


_SSLMODE_SCHEMA = {"type": "string", "enum": list(SSLMODES[3:])}

PGBOUNCER_POLICIES = [
    resource_policy(
        "cnpg-pooler-tls",
        "PgBouncer Poolers require TLS from clients, verify the server, and refuse weak or non-TLS pg_hba lines.",
        _pooler_tls,
        settings={
            "minClientTlsSslmode": {**_SSLMODE_SCHEMA, "default": MIN_CLIENT_SSLMODE},
            "minServerTlsSslmode": {**_SSLMODE_SCHEMA, "default": MIN_SERVER_SSLMODE},
        },
    ),
]
