"""Disaster-recovery settings: this stack runs a CNPG replica cluster that follows another stack's
primary from that stack's backup container, in another region.

What can be checked from this stack's config alone is checked in ``Settings``; what needs the
primary stack's outputs (its region, PostgreSQL major, name prefix) is checked by
``primary_problems`` at run time, before the replica cluster is registered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator

from settings.rules import SettingsModel

# The primary stack's outputs the replica needs (exported by __main__.py of every stack).
PRIMARY_OUTPUTS = (
    "location",
    "namePrefix",
    "postgresMajorVersion",
    "postgresClusterName",
    "backupContainerId",
    "backupDestinationPath",
    "backupServerName",
    "applicationPassword",
)
# The config key of this section (the offline engine reads primaryStack from it to answer the StackReference).
CONFIG_KEY = "disasterRecovery"
_QUALIFIED_STACK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/aks-postgres-ha/[A-Za-z0-9_.-]+")


def _qualified_stack(value: str) -> str:
    if not _QUALIFIED_STACK.fullmatch(value):
        raise ValueError(
            "must name the primary's stack fully qualified as <organization>/aks-postgres-ha/<stack> "
            "(the same program deploys both regions)"
        )
    return value


class DisasterRecoverySettings(SettingsModel):
    primary_stack: Annotated[str, AfterValidator(_qualified_stack)]
    """Required. The stack whose database this stack replicates: <organization>/aks-postgres-ha/<stack>."""
    promote: bool = False
    """true promotes the replica cluster to a primary (spec.replica.enabled: false). Only after the
    old primary is fenced or gone: two primaries would diverge (README 'Disaster recovery')."""

    @property
    def primary_stack_name(self) -> str:
        return self.primary_stack.rsplit("/", 1)[-1]


def primary_problems(
    primary: Mapping[str, Any],
    *,
    stack: str,
    dr: DisasterRecoverySettings,
    location: str,
    name_prefix: str,
    postgres_major: int,
) -> list[str]:
    """Why this stack cannot replicate the primary whose outputs are ``primary``, one line each."""
    key = f"disasterRecovery.primaryStack: {dr.primary_stack!r}"
    if dr.primary_stack_name == stack:
        return [f"{key} is this stack itself; a replica follows another stack's primary"]
    missing = [name for name in PRIMARY_OUTPUTS if primary.get(name) in (None, "")]
    if missing:
        return [
            f"{key} has no output {', '.join(missing)}: deploy the primary stack (pulumi up) with this "
            "program's version first, so it exports what its replica reads"
        ]
    problems = []
    if primary["location"] == location:
        problems.append(f"location: {location!r} is the primary's region too; a disaster-recovery stack runs in another region")
    if primary["namePrefix"] == name_prefix:
        problems.append(
            f"namePrefix: {name_prefix!r} is the primary's too; storage accounts and resource groups would collide, "
            "choose another prefix"
        )
    if int(primary["postgresMajorVersion"]) != postgres_major:
        problems.append(
            f"postgres.image: PostgreSQL {postgres_major}, but the primary runs PostgreSQL "
            f"{int(primary['postgresMajorVersion'])}; a replica replays the primary's WAL, so the major must be equal"
        )
    return problems
