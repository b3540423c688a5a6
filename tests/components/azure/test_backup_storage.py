from offline.engine import StackRun
from tests.components.helpers import prod_with_public_endpoint

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


def test_soft_delete_and_versioning_cover_the_backup_retention(prod: StackRun) -> None:
    service = prod.one("azure-native:storage:BlobServiceProperties").inputs
    assert service["isVersioningEnabled"] is True
    # prod: retention 30d, soft delete 35 days -> 35.
    assert service["deleteRetentionPolicy"] == {"enabled": True, "days": 35}
    assert service["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 35}
    rule = prod.one("azure-native:storage:ManagementPolicy").inputs["policy"]["rules"][0]
    assert rule["definition"]["actions"]["version"]["delete"]["daysAfterCreationGreaterThan"] == 35


def test_retention_longer_than_soft_delete_raises_soft_delete(dev: StackRun) -> None:
    # dev: retention 7d and soft delete 7 days.
    service = dev.one("azure-native:storage:BlobServiceProperties").inputs
    assert service["deleteRetentionPolicy"]["days"] == 7


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
