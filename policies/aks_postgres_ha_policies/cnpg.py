"""The CloudNativePG Cluster spec: enough instances, synchronous replicas, safe data, TLS-only access."""

from __future__ import annotations

import ipaddress
import re

from pulumi_policy import EnforcementLevel, ResourceValidationArgs

from .cnpg_objects import wal_archivers
from .common import Report, as_list, described, for_types, int_setting, integer_schema, label, lookup, resource_policy
from .resource_types import CNPG_CLUSTER, CNPG_CLUSTER_IMAGE_CATALOG, CNPG_IMAGE_CATALOG

MIN_INSTANCES = 3
CNPG_DEFAULT_INSTANCES = 1
SYNCHRONOUS_METHODS = ("any", "first")
DEPRECATED_SYNC_SETTINGS = ("minSyncReplicas", "maxSyncReplicas")
WEAK_AUTH_METHODS = {
    "trust": "admits anyone the line matches without a password",
    "password": "sends the password in clear text",
    "md5": "relies on the broken MD5 hash",
}
NON_TLS_CONNECTION_TYPES = ("host", "hostnossl", "hostnogssenc")
REJECT_NON_TLS_RULE = "hostnossl all all all reject"
# An image reference pinned by content: name@sha256:<hex>.
_DIGEST = re.compile(r"@[a-z0-9]+:[0-9a-f]{32,}$")
# CNPG's immutable tags carry the build timestamp (18.6-202608170814-standard-trixie); every other tag
# (18, 18.6, 18-standard-trixie, 18.6-standard-trixie) is rebuilt weekly under the same name
# (cloudnative-pg/postgres-containers README).
_TIMESTAMPED_TAG = re.compile(r"[0-9]+\.[0-9]+-[0-9]{12}-[a-z]+-[a-z]+")
# Labels of CNPG instance pods; its initdb/join Job pods carry cnpg.io/cluster but not podRole=instance.
CLUSTER_LABEL = "cnpg.io/cluster"
INSTANCE_ROLE = ("cnpg.io/podRole", "instance")


def _where(args: ResourceValidationArgs) -> str:
    return label(args.resource_type, args.name)


def _instances(args: ResourceValidationArgs) -> float:
    value = lookup(args.props, "spec", "instances")
    return value if isinstance(value, int | float) else CNPG_DEFAULT_INSTANCES


@for_types(CNPG_CLUSTER)
def _enough_instances(args: ResourceValidationArgs, report: Report) -> None:
    required = int_setting(args, "minInstances", MIN_INSTANCES)
    if _instances(args) < required:
        report(
            f"{_where(args)}: {described('spec.instances', lookup(args.props, 'spec', 'instances'))} "
            f"(CloudNativePG's default is {CNPG_DEFAULT_INSTANCES}); run at least {required} instances, one per zone, so "
            "a failover always has a synchronous standby to promote."
        )


@for_types(CNPG_CLUSTER)
def _synchronous_replication(args: ResourceValidationArgs, report: Report) -> None:
    synchronous = lookup(args.props, "spec", "postgresql", "synchronous")
    if synchronous is None:
        report(
            f"{_where(args)}: spec.postgresql.synchronous is not set, so replication is asynchronous and a failover can "
            "lose committed transactions; set spec.postgresql.synchronous to {method: any, number: 1}."
        )
    else:
        method, number = lookup(synchronous, "method"), lookup(synchronous, "number")
        if method not in SYNCHRONOUS_METHODS:
            report(
                f"{_where(args)}: {described('spec.postgresql.synchronous.method', method)}; use 'any' (quorum) or "
                "'first' (priority)."
            )
        if not isinstance(number, int | float) or number < 1:
            report(
                f"{_where(args)}: {described('spec.postgresql.synchronous.number', number)}; "
                "require at least 1 synchronous standby."
            )
        elif number >= _instances(args):
            report(
                f"{_where(args)}: spec.postgresql.synchronous.number is {number:g} with {_instances(args):g} instance(s); "
                "it must stay below spec.instances, or no write can ever be acknowledged."
            )
    for key in DEPRECATED_SYNC_SETTINGS:
        if lookup(args.props, "spec", key) is not None:
            report(
                f"{_where(args)}: spec.{key} is deprecated since CloudNativePG 1.24 and excludes "
                "spec.postgresql.synchronous; remove it and configure spec.postgresql.synchronous instead."
            )


@for_types(CNPG_CLUSTER)
def _data_checksums(args: ResourceValidationArgs, report: Report) -> None:
    bootstrap = lookup(args.props, "spec", "bootstrap")
    # Recovered and cloned clusters inherit the source's data files, checksums included.
    if lookup(bootstrap, "recovery") is not None or lookup(bootstrap, "pg_basebackup") is not None:
        return
    checksums = lookup(bootstrap, "initdb", "dataChecksums")
    if checksums is not True:
        report(
            f"{_where(args)}: {described('spec.bootstrap.initdb.dataChecksums', checksums)}; set it to true so PostgreSQL "
            "detects corrupted pages. It can only be chosen when the cluster is created."
        )


def _image_tag(image: str) -> str | None:
    last_segment = image.rsplit("/", 1)[-1]
    return last_segment.split(":", 1)[1] if ":" in last_segment else None


def _report_floating(args: ResourceValidationArgs, report: Report, where: str, image: object) -> None:
    if _DIGEST.search(str(image)):
        return
    tag = _image_tag(str(image))
    if tag is None or not _TIMESTAMPED_TAG.fullmatch(tag):
        found = "has no tag (so it means 'latest')" if tag is None else f"uses the tag '{tag}', which is rebuilt weekly"
        report(
            f"{_where(args)}: {where} '{image}' {found}; pin a build-timestamped tag such as "
            "18.6-202608170814-standard-trixie with its digest (@sha256:..., images-pinned-by-digest), so every "
            "instance and every recovery runs the same PostgreSQL build."
        )


@for_types(CNPG_CLUSTER)
def _pinned_image(args: ResourceValidationArgs, report: Report) -> None:
    image = lookup(args.props, "spec", "imageName")
    if image is None:
        # A catalog's images are checked on the catalog (_pinned_catalog_images).
        if lookup(args.props, "spec", "imageCatalogRef") is None:
            report(
                f"{_where(args)}: spec.imageName is not set, so the image changes with operator upgrades; pin it, e.g. "
                "ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-standard-trixie@sha256:<digest>."
            )
        return
    _report_floating(args, report, "spec.imageName", image)


@for_types(CNPG_IMAGE_CATALOG, CNPG_CLUSTER_IMAGE_CATALOG)
def _pinned_catalog_images(args: ResourceValidationArgs, report: Report) -> None:
    for index, entry in enumerate(as_list(lookup(args.props, "spec", "images"))):
        image = lookup(entry, "image")
        if image is not None:
            _report_floating(args, report, f"spec.images[{index}].image", image)


def _selector_terms(spec: object) -> list[tuple[str, object]]:
    """(where, labelSelector) of the zone spread constraints and the additional pod (anti-)affinity terms."""
    terms = [
        (f"spec.topologySpreadConstraints[{index}]", lookup(constraint, "labelSelector"))
        for index, constraint in enumerate(as_list(lookup(spec, "topologySpreadConstraints")))
    ]
    for kind in ("additionalPodAffinity", "additionalPodAntiAffinity"):
        base = f"spec.affinity.{kind}"
        for index, term in enumerate(as_list(lookup(spec, "affinity", kind, "requiredDuringSchedulingIgnoredDuringExecution"))):
            terms.append((f"{base}.required[{index}]", lookup(term, "labelSelector")))
        for index, term in enumerate(as_list(lookup(spec, "affinity", kind, "preferredDuringSchedulingIgnoredDuringExecution"))):
            terms.append((f"{base}.preferred[{index}]", lookup(term, "podAffinityTerm", "labelSelector")))
    return terms


@for_types(CNPG_CLUSTER)
def _instance_pod_selectors(args: ResourceValidationArgs, report: Report) -> None:
    for where, selector in _selector_terms(lookup(args.props, "spec")):
        match_labels = lookup(selector, "matchLabels") or {}
        if CLUSTER_LABEL in match_labels and lookup(match_labels, INSTANCE_ROLE[0]) != INSTANCE_ROLE[1]:
            report(
                f"{_where(args)}: {where}.labelSelector selects {CLUSTER_LABEL} without {INSTANCE_ROLE[0]}: "
                f"{INSTANCE_ROLE[1]}, so CloudNativePG's initdb/join Job pods count as instances and skew the "
                f"placement; add {INSTANCE_ROLE[0]}: {INSTANCE_ROLE[1]} to matchLabels."
            )


def _auth_method(connection_type: str, fields: list[str]) -> str | None:
    """The method column of a pg_hba line (the address may be followed by a separate netmask)."""
    position = 3 if connection_type == "local" else 4
    if connection_type != "local" and len(fields) > 5:
        try:
            ipaddress.ip_address(fields[4])
            position = 5
        except ValueError:
            pass
    return fields[position].lower() if len(fields) > position else None


def hba_line_problems(line: str) -> list[str]:
    """Why one pg_hba line (PostgreSQL's or PgBouncer's, same format) admits weak or non-TLS connections."""
    fields = line.split("#", 1)[0].split()
    if not fields or fields[0].startswith("include"):
        return []
    connection_type = fields[0].lower()
    method = _auth_method(connection_type, fields)
    problems = []
    if method in WEAK_AUTH_METHODS:
        problems.append(f"uses '{method}' authentication, which {WEAK_AUTH_METHODS[method]}; use scram-sha-256 or cert")
    if connection_type in NON_TLS_CONNECTION_TYPES and method != "reject":
        problems.append(
            f"is a '{connection_type}' rule, which accepts connections without TLS; use 'hostssl' (or the method 'reject')"
        )
    return problems


def _rejects_non_tls(lines: list[str]) -> bool:
    """Whether the user rules refuse every non-TLS connection before CNPG's trailing 'host all all all' rule."""
    rejected = {
        fields[3]
        for fields in (line.split("#", 1)[0].split() for line in lines)
        if len(fields) >= 5 and fields[0] == "hostnossl" and fields[1:3] == ["all", "all"] and fields[4] == "reject"
    }
    return "all" in rejected or {"0.0.0.0/0", "::/0"} <= rejected


@for_types(CNPG_CLUSTER)
def _tls_scram_access(args: ResourceValidationArgs, report: Report) -> None:
    lines = [str(line) for line in as_list(lookup(args.props, "spec", "postgresql", "pg_hba"))]
    for index, line in enumerate(lines):
        for problem in hba_line_problems(line):
            report(f"{_where(args)}: spec.postgresql.pg_hba[{index}] '{line}' {problem}.")
    if not _rejects_non_tls(lines):
        report(
            f"{_where(args)}: spec.postgresql.pg_hba does not reject non-TLS connections; CloudNativePG appends "
            f"'host all all all scram-sha-256' after the user rules, so add '{REJECT_NON_TLS_RULE}' (or the pair of "
            "'hostnossl all all 0.0.0.0/0 reject' and 'hostnossl all all ::/0 reject')."
        )


@for_types(CNPG_CLUSTER)
def _wal_archiving(args: ResourceValidationArgs, report: Report) -> None:
    if not wal_archivers(args.props):
        report(
            f"{_where(args)}: no enabled spec.plugins entry has isWALArchiver: true, so WAL is not archived and "
            "point-in-time recovery is impossible; add {name: barman-cloud.cloudnative-pg.io, isWALArchiver: true, "
            "parameters: {barmanObjectName: <ObjectStore name>}}."
        )
    if lookup(args.props, "spec", "backup", "barmanObjectStore") is not None:
        report(
            f"{_where(args)}: spec.backup.barmanObjectStore is the in-tree Barman Cloud support, deprecated and removed "
            "in CloudNativePG 1.31; move its settings to an ObjectStore used through the Barman Cloud plugin."
        )


@for_types(CNPG_CLUSTER)
def _switchover_updates(args: ResourceValidationArgs, report: Report) -> None:
    method = lookup(args.props, "spec", "primaryUpdateMethod")
    if method != "switchover":
        report(
            f"{_where(args)}: {described('spec.primaryUpdateMethod', method)} (default 'restart': the primary restarts "
            "in place during rolling updates); set it to 'switchover' to promote an updated standby instead."
        )


# PostgreSQL's TLS protocol versions, oldest first; CloudNativePG ships ssl_min_protocol_version TLSv1.3
# (cnpg v1.30 pkg/postgres/configuration.go, GlobalDefaultSettings), which the program keeps.
TLS_PROTOCOL_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
MIN_TLS_PROTOCOL_VERSION = "TLSv1.3"
# Parameters whose value puts statement text or bind parameters (passwords in ALTER ROLE, personal
# data in INSERTs) into the server log, which leaves the database for the log pipeline.
_ZERO = re.compile(r"0+(\.0*)?\s*(us|ms|s|min)?", re.IGNORECASE)


def _zero(value: str) -> bool:
    """Whether a setting is 0 (numbers arrive as text or as floats: "0", "0ms", "0.0")."""
    return _ZERO.fullmatch(value.strip()) is not None


_LEAKING_PARAMETERS = {
    "log_statement": (lambda value: value.strip().lower() != "none", "logs statement text (ALTER ROLE ... PASSWORD included)"),
    "log_min_duration_statement": (_zero, "logs every statement"),
    "log_min_duration_sample": (_zero, "logs every sampled statement"),
    "auto_explain.log_min_duration": (_zero, "logs every statement"),
    "log_parameter_max_length_on_error": (lambda value: not _zero(value), "logs bind parameters of failed statements"),
}


def _parameter_problems(parameters: object) -> list[str]:
    problems = []
    encryption = lookup(parameters, "password_encryption")
    if encryption is not None and str(encryption).lower() != "scram-sha-256":
        problems.append(
            f"password_encryption is {encryption!r}: new passwords are stored as MD5 hashes, which pg_hba's "
            "scram-sha-256 lines then refuse and an attacker can replay; remove it (PostgreSQL's default is scram-sha-256)"
        )
    version = lookup(parameters, "ssl_min_protocol_version")
    known = [known.lower() for known in TLS_PROTOCOL_VERSIONS]  # PostgreSQL reads enum values case-insensitively
    if version is not None and (
        str(version).lower() not in known or known.index(str(version).lower()) < known.index(MIN_TLS_PROTOCOL_VERSION.lower())
    ):
        problems.append(
            f"ssl_min_protocol_version is {version!r}, below the {MIN_TLS_PROTOCOL_VERSION} CloudNativePG ships; remove it"
        )
    for name, (leaks, what) in _LEAKING_PARAMETERS.items():
        value = lookup(parameters, name)
        if value is not None and leaks(str(value)):
            problems.append(f"{name} is {value!r}, which {what} into the server log; remove it")
    return problems


@for_types(CNPG_CLUSTER)
def _safe_parameters(args: ResourceValidationArgs, report: Report) -> None:
    for problem in _parameter_problems(lookup(args.props, "spec", "postgresql", "parameters")):
        report(f"{_where(args)}: spec.postgresql.parameters: {problem}.")


@for_types(CNPG_CLUSTER)
def _no_superuser_access(args: ResourceValidationArgs, report: Report) -> None:
    if lookup(args.props, "spec", "enableSuperuserAccess") is True:
        report(
            f"{_where(args)}: spec.enableSuperuserAccess is true, so CloudNativePG creates a postgres password secret "
            "and the superuser can log in over the network; set it to false (administer through kubectl cnpg psql)."
        )


CNPG_POLICIES = [
    resource_policy(
        "cnpg-min-instances",
        "CNPG Clusters run enough instances for high availability.",
        _enough_instances,
        settings={"minInstances": integer_schema(MIN_INSTANCES, 1)},
    ),
    resource_policy(
        "cnpg-synchronous-replication",
        "CNPG Clusters replicate synchronously through spec.postgresql.synchronous.",
        _synchronous_replication,
    ),
    resource_policy("cnpg-data-checksums", "CNPG Clusters bootstrapped with initdb enable data checksums.", _data_checksums),
    resource_policy(
        "cnpg-pinned-image",
        "CNPG Clusters and their image catalogs pin the PostgreSQL image by build-timestamped tag or digest.",
        [_pinned_image, _pinned_catalog_images],
    ),
    resource_policy(
        "cnpg-instance-pod-selectors",
        "CNPG placement selectors (zone spread, pod affinity) select instance pods only.",
        _instance_pod_selectors,
    ),
    resource_policy(
        "cnpg-pg-hba-tls-scram", "CNPG Clusters accept only TLS connections with strong authentication.", _tls_scram_access
    ),
    resource_policy(
        "cnpg-safe-parameters",
        "CNPG Clusters keep SCRAM password hashing, CloudNativePG's minimum TLS version and statement data out of the log.",
        _safe_parameters,
    ),
    resource_policy("cnpg-no-superuser-access", "CNPG Clusters disable network login of the superuser.", _no_superuser_access),
    resource_policy(
        "cnpg-wal-archiver-plugin", "CNPG Clusters archive WAL through a CNPG-I plugin (Barman Cloud).", _wal_archiving
    ),
    resource_policy(
        "cnpg-switchover-updates",
        "CNPG rolling updates switch over to an updated standby instead of restarting the primary.",
        _switchover_updates,
        level=EnforcementLevel.ADVISORY,
    ),
]
