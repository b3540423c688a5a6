"""The backup storage account: encrypted transport, no anonymous or key-based access, recoverable blobs."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.policy import ResourceValidation

from .common import (
    Report,
    depends_through,
    described,
    for_types,
    int_setting,
    integer_schema,
    label,
    lookup,
    of_type,
    plain,
    resource_policy,
    snake,
    stack_policy,
    text,
    text_setting,
    texts_setting,
)
from .resource_types import BLOB_CONTAINER, BLOB_SERVICE_PROPERTIES, STORAGE_ACCOUNT

TLS_VERSIONS = ("TLS1_0", "TLS1_1", "TLS1_2", "TLS1_3")
MIN_TLS_VERSION = "TLS1_2"
MIN_SOFT_DELETE_DAYS = 7
ZONE_REDUNDANT_SKUS = ("Standard_ZRS", "Standard_GZRS", "Standard_RAGZRS", "Premium_ZRS")


def _account_flag(key: str, required: bool, why: str) -> ResourceValidation:
    """The account must set ``key`` to ``required`` explicitly: ARM defaults differ between API versions."""

    @for_types(STORAGE_ACCOUNT)
    def check(args: ResourceValidationArgs, report: Report) -> None:
        value = lookup(args.props, key)
        if value is not required:
            report(f"{label(args.resource_type, args.name)}: {described(key, value)}; set {snake(key)}={required}: {why}")

    return check


@for_types(STORAGE_ACCOUNT)
def _minimum_tls(args: ResourceValidationArgs, report: Report) -> None:
    required = text_setting(args, "minTlsVersion", MIN_TLS_VERSION)
    value = lookup(args.props, "minimumTlsVersion")
    if value not in TLS_VERSIONS or TLS_VERSIONS.index(value) < TLS_VERSIONS.index(required):
        report(
            f"{label(args.resource_type, args.name)}: {described('minimumTlsVersion', value)}; "
            f"set minimum_tls_version='{required}' (or newer) so clients cannot negotiate an older TLS version."
        )


@for_types(BLOB_CONTAINER)
def _private_container(args: ResourceValidationArgs, report: Report) -> None:
    access = lookup(args.props, "publicAccess")
    if access not in (None, "None"):
        report(
            f"{label(args.resource_type, args.name)}: publicAccess is '{access}', so anyone can read its blobs "
            "(base backups and WAL files) anonymously; set public_access='None'."
        )


@for_types(STORAGE_ACCOUNT)
def _zone_redundant_sku(args: ResourceValidationArgs, report: Report) -> None:
    allowed = texts_setting(args, "allowedSkus", ZONE_REDUNDANT_SKUS)
    sku = lookup(args.props, "sku", "name")
    if sku not in allowed:
        report(
            f"{label(args.resource_type, args.name)}: {described('sku.name', sku)}; a zone outage makes locally "
            f"redundant backups unreachable exactly when they are needed. Use one of {', '.join(allowed)}."
        )


@for_types(BLOB_SERVICE_PROPERTIES)
def _versioning(args: ResourceValidationArgs, report: Report) -> None:
    value = lookup(args.props, "isVersioningEnabled")
    if value is not True:
        report(
            f"{label(args.resource_type, args.name)}: {described('isVersioningEnabled', value)}; set "
            "is_versioning_enabled=True so an overwritten backup file keeps its previous version."
        )


def _account_name(props: dict[str, Any]) -> str | None:
    return text(props.get("accountName")) or text(props.get("name"))


def _serves(service: PolicyResource, account: PolicyResource) -> bool:
    """Whether a BlobServiceProperties resource configures ``account`` (by dependency or by name)."""
    if depends_through(service, "accountName", account):
        return True
    name = _account_name(plain(account.props))
    return name is not None and name == _account_name(plain(service.props))


def _soft_delete_problem(props: dict[str, Any], min_days: int) -> str | None:
    enabled = lookup(props, "deleteRetentionPolicy", "enabled")
    days = lookup(props, "deleteRetentionPolicy", "days")
    if enabled is not True:
        return (
            f"{described('deleteRetentionPolicy.enabled', enabled)}; set delete_retention_policy="
            f"{{'enabled': True, 'days': {min_days}}} (or more days) so a deleted backup or WAL file can be restored"
        )
    if not isinstance(days, int | float) or days < min_days:
        return f"{described('deleteRetentionPolicy.days', days)}; keep deleted blobs for at least {min_days} days"
    return None


def _validate_soft_delete(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    min_days = int_setting(args, "minRetentionDays", MIN_SOFT_DELETE_DAYS)
    services = of_type(args.resources, BLOB_SERVICE_PROPERTIES)
    for service in services:
        problem = _soft_delete_problem(plain(service.props), min_days)
        if problem:
            report_violation(f"{label(service.resource_type, service.name)}: {problem}.", service.urn)
    for account in of_type(args.resources, STORAGE_ACCOUNT):
        if not any(_serves(service, account) for service in services):
            report_violation(
                f"{label(account.resource_type, account.name)} has no BlobServiceProperties, so blob soft delete is off "
                "and a deleted backup or WAL file is gone for good. Add storage.BlobServiceProperties(blob_services_name="
                f"'default', delete_retention_policy={{'enabled': True, 'days': {min_days}}}) for this account.",
                account.urn,
            )


STORAGE_POLICIES = [
    resource_policy(
        "storage-https-only",
        "Storage accounts accept HTTPS only.",
        _account_flag("enableHttpsTrafficOnly", True, "plain-HTTP requests would carry backups and WAL files unencrypted."),
    ),
    resource_policy(
        "storage-minimum-tls",
        "Storage accounts refuse TLS versions older than the configured minimum.",
        _minimum_tls,
        settings={"minTlsVersion": {"type": "string", "enum": list(TLS_VERSIONS[2:]), "default": MIN_TLS_VERSION}},
    ),
    resource_policy(
        "storage-no-public-blob-access",
        "Neither storage accounts nor containers allow anonymous blob reads.",
        [
            _account_flag("allowBlobPublicAccess", False, "otherwise any container can be switched to anonymous read access."),
            _private_container,
        ],
    ),
    resource_policy(
        "storage-shared-key-disabled",
        "Storage accounts refuse shared-key (account key and SAS) authorization.",
        _account_flag(
            "allowSharedKeyAccess",
            False,
            "the Barman Cloud plugin authenticates with workload identity (Entra ID), and a leaked account key "
            "would grant full access to every backup.",
        ),
    ),
    resource_policy(
        "storage-no-cross-tenant-replication",
        "Storage accounts refuse object replication to accounts of other Entra tenants.",
        _account_flag(
            "allowCrossTenantReplication",
            False,
            "otherwise an object replication policy can copy every backup to an account in a tenant you do not control.",
        ),
    ),
    stack_policy(
        "storage-blob-soft-delete",
        "Every storage account keeps deleted blobs recoverable (blob soft delete).",
        _validate_soft_delete,
        settings={"minRetentionDays": integer_schema(MIN_SOFT_DELETE_DAYS, 1, 365)},
    ),
    resource_policy(
        "storage-zone-redundant-sku",
        "Backup storage survives the loss of a zone (ZRS or GZRS redundancy).",
        _zone_redundant_sku,
        level=EnforcementLevel.ADVISORY,
        settings={"allowedSkus": {"type": "array", "items": {"type": "string"}, "default": list(ZONE_REDUNDANT_SKUS)}},
    ),
    resource_policy(
        "storage-blob-versioning",
        "Blob versioning keeps overwritten backup files.",
        _versioning,
        level=EnforcementLevel.ADVISORY,
    ),
]
