"""PostgreSQL major-version upgrades: a change of ``postgres.image`` to a higher major.

CloudNativePG upgrades in place when a Cluster's ``imageCatalogRef.major`` is higher than its data's
(cloudnative-pg v1.30.0 docs/src/postgres_upgrades.md, internal/controller/cluster_image.go reconcileImage,
pkg/reconciler/majorupgrade): it stops every instance, runs
``pg_upgrade --link`` in a Job on the primary's volume, starts the primary on the new major and
re-clones the replicas. Its webhook (internal/webhook/v1/cluster_webhook.go validateImageChange)
refuses a lower major than the data's and an upgrade to a major below 16 (on ``imageCatalogRef.major``).

The program adds what upstream advises around it:

- a new archive folder: ``pg_upgrade`` starts a new system (new identifier, timeline 1), so the
  upgraded cluster archives under ``<cluster>-pg<major>`` and the old folder keeps the old major's
  backups and WAL for a rollback (the Barman Cloud plugin does not separate them itself:
  postgres_upgrades.md "Manual archive path separation with the Barman Cloud plugin");
- a backup first: an on-demand ``Backup`` named for the upgrade, which Pulumi awaits until it is
  completed before the Cluster gets the new image; a backup that fails stops the deployment there;
- a base backup in the new folder once the upgraded cluster is Ready (the pre-upgrade backups and WAL
  cannot recover to a point after the upgrade);
- the deployed major's image stays in the ImageCatalog until the Cluster moves to the new major: CNPG
  resolves the Cluster's major in the catalog on every reconciliation and stops reconciling it (no
  failover either) while the catalog lacks it, which the hours of the pre-upgrade backup must not risk.

The deployed major and folder are read back from the stack's own outputs, as the rename guard
reads the deployed names. A stack keeps the folder it archives to today until its next major change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.backups import backup_method
from settings import PostgresSettings
from settings.disaster_recovery import PAIR_UPGRADE_ORDER
from settings.rules import postgres_major

# Stack outputs (program/outputs.py) the next deployment reads back.
DEPLOYED_MAJOR_OUTPUT = "postgresMajorVersion"
DEPLOYED_SERVER_NAME_OUTPUT = "backupServerName"
DEPLOYED_IMAGE_OUTPUT = "postgresImage"
# cluster_webhook.go validateImageChange: "major upgrades are only supported to version 16 or higher".
MIN_UPGRADE_TARGET = 16
# A base backup of a large database takes hours; Pulumi fails the update when it is not completed by then.
PRE_UPGRADE_BACKUP_TIMEOUT_HOURS = 6
RUNBOOK = "README 'Major-version upgrade'"


def archive_folder(cluster_name: str, major: int) -> str:
    """The archive folder (the plugin's serverName) of a cluster upgraded to ``major``."""
    return f"{cluster_name}-pg{major}"


def pre_upgrade_backup_name(cluster_name: str, major: int) -> str:
    """The backup taken before the upgrade to ``major``, of the old major, in the old folder."""
    return f"{cluster_name}-before-pg{major}"


def first_backup_name(cluster_name: str, major: int) -> str:
    """The first base backup of the upgraded cluster, in its new folder (the old folder's cannot recover past the upgrade)."""
    return f"{cluster_name}-first-pg{major}"


@dataclass(frozen=True)
class ArchivePlan:
    """The folder the cluster archives to; ``upgrade_from``: the deployed major when this deployment upgrades it,
    and ``upgrade_from_image`` its image, when the stack recorded it (a stack deployed before the ImageCatalog did not,
    and its Cluster does not read the catalog yet)."""

    server_name: str
    upgrade_from: int | None = None
    upgrade_from_image: str | None = None


def _deployed_major(deployed: Mapping[str, Any]) -> int | None:
    value = deployed.get(DEPLOYED_MAJOR_OUTPUT)
    return None if value in (None, "") else int(value)


def major_refusal(
    deployed: Mapping[str, Any] | None, postgres: PostgresSettings, *, in_pair: bool, restoring: bool
) -> str | None:
    """Why the settings may not change the major this stack runs, or None (``restoring``: restore.enabled)."""
    running = _deployed_major(deployed or {})
    wanted = postgres.major_version
    if running is None or running == wanted:
        return None
    key = f"postgres.image: PostgreSQL {wanted}, but this stack runs PostgreSQL {running}"
    if wanted < running:
        return (
            f"{key}; pg_upgrade goes one way and CloudNativePG refuses a lower major. Keep PostgreSQL {running}; to go "
            "back, recover the archive folder the cluster used before the upgrade (its last backup, "
            f"{pre_upgrade_backup_name(postgres.cluster_name, running)!r}, and its WAL up to the upgrade) into a new "
            f"cluster at the old major ({RUNBOOK})."
        )
    if wanted < MIN_UPGRADE_TARGET:
        return f"{key}; CloudNativePG upgrades in place only to PostgreSQL {MIN_UPGRADE_TARGET} or later."
    if in_pair:
        return f"{key} in a disaster-recovery pair; {PAIR_UPGRADE_ORDER}"
    if restoring:
        return (
            f"{key}, and restore.enabled: the restore cluster recovers from the folder the cluster archives to, which "
            "the upgrade replaces with an empty one; finish the restore (restore.enabled: false) before the upgrade"
        )
    return None


def archive_plan(deployed: Mapping[str, Any] | None, postgres: PostgresSettings, *, same_cluster: bool) -> ArchivePlan:
    """The archive folder for this deployment (``same_cluster``: the deployed cluster is this one, not renamed).

    A first deployment, and a stack deployed before the folder was exported, archives under the
    cluster's name (as every stack did before); an unchanged major keeps the deployed folder; a
    higher major gets its own folder (major_refusal has refused every other change)."""
    deployed = deployed or {}
    running = _deployed_major(deployed)
    folder = deployed.get(DEPLOYED_SERVER_NAME_OUTPUT)
    if not same_cluster or running is None or not folder:
        return ArchivePlan(postgres.cluster_name)
    if running == postgres.major_version:
        return ArchivePlan(str(folder))
    image = deployed.get(DEPLOYED_IMAGE_OUTPUT)
    running_image = str(image) if image and postgres_major(str(image)) == running else None
    return ArchivePlan(
        archive_folder(postgres.cluster_name, postgres.major_version), upgrade_from=running, upgrade_from_image=running_image
    )


def catalog_images(plan: ArchivePlan, postgres: PostgresSettings) -> dict[int, str]:
    """The ImageCatalog's images (major -> image): ``postgres.image``, and while this deployment upgrades, the
    deployed major's image too (the Cluster runs it until the pre-upgrade backup completed)."""
    images = {postgres.major_version: postgres.image}
    if plan.upgrade_from is not None and plan.upgrade_from_image:
        images[plan.upgrade_from] = plan.upgrade_from_image
    return images


def upgrade_backup(
    resource_name: str,
    backup_name: str,
    postgres: PostgresSettings,
    *,
    awaited: bool,
    provider: pulumi.ProviderResource,
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource],
) -> k8s.apiextensions.CustomResource:
    """An on-demand Backup of the cluster into the folder it archives to at the time; ``awaited``: the
    create succeeds only once CNPG marks it completed (pulumi-kubernetes 4.x ``pulumi.com/waitFor``).
    One that times out stays in the state with an initialization error, which the engine turns into
    an update, awaited again, on every later deployment (pulumi/pulumi step_generator.go, hasInitErrors):
    the Cluster keeps waiting until a backup completed.

    Retained on delete: the next deployment no longer registers it, and Pulumi must not be what
    deletes it. (The plugin's catalog maintenance deletes the pre-upgrade one anyway once the cluster
    archives to the new folder: it drops every completed Backup object of the cluster that the current
    folder's catalog lacks, matching by cluster UID, not folder: plugin-barman-cloud v0.14.0
    internal/cnpgi/instance/retention.go deleteBackupsNotInCatalog. The backup itself stays in the old
    folder, which retention no longer touches: it prunes the current folder only.)"""
    metadata: dict[str, Any] = {"name": backup_name, "namespace": postgres.namespace}
    timeouts = None
    if awaited:
        metadata["annotations"] = {
            "pulumi.com/waitFor": "jsonpath={.status.phase}=completed",
            "pulumi.com/timeoutSeconds": str(PRE_UPGRADE_BACKUP_TIMEOUT_HOURS * 3600),
        }
        timeouts = pulumi.CustomTimeouts(create=f"{PRE_UPGRADE_BACKUP_TIMEOUT_HOURS}h")
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="postgresql.cnpg.io/v1",
        kind="Backup",
        metadata=metadata,
        spec={"cluster": {"name": postgres.cluster_name}, "target": "prefer-standby", **backup_method()},
        opts=pulumi.ResourceOptions(
            parent=parent,
            provider=provider,
            depends_on=depends_on,
            retain_on_delete=True,
            custom_timeouts=timeouts,
        ),
    )
