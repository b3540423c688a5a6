"""One archive per cluster: no cluster's workload identity can reach another cluster's backups.

A cluster's identity is the user-assigned identity whose federated credentials trust its service
accounts; the namespaces of those accounts are where the pods that can use it run. A blob data role
on a container lets all of them read (or write) that archive, and base backups and WAL hold every
row of the database. So a container must be reachable from one namespace only, an identity holding a
blob data role must be trusted from one namespace only, and no workload identity holds a role on a
whole storage account (or wider), which reaches every cluster's container. A disaster-recovery replica
reads its peer stack's container, a scope this stack does not create: reading is what it needs,
writing there could damage the peer's backups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from .common import depends_on_type, depends_through, label, of_type, plain, stack_policy, text
from .identity import (
    ACCOUNT_KEY_ROLES,
    BLOB_DATA_READER,
    BLOB_DATA_ROLES,
    BROAD_SCOPES,
    granted_to,
    role_guid,
    trusted_by,
)
from .resource_types import (
    BLOB_CONTAINER,
    FEDERATED_IDENTITY_CREDENTIAL,
    RESOURCE_GROUP,
    ROLE_ASSIGNMENT,
    STORAGE_ACCOUNT,
    USER_ASSIGNED_IDENTITY,
)

SERVICE_ACCOUNT_SUBJECT = re.compile(r"system:serviceaccount:([^:]+):[^:]+")

# Scopes that cover every container of a storage account, as ARM resource IDs.
_ARCHIVE_WIDE_SCOPES = (
    *BROAD_SCOPES,
    (re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/*$", re.IGNORECASE), "a whole resource group"),
    (
        re.compile(
            r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Storage/storageAccounts/[^/]+"
            r"(/blobServices/[^/]+)?/*$",
            re.IGNORECASE,
        ),
        "a whole storage account",
    ),
)

Props = Mapping[str, dict[str, Any]]


@dataclass(frozen=True)
class _Archive:
    """A container a role assignment reaches: one of this stack's, or another stack's scope string."""

    key: str
    described: str
    urn: str | None  # where a violation about it is reported; None for another stack's container
    foreign: bool


def _quoted(namespaces: Iterable[str]) -> str:
    return ", ".join(f"'{namespace}'" for namespace in sorted(namespaces)) or "none known"


def _identity_label(identity: PolicyResource, props: Props) -> str:
    name = text(props[identity.urn].get("resourceName")) or text(props[identity.urn].get("name"))
    return label(identity.resource_type, identity.name) + (f" ({name})" if name else "")


def _trusted_namespaces(identity: PolicyResource, credentials: list[PolicyResource], props: Props) -> frozenset[str] | None:
    """The namespaces whose service accounts may use ``identity``; None when no credential trusts anyone with it.

    A subject not known yet, or not a service account (cnpg-federated-credentials refuses those), names none.
    """
    trusting = [credential for credential in credentials if trusted_by(credential, identity, props)]
    if not trusting:
        return None
    subjects = (text(props[credential.urn].get("subject")) or "" for credential in trusting)
    return frozenset(match.group(1) for subject in subjects if (match := SERVICE_ACCOUNT_SUBJECT.fullmatch(subject)))


def _names_container(scope: str, container: dict[str, Any]) -> bool:
    """Whether a known scope is this container's ARM ID: its ``id`` output when known, else account and name."""
    own_id = text(container.get("id"))
    if own_id is not None:
        return own_id.rstrip("/").lower() == scope.rstrip("/").lower()
    account, name = text(container.get("accountName")), text(container.get("containerName")) or text(container.get("name"))
    suffix = f"/providers/microsoft.storage/storageaccounts/{account}/blobservices/default/containers/{name}"
    return bool(account and name) and scope.rstrip("/").lower().endswith(suffix.lower())


def _reach(assignment: PolicyResource, props: Props, containers: list[PolicyResource]) -> _Archive | str | None:
    """What an assignment's scope reaches: one archive, how wide a wider scope is, or None while not known."""
    scope = text(props[assignment.urn].get("scope"))
    if scope is not None:
        for pattern, breadth in _ARCHIVE_WIDE_SCOPES:
            if pattern.match(scope.strip()):
                return breadth
    for container in containers:
        named = scope is not None and _names_container(scope, props[container.urn])
        if named or depends_through(assignment, "scope", container):
            own = props[container.urn]
            name, account = text(own.get("containerName")) or text(own.get("name")), text(own.get("accountName"))
            described = f"{label(container.resource_type, container.name)} ('{name}' in account '{account}')"
            return _Archive(container.urn, described, container.urn, foreign=False)
    if depends_on_type(assignment, "scope", STORAGE_ACCOUNT):
        return "a whole storage account of this stack (the scope comes from it)"
    if depends_on_type(assignment, "scope", RESOURCE_GROUP):
        return "a whole resource group of this stack (the scope comes from it)"
    if scope is None:
        return None  # computed from something else in this stack: the deployment's analysis sees the value
    return _Archive(scope.rstrip("/").lower(), f"container '{scope}' (not created in this stack)", None, foreign=True)


def _validate_archive_isolation(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    props = {resource.urn: plain(resource.props) for resource in args.resources}
    credentials = of_type(args.resources, FEDERATED_IDENTITY_CREDENTIAL)
    containers = of_type(args.resources, BLOB_CONTAINER)
    trusted = {
        identity.urn: (identity, namespaces)
        for identity in of_type(args.resources, USER_ASSIGNED_IDENTITY)
        if (namespaces := _trusted_namespaces(identity, credentials, props)) is not None
    }
    holdings: dict[str, list[str]] = {urn: [] for urn in trusted}
    grants: dict[str, tuple[_Archive, list[tuple[PolicyResource, PolicyResource]]]] = {}
    for assignment in of_type(args.resources, ROLE_ASSIGNMENT):
        role = role_guid(props[assignment.urn].get("roleDefinitionId"))
        role_name = BLOB_DATA_ROLES.get(role) or ACCOUNT_KEY_ROLES.get(role)
        holders = [identity for identity, _ in trusted.values() if granted_to(assignment, identity, props)]
        if role_name is None or not holders:
            continue
        where = label(assignment.resource_type, assignment.name)
        who = ", ".join(_identity_label(holder, props) for holder in holders)
        for holder in holders:
            holdings[holder.urn].append(f"{role_name} ({where})")
        reach = _reach(assignment, props, containers)
        if role in ACCOUNT_KEY_ROLES:
            report_violation(
                f"{where} grants {role_name} to workload identity {who}: the account keys it reaches open every "
                "container of the account, so every cluster's backups. Grant Storage Blob Data Contributor on the "
                "cluster's own BlobContainer instead.",
                assignment.urn,
            )
        elif isinstance(reach, str):
            scope = text(props[assignment.urn].get("scope"))
            report_violation(
                f"{where} grants {role_name} to workload identity {who} on "
                f"{repr(scope) if scope else 'a scope not known yet'}, which covers {reach}: that reaches every "
                "container in it, so every cluster's backups. Grant it on the cluster's own BlobContainer.",
                assignment.urn,
            )
        elif reach is not None and reach.foreign and role != BLOB_DATA_READER:
            report_violation(
                f"{where} grants {role_name} on {reach.described} to workload identity {who}: another stack's archive "
                f"may only be read (a disaster-recovery replica reads its peer's); grant {BLOB_DATA_ROLES[BLOB_DATA_READER]}.",
                assignment.urn,
            )
        elif reach is not None:
            grants.setdefault(reach.key, (reach, []))[1].extend((holder, assignment) for holder in holders)
    for identity, namespaces in trusted.values():
        if len(namespaces) > 1 and holdings[identity.urn]:
            report_violation(
                f"{_identity_label(identity, props)} is trusted by service accounts in namespaces "
                f"{_quoted(namespaces)} and holds {'; '.join(holdings[identity.urn])}: a pod in one "
                "namespace can then read the archive of another namespace's cluster. Give each cluster its own "
                "identity, trusted only by its own namespace's service accounts (the Cluster's and its restore drill's).",
                identity.urn,
            )
    for archive, reached in grants.values():
        identities = {holder.urn for holder, _ in reached}
        namespaces = frozenset().union(*(trusted[urn][1] for urn in identities))
        if len(identities) > 1 and len(namespaces) > 1:
            through = "; ".join(
                f"{_identity_label(holder, props)}, trusted from {_quoted(trusted[holder.urn][1])}, by "
                f"{label(assignment.resource_type, assignment.name)}"
                for holder, assignment in reached
            )
            report_violation(
                f"{archive.described} is reachable from namespaces {_quoted(namespaces)} through "
                f"{through}: one cluster's identity can read another cluster's archive. Give every cluster its own "
                "BlobContainer and grant each identity blob data roles on its own container only.",
                archive.urn or reached[0][1].urn,
            )


ARCHIVE_ISOLATION_POLICIES = [
    stack_policy(
        "cluster-archive-isolation",
        "No cluster identity can reach another cluster's archive: a backup container is reachable from one "
        "namespace, a workload identity's blob data roles cover single containers (another stack's: read only).",
        _validate_archive_isolation,
    ),
]
