"""Storage policies: HTTPS, TLS, anonymous access, shared keys, soft delete, redundancy, versioning."""

from __future__ import annotations

import pytest

from offline.engine import stack_config
from offline.policy_client import EnforcementLevel, load_policy_config

from .baseline import compliant_stack
from .expectations import Analyze, only, passes

ACCOUNT = "storage-account"


@pytest.mark.parametrize(
    ("setting", "value", "policy"),
    [
        ("enableHttpsTrafficOnly", False, "storage-https-only"),
        ("minimumTlsVersion", "TLS1_0", "storage-minimum-tls"),
        ("allowBlobPublicAccess", True, "storage-no-public-blob-access"),
        ("allowSharedKeyAccess", True, "storage-shared-key-disabled"),
    ],
)
def test_insecure_account_setting_is_refused(analyze: Analyze, setting: str, value: object, policy: str) -> None:
    stack = compliant_stack().with_value(ACCOUNT, setting, value)
    violation = only(analyze(stack), policy, stack.urn(ACCOUNT))
    assert setting in violation.message and f"'{ACCOUNT}'" in violation.message


@pytest.mark.parametrize(
    ("setting", "policy"),
    [
        ("enableHttpsTrafficOnly", "storage-https-only"),
        ("minimumTlsVersion", "storage-minimum-tls"),
        ("allowBlobPublicAccess", "storage-no-public-blob-access"),
        ("allowSharedKeyAccess", "storage-shared-key-disabled"),
    ],
)
def test_account_must_set_security_explicitly(analyze: Analyze, setting: str, policy: str) -> None:
    stack = compliant_stack().without(ACCOUNT, setting)
    assert "is not set" in only(analyze(stack), policy, stack.urn(ACCOUNT)).message


def test_minimum_tls_is_configurable(analyze: Analyze) -> None:
    stack = compliant_stack()
    report = analyze(stack, {"storage-minimum-tls": {"minTlsVersion": "TLS1_3"}})
    assert "TLS1_3" in only(report, "storage-minimum-tls", stack.urn(ACCOUNT)).message


def test_public_container_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("backup-container", "publicAccess", "Blob")
    violation = only(analyze(stack), "storage-no-public-blob-access", stack.urn("backup-container"))
    assert "public_access='None'" in violation.message


def test_disabled_soft_delete_is_refused_on_the_blob_service(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("blob-service", "deleteRetentionPolicy.enabled", False)
    only(analyze(stack), "storage-blob-soft-delete", stack.urn("blob-service"))


def test_short_soft_delete_retention_follows_the_stack_config(analyze: Analyze) -> None:
    dev = compliant_stack("dev").with_value("blob-service", "deleteRetentionPolicy.days", 10)
    passes(analyze(dev), "storage-blob-soft-delete")  # dev keeps 7 days at least
    prod = compliant_stack("prod").with_value("blob-service", "deleteRetentionPolicy.days", 10)
    assert "at least 14 days" in only(analyze(prod), "storage-blob-soft-delete", prod.urn("blob-service")).message


def test_account_without_blob_service_properties_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without("blob-service")
    only(analyze(stack), "storage-blob-soft-delete", stack.urn(ACCOUNT))


def test_blob_service_properties_match_their_account_by_name_too(analyze: Analyze) -> None:
    stack = compliant_stack().with_sources("blob-service", {})
    passes(analyze(stack), "storage-blob-soft-delete")


def test_locally_redundant_storage_is_advisory_in_dev_and_mandatory_in_prod(analyze: Analyze) -> None:
    for stack_name, level in (("dev", EnforcementLevel.ADVISORY), ("prod", EnforcementLevel.MANDATORY)):
        stack = compliant_stack(stack_name).with_value(ACCOUNT, "sku.name", "Standard_LRS")
        only(analyze(stack), "storage-zone-redundant-sku", stack.urn(ACCOUNT), level)


def test_blob_versioning_is_advisory(analyze: Analyze) -> None:
    stack = compliant_stack("prod").with_value("blob-service", "isVersioningEnabled", False)
    only(analyze(stack), "storage-blob-versioning", stack.urn("blob-service"), EnforcementLevel.ADVISORY)


def test_prod_config_tightens_soft_delete_beyond_the_default(analyze: Analyze) -> None:
    report = analyze(compliant_stack("prod"))
    shipped = load_policy_config(stack_config("prod"))
    assert report.policy("storage-blob-soft-delete").config == shipped["storage-blob-soft-delete"]
