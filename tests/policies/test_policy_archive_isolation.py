"""cluster-archive-isolation: no cluster's workload identity can reach another cluster's backup container."""

from __future__ import annotations

import dataclasses

import pytest
from google.protobuf import json_format, struct_pb2

from offline.engine import run_stack
from offline.policy_client import PolicyPackSession

from .baseline import BLOB_DATA_CONTRIBUTOR, GROUP, ISSUER, NAMESPACE, STORAGE_ACCOUNT_ID, SUBSCRIPTION, compliant_stack
from .expectations import Analyze, flagged, only, passes
from .synthetic import UNKNOWN, Resource, SyntheticStack

POLICY = "cluster-archive-isolation"
# From Microsoft's built-in roles reference, not from the pack (a wrong GUID in both would pass unseen).
ROLES = f"{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions"
BLOB_DATA_READER = f"{ROLES}/2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
STORAGE_ACCOUNT_CONTRIBUTOR = f"{ROLES}/17d1049b-9a84-46fb-8f53-869881c3d3ab"
PEER_CONTAINER = (
    f"{SUBSCRIPTION}/resourceGroups/rg-cnpg-peer/providers/Microsoft.Storage/storageAccounts/cnpgpeer"
    "/blobServices/default/containers/backups"
)
OTHER_NAMESPACE = "cnpg-orders"
WRITER = "backup-writer"
WORKLOAD = "workload-identity"


def _identity(name: str, resource_name: str) -> Resource:
    return Resource(
        "azure-native:managedidentity:UserAssignedIdentity",
        name,
        {"resourceGroupName": "rg-cnpg", "resourceName": resource_name},
        sources={"resourceGroupName": ["rg"]},
    )


def _credential(name: str, identity: str, resource_name: str, namespace: str) -> Resource:
    return Resource(
        "azure-native:managedidentity:FederatedIdentityCredential",
        name,
        {
            "resourceGroupName": "rg-cnpg",
            "resourceName": resource_name,
            "subject": f"system:serviceaccount:{namespace}:pg-orders",
            "audiences": ["api://AzureADTokenExchange"],
            "issuer": ISSUER,
        },
        sources={"resourceName": [identity], "issuer": ["aks"]},
    )


def _assignment(name: str, identity: str, scope: str, role: str, scope_from: str | None = None) -> Resource:
    return Resource(
        "azure-native:authorization:RoleAssignment",
        name,
        {"scope": scope, "principalId": UNKNOWN, "principalType": "ServicePrincipal", "roleDefinitionId": role},
        sources={"principalId": [identity], **({"scope": [scope_from]} if scope_from else {})},
    )


def _second_cluster_identity(namespace: str) -> SyntheticStack:
    """The baseline plus another cluster's identity, trusted from ``namespace``, writing to the baseline's container."""
    return compliant_stack().plus(
        _identity("orders-identity", "mi-orders"),
        _credential("orders-credential", "orders-identity", "mi-orders", namespace),
        _assignment(
            "orders-writer",
            "orders-identity",
            f"{STORAGE_ACCOUNT_ID}/blobServices/default/containers/backups",
            BLOB_DATA_CONTRIBUTOR,
            scope_from="backup-container",
        ),
    )


def test_reading_the_peer_stacks_container_is_accepted(analyze: Analyze) -> None:
    stack = compliant_stack().plus(_assignment("peer-reader", WORKLOAD, PEER_CONTAINER, BLOB_DATA_READER))
    assert analyze(stack).violations == ()


def test_writing_the_peer_stacks_container_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().plus(_assignment("peer-writer", WORKLOAD, PEER_CONTAINER, BLOB_DATA_CONTRIBUTOR))
    message = only(analyze(stack), POLICY, stack.urn("peer-writer")).message
    assert "Storage Blob Data Contributor" in message and PEER_CONTAINER in message and "not created in this stack" in message


@pytest.mark.parametrize(
    ("scope", "breadth"),
    [
        (STORAGE_ACCOUNT_ID, "a whole storage account"),
        (f"{STORAGE_ACCOUNT_ID}/blobServices/default/", "a whole storage account"),
        (GROUP, "a whole resource group"),
        (SUBSCRIPTION, "a whole subscription"),  # role-assignment-scope refuses it too
    ],
)
def test_a_blob_data_role_wider_than_a_container_is_refused(analyze: Analyze, scope: str, breadth: str) -> None:
    # Even reading: every cluster's container is in that scope.
    stack = (
        compliant_stack()
        .with_value(WRITER, "scope", scope)
        .with_value(WRITER, "roleDefinitionId", BLOB_DATA_READER)
        .with_sources(WRITER, {"principalId": [WORKLOAD]})
    )
    message = flagged(analyze(stack), POLICY, stack.urn(WRITER)).message
    assert breadth in message and "workload identity UserAssignedIdentity 'workload-identity' (mi-db)" in message


@pytest.mark.parametrize("source", ["storage-account", "rg"])
def test_a_scope_taken_from_the_account_or_group_is_refused_in_preview(analyze: Analyze, source: str) -> None:
    # The first preview knows neither the scope nor the principal, only where they come from.
    stack = (
        compliant_stack()
        .with_value(WRITER, "scope", UNKNOWN)
        .with_value(WRITER, "principalId", UNKNOWN)
        .with_sources(WRITER, {"scope": [source], "principalId": [WORKLOAD]})
    )
    message = flagged(analyze(stack), POLICY, stack.urn(WRITER)).message
    assert "a scope not known yet, which covers a whole" in message


def test_a_grant_is_tied_to_its_identity_by_principal_id_when_no_dependency_was_recorded(analyze: Analyze) -> None:
    # After a deployment the identity's principalId output is known; the assignment names it literally.
    stack = (
        compliant_stack()
        .with_value(WORKLOAD, "principalId", "principal-db")
        .with_value(WRITER, "scope", STORAGE_ACCOUNT_ID)
        .with_sources(WRITER, {})
    )
    only(analyze(stack), POLICY, stack.urn(WRITER))
    unrelated = stack.with_value(WRITER, "principalId", "principal-of-someone-else")
    passes(analyze(unrelated), POLICY)


def test_an_unknown_scope_from_outside_storage_is_left_to_the_deployment(analyze: Analyze) -> None:
    stack = compliant_stack().with_value(WRITER, "scope", UNKNOWN).with_sources(WRITER, {"principalId": [WORKLOAD]})
    passes(analyze(stack), POLICY)


def test_an_account_key_role_is_refused_even_on_the_container(analyze: Analyze) -> None:
    stack = compliant_stack().with_value(WRITER, "roleDefinitionId", STORAGE_ACCOUNT_CONTRIBUTOR)
    report = analyze(stack)
    assert "account keys" in flagged(report, POLICY, stack.urn(WRITER)).message
    flagged(report, "role-assignment-no-privileged-role", stack.urn(WRITER))


def test_an_identity_trusted_from_two_namespaces_with_a_blob_role_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().plus(_credential("orders-credential", WORKLOAD, "mi-db", OTHER_NAMESPACE))
    report = analyze(stack)
    message = flagged(report, POLICY, stack.urn(WORKLOAD)).message
    assert f"'{NAMESPACE}', '{OTHER_NAMESPACE}'" in message and f"RoleAssignment '{WRITER}'" in message
    flagged(report, "cnpg-federated-credentials", stack.urn("orders-credential"))  # no Cluster runs as that account
    # Without a blob data role the identity reaches no archive.
    passes(analyze(stack.without(WRITER)), POLICY)


def test_a_container_reachable_from_two_namespaces_is_refused(analyze: Analyze) -> None:
    stack = _second_cluster_identity(OTHER_NAMESPACE)
    message = flagged(analyze(stack), POLICY, stack.urn("backup-container")).message
    assert "'backups' in account 'cnpgbackups'" in message
    assert f"'{NAMESPACE}', '{OTHER_NAMESPACE}'" in message
    assert "(mi-db)" in message and "(mi-orders)" in message


def test_two_identities_of_one_namespace_may_share_its_container(analyze: Analyze) -> None:
    passes(analyze(_second_cluster_identity(NAMESPACE)), POLICY)


def test_a_peer_container_read_from_two_namespaces_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().plus(
        _assignment("peer-reader", WORKLOAD, PEER_CONTAINER, BLOB_DATA_READER),
        _identity("orders-identity", "mi-orders"),
        _credential("orders-credential", "orders-identity", "mi-orders", OTHER_NAMESPACE),
        _assignment("orders-peer-reader", "orders-identity", PEER_CONTAINER.upper(), BLOB_DATA_READER),
    )
    message = flagged(analyze(stack), POLICY, stack.urn("peer-reader")).message
    assert PEER_CONTAINER in message and "orders-peer-reader" in message


def test_the_dr_replicas_writer_role_on_its_peers_container_is_refused(policy_pack: PolicyPackSession) -> None:
    # The shipped dr render grants its identity Storage Blob Data Reader on prod's container (from the
    # StackReference); the pack tells that grant from the dr's own container and refuses more than reading.
    run = run_stack("dr")
    (reader,) = [r for r in run.registrations if r.name == "peer-stack-reader"]
    raw = json_format.MessageToDict(reader.raw_inputs)
    raw["roleDefinitionId"] = raw["roleDefinitionId"].replace("2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", BLOB_DATA_CONTRIBUTOR[-36:])
    struct = struct_pb2.Struct()
    struct.update(raw)
    writer = dataclasses.replace(reader, raw_inputs=struct, inputs={**reader.inputs, "roleDefinitionId": raw["roleDefinitionId"]})
    assert not policy_pack.analyze(run.registrations, "dr").of_policy(POLICY)
    report = policy_pack.analyze([writer if r.urn == reader.urn else r for r in run.registrations], "dr")
    assert [v.urn for v in report.of_policy(POLICY)] == [reader.urn], report.describe()
