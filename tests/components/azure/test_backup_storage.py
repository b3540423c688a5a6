from offline.engine import StackRun, run_stack
from tests.components.helpers import prod_with_public_endpoint
from tests.test_settings import _section

BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"


def test_storage_account_is_hardened(shipped: StackRun) -> None:
    account = shipped.one("azure-native:storage:StorageAccount").inputs
    assert account["kind"] == "StorageV2"
    assert account["sku"] == {"name": "Standard_ZRS"}
    assert account["enableHttpsTrafficOnly"] is True
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["allowBlobPublicAccess"] is False
    assert account["allowSharedKeyAccess"] is False
    assert account["defaultToOAuthAuthentication"] is True


def _recoverable_days(run: StackRun) -> float:
    """How long a blob barman deletes stays recoverable: a previous version until the lifecycle rule
    deletes it, then soft-deleted (with versioning, deleting the current version soft-deletes nothing)."""
    service = run.one("azure-native:storage:BlobServiceProperties").inputs
    assert service["isVersioningEnabled"] is True and service["deleteRetentionPolicy"]["enabled"] is True
    (rule,) = run.one("azure-native:storage:ManagementPolicy").inputs["policy"]["rules"]
    assert rule["enabled"] is True and rule["definition"]["filters"]["blobTypes"] == ["blockBlob"]
    version_days = rule["definition"]["actions"]["version"]["delete"]["daysAfterCreationGreaterThan"]
    return version_days + service["deleteRetentionPolicy"]["days"]


def test_deleted_backups_stay_recoverable_as_long_as_the_settings_say(prod: StackRun) -> None:
    # prod: retention 30d, soft delete 35 days -> 35 days in all, not a 35-day version plus 35 days soft-deleted.
    assert _recoverable_days(prod) == 35
    service = prod.one("azure-native:storage:BlobServiceProperties").inputs
    assert service["deleteRetentionPolicy"]["days"] == 35
    assert service["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 35}


def test_retention_longer_than_soft_delete_keeps_versions_for_the_difference() -> None:
    run = run_stack("dev", {"aks-postgres-ha:backup": _section("dev", "backup", retention="3w", softDeleteDays=7)})
    # 21 days in all: 14 as a previous version, then 7 soft-deleted.
    assert _recoverable_days(run) == 21
    assert run.one("azure-native:storage:BlobServiceProperties").inputs["deleteRetentionPolicy"]["days"] == 7


def test_prod_backup_versions_are_immutable_for_the_retention_window(prod: StackRun) -> None:
    container = prod.one("azure-native:storage:BlobContainer")
    assert container.inputs["immutableStorageWithVersioning"] == {"enabled": True}
    # Azure sets it only at creation: an existing container must not be replaced for it.
    assert "immutableStorageWithVersioning" in container.ignore_changes
    policy = prod.one("azure-native:storage:BlobContainerImmutabilityPolicy")
    assert policy.inputs["immutabilityPolicyName"] == "default"
    # 30d: barman's retention deletes only files older than 30 days, which the policy no longer protects.
    assert policy.inputs["immutabilityPeriodSinceCreationInDays"] == 30
    assert policy.inputs["allowProtectedAppendWritesAll"] is False
    assert container.urn in policy.property_dependencies["containerName"]


def test_dev_keeps_its_container_deletable(dev: StackRun) -> None:
    assert "immutableStorageWithVersioning" not in dev.one("azure-native:storage:BlobContainer").inputs
    assert not dev.of_type("azure-native:storage:BlobContainerImmutabilityPolicy")


def test_private_backups_container_writable_only_by_the_workload(prod: StackRun) -> None:
    container = prod.one("azure-native:storage:BlobContainer")
    assert container.inputs["containerName"] == "backups"
    assert container.inputs["publicAccess"] == "None"
    role = prod.one("azure-native:authorization:RoleAssignment", "backup-storage-writer")
    assert role.inputs["roleDefinitionId"].endswith(BLOB_DATA_CONTRIBUTOR)
    assert role.inputs["scope"].endswith("/blobServices/default/containers/backups") or role.inputs["scope"].endswith("/backups")
    assert container.urn in role.property_dependencies["scope"]
    assert (
        prod.outputs["backupContainerUrl"] == f"https://{prod.outputs['backupStorageAccountName']}.blob.core.windows.net/backups"
    )


def test_prod_protects_stateful_resources_and_dev_does_not(prod: StackRun, dev: StackRun) -> None:
    for resource_type in ("azure-native:storage:StorageAccount", "azure-native:storage:BlobContainer"):
        assert prod.one(resource_type).protect, resource_type
        assert not dev.one(resource_type).protect, resource_type
    # prod ships private (no public IP); with its public endpoint switched on, the static IP is protected too.
    public_ip = "azure-native:network:PublicIPAddress"
    assert not prod.of_type(public_ip)
    assert prod_with_public_endpoint().one(public_ip).protect
    assert not dev.one(public_ip).protect
