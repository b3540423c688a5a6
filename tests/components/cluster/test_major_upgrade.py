"""A PostgreSQL major change of postgres.image: backup first, a new archive folder, no downgrade, no split pair."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi import RunError

from components.cluster.major_upgrade import PRE_UPGRADE_BACKUP_TIMEOUT_HOURS
from offline.engine import StackRun, run_stack
from settings import PostgresSettings
from settings.disaster_recovery import PAIR_UPGRADE_ORDER
from tests.test_dr_stack import _dr_section, _outputs, _refusal
from tests.test_settings import _section

P = "aks-postgres-ha:"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
BACKUP = "kubernetes:postgresql.cnpg.io/v1:Backup"
IMAGE_CATALOG = "kubernetes:postgresql.cnpg.io/v1:ImageCatalog"
IMAGE_19 = "ghcr.io/cloudnative-pg/postgresql:19.1-202609010000-standard-trixie@sha256:" + "9" * 64
IMAGE_18 = PostgresSettings().image
# What a stack deployed before this change left: major 18, archiving under the cluster's name.
LIVE_18 = {"postgresNamespace": "cnpg-database", "postgresClusterName": "pg-primary", "postgresMajorVersion": 18,
           "backupServerName": "pg-primary"}  # fmt: skip


def _server_name(run: StackRun) -> str:
    plugins = run.one(CNPG_CLUSTER, "database-cluster").inputs["spec"]["plugins"]
    return str(plugins[0]["parameters"]["serverName"])


def _catalog(run: StackRun) -> dict[int, str]:
    images = run.one(IMAGE_CATALOG, "database-image-catalog").inputs["spec"]["images"]
    return {entry["major"]: entry["image"] for entry in images}


def _upgrade_backups(run: StackRun) -> list[str]:
    return [backup.name for backup in run.of_type(BACKUP) if "-pg" in backup.name]


def _upgrade_to_19(stack: str, deployed: dict[str, Any]) -> StackRun:
    return run_stack(stack, {P + "postgres": _section(stack, "postgres", image=IMAGE_19)}, deployed_outputs=deployed)


@pytest.mark.parametrize("deployed", [{}, LIVE_18, {**LIVE_18, "backupServerName": "pg-primary-pg18"}])
def test_an_unchanged_major_keeps_the_deployed_archive_folder_and_takes_no_backup(deployed: dict[str, Any]) -> None:
    # Existing stacks keep archiving where they do today; a first deployment archives under the cluster's name.
    run = run_stack("prod", deployed_outputs=deployed)
    assert _server_name(run) == deployed.get("backupServerName", "pg-primary")
    assert run.outputs["backupServerName"] == _server_name(run)
    assert run.outputs["postgresMajorVersion"] == 18
    assert not _upgrade_backups(run)


def test_a_major_upgrade_takes_a_backup_first_and_archives_into_a_new_folder() -> None:
    run = _upgrade_to_19("prod", LIVE_18)
    cluster = run.one(CNPG_CLUSTER, "database-cluster")
    assert cluster.inputs["spec"]["imageCatalogRef"]["major"] == 19
    assert _catalog(run) == {19: IMAGE_19}  # a stack deployed before the catalog: its Cluster does not read it yet
    assert _server_name(run) == run.outputs["backupServerName"] == "pg-primary-pg19"
    assert run.outputs["postgresMajorVersion"] == 19

    backup = run.one(BACKUP, "database-before-pg19")
    assert backup.inputs["metadata"]["name"] == "pg-primary-before-pg19"
    assert backup.inputs["metadata"]["namespace"] == "cnpg-database"
    assert backup.inputs["spec"]["cluster"] == {"name": "pg-primary"}
    assert backup.inputs["spec"]["method"] == "plugin"
    # Awaited until completed (a failed backup never reaches it, and the update stops there) ...
    annotations = backup.inputs["metadata"]["annotations"]
    assert annotations["pulumi.com/waitFor"] == "jsonpath={.status.phase}=completed"
    assert annotations["pulumi.com/timeoutSeconds"] == str(PRE_UPGRADE_BACKUP_TIMEOUT_HOURS * 3600)
    assert backup.custom_timeouts[0] == f"{PRE_UPGRADE_BACKUP_TIMEOUT_HOURS}h"
    # ... before the Cluster gets the new image: its spec waits for the backup.
    assert backup.urn in cluster.property_dependencies["spec"]
    # The next deployment no longer registers it; Pulumi must not delete a backup record then.
    assert backup.retain_on_delete

    # Once the upgraded cluster is Ready, a first base backup into the new folder (not awaited).
    first = run.one(BACKUP, "database-first-pg19")
    assert first.inputs["metadata"] == {"name": "pg-primary-first-pg19", "namespace": "cnpg-database"}
    assert first.inputs["spec"] == backup.inputs["spec"]
    assert cluster.urn in first.dependencies and first.retain_on_delete


def test_the_catalog_keeps_the_running_major_until_the_cluster_moves_to_the_new_one() -> None:
    # CNPG stops reconciling a Cluster whose major the catalog lacks (no failover either), and the Cluster
    # stays on 18 until the pre-upgrade backup completed: the catalog lists both majors meanwhile.
    run = _upgrade_to_19("prod", {**LIVE_18, "postgresImage": IMAGE_18})
    assert _catalog(run) == {18: IMAGE_18, 19: IMAGE_19}
    assert run.outputs["postgresImage"] == IMAGE_19


def test_the_next_deployment_keeps_the_new_folder_without_another_backup() -> None:
    deployed = {**LIVE_18, "postgresMajorVersion": 19, "backupServerName": "pg-primary-pg19", "postgresImage": IMAGE_19}
    run = _upgrade_to_19("prod", deployed)
    assert _server_name(run) == "pg-primary-pg19"
    assert not _upgrade_backups(run)
    assert _catalog(run) == {19: IMAGE_19}  # the old major leaves the catalog once the cluster runs the new one


def test_a_restore_reads_the_folder_the_cluster_archives_to() -> None:
    restore = {"enabled": True, "clusterName": "pg-restored"}
    run = run_stack("dev", {P + "restore": restore}, deployed_outputs={**LIVE_18, "backupServerName": "pg-primary-pg18"})
    restored = run.one(CNPG_CLUSTER, "restore-cluster").inputs["spec"]
    assert restored["externalClusters"][0]["plugin"]["parameters"]["serverName"] == "pg-primary-pg18"


def _refused(stack: str, overrides: dict[str, Any], deployed: dict[str, Any], **kwargs: Any) -> tuple[str, list[str]]:
    with pytest.raises(RunError) as raised:
        run_stack(stack, overrides, deployed_outputs=deployed, **kwargs)
    return str(raised.value), [r.name for r in raised.value.registrations]  # type: ignore[attr-defined]


def test_a_downgrade_is_refused_before_the_namespace_cluster_or_backup() -> None:
    message, registered = _refused("prod", {}, {**LIVE_18, "postgresMajorVersion": 19})
    assert "\n" not in message
    assert message.startswith("postgres.image: PostgreSQL 18, but this stack runs PostgreSQL 19; pg_upgrade goes one way")
    assert "recover the archive folder the cluster used before the upgrade (its last backup, 'pg-primary-before-pg19'" in message
    assert "Major-version upgrade" in message
    assert "database-namespace" not in registered and "database-cluster" not in registered
    assert not [name for name in registered if "before-pg" in name]


def test_an_upgrade_to_a_major_cnpg_does_not_upgrade_to_is_refused() -> None:
    image_15 = "ghcr.io/cloudnative-pg/postgresql:15.14-202608170814-standard-trixie@sha256:" + "5" * 64
    overrides = {P + "postgres": _section("prod", "postgres", image=image_15)}
    message, registered = _refused("prod", overrides, {**LIVE_18, "postgresMajorVersion": 14})
    assert "CloudNativePG upgrades in place only to PostgreSQL 16 or later" in message
    assert "database-cluster" not in registered


def test_an_acknowledged_replacement_is_a_new_cluster_at_any_major() -> None:
    overrides = {P + "postgres": _section("dev", "postgres", clusterName="pg-main"), P + "allowDatabaseReplacement": True}
    run = run_stack("dev", overrides, deployed_outputs={**LIVE_18, "postgresMajorVersion": 19})
    assert _server_name(run) == "pg-main"
    assert not _upgrade_backups(run)


def test_an_upgrade_during_a_restore_is_refused() -> None:
    overrides = {
        P + "postgres": _section("prod", "postgres", image=IMAGE_19),
        P + "restore": {"enabled": True, "clusterName": "pg-restored"},
    }
    message, registered = _refused("prod", overrides, LIVE_18)
    assert "and restore.enabled: the restore cluster recovers from the folder the cluster archives to" in message
    assert "database-cluster" not in registered and not [name for name in registered if "-pg19" in name]


def test_a_split_major_pair_is_refused_with_the_order_to_upgrade_a_pair(prod: StackRun) -> None:
    message, registered = _refusal("dr", _dr_section(), _outputs(prod, postgresMajorVersion=17))
    assert "postgres.image: PostgreSQL 18, but the peer runs PostgreSQL 17" in message
    assert PAIR_UPGRADE_ORDER in message
    assert "database-cluster" not in registered and "database-namespace" not in registered


def test_the_pair_order_is_given_to_a_paired_stack_changing_its_major(prod: StackRun) -> None:
    # Same major as the peer (both on 19 in the settings), but the stack itself runs 18: an in-place upgrade in a pair.
    overrides = {P + "postgres": _section("dr", "postgres", image=IMAGE_19)}
    message, registered = _refused("dr", overrides, LIVE_18, referenced=_outputs(prod, postgresMajorVersion=19))
    assert message.startswith("postgres.image: PostgreSQL 19, but this stack runs PostgreSQL 18 in a disaster-recovery pair")
    assert PAIR_UPGRADE_ORDER in message and "\n" not in message
    assert "database-cluster" not in registered and not [name for name in registered if "before-pg" in name]
