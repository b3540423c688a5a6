"""Every weakening of what the program ships is a mandatory violation in every stack whose environment
is prod, whatever the stack is called (issue 17, findings B6/B7/B10).

Each case takes the real registered inputs of the prod render, changes one thing and expects the
policy that guards it to refuse the change as mandatory; the unmutated render passes. Each case runs
twice: as stack ``prod`` and as ``staging``, a copy of the prod stack file under another name, which
gets the prod policies because its environment is prod.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2

from offline.engine import Registration, StackRun, run_stack, stack_config
from offline.policy_client import EnforcementLevel, PolicyPackSession, load_policy_config

Inputs = dict[str, Any]
Mutation = Callable[[Inputs], None]

POOLER = "kubernetes:postgresql.cnpg.io/v1:Pooler"
CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
SCHEDULED_BACKUP = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
RELEASE = "kubernetes:helm.sh/v3:Release"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
GRAFANA = "azure-native:dashboard:Grafana"

INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal"
# From Microsoft's built-in roles reference, not from the pack (a wrong GUID in both would pass unseen).
ROLE_IDS = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
}
WHOLE_VNET = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v"  # no /subnets/
STACKS = ("prod", "staging")  # staging: the prod stack file under another name


@pytest.fixture(scope="module")
def prod_settings() -> dict[str, Any]:
    return stack_config("prod")


@pytest.fixture(scope="module")
def runs(prod: StackRun, prod_settings: dict[str, Any]) -> dict[str, StackRun]:
    return {"prod": prod, "staging": run_stack("staging", config=prod_settings)}


@pytest.fixture(scope="module")
def sessions(prod_settings: dict[str, Any]) -> Iterator[dict[str, PolicyPackSession]]:
    """One pack per stack, started as the CLI starts it for that stack (its settings in PULUMI_CONFIG)."""
    with (
        PolicyPackSession(stack="prod", stack_config=prod_settings) as prod,
        PolicyPackSession(stack="staging", stack_config=prod_settings) as staging,
    ):
        yield {"prod": prod, "staging": staging}


def _pooler_rw(r: Registration) -> bool:
    return r.type == POOLER and r.inputs["spec"]["type"] == "rw"


def _named(resource_type: str, name: str) -> Callable[[Registration], bool]:
    return lambda r: r.type == resource_type and r.inputs.get("metadata", {}).get("name") == name


def _of_type(resource_type: str, logical_suffix: str = "") -> Callable[[Registration], bool]:
    return lambda r: r.type == resource_type and r.name.endswith(logical_suffix)


def _set(path: str, value: Any) -> Mutation:
    """Sets a dotted path (``[key.with.dots]`` as one step) in the inputs, creating mappings on the way."""

    def mutate(inputs: Inputs) -> None:
        *parents, last = _steps(path)
        container = inputs
        for step in parents:
            container = container.setdefault(step, {})
        container[last] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(inputs: Inputs) -> None:
        *parents, last = _steps(path)
        container = inputs
        for step in parents:
            container = container[step]
        del container[last]

    return mutate


def _steps(path: str) -> list[str]:
    """``a.b[c.d]`` -> ``["a", "b", "c.d"]``."""
    return [bracketed or plain for bracketed, plain in re.findall(r"\[([^\]]+)\]|([^.\[\]]+)", path)]


def _both(*mutations: Mutation) -> Mutation:
    def mutate(inputs: Inputs) -> None:
        for mutation in mutations:
            mutation(inputs)

    return mutate


def _prepend_hba(line: str, path: tuple[str, ...]) -> Mutation:
    def mutate(inputs: Inputs) -> None:
        container = inputs
        for step in path[:-1]:
            container = container[step]
        container[path[-1]] = [line, *container[path[-1]]]

    return mutate


def _scope_in_group(suffix: str) -> Mutation:
    """The scope moved up to the assignment's resource group, plus ``suffix`` (a resource in that group)."""

    def mutate(inputs: Inputs) -> None:
        inputs["scope"] = inputs["scope"].split("/providers/", 1)[0] + suffix

    return mutate


def _role(name: str) -> Mutation:
    def mutate(inputs: Inputs) -> None:
        inputs["roleDefinitionId"] = inputs["roleDefinitionId"].rsplit("/", 1)[0] + "/" + ROLE_IDS[name]

    return mutate


# (selects the one registration to change, change, the policy that must refuse it)
CASES: dict[str, tuple[Callable[[Registration], bool], Mutation, str]] = {
    # Pooler load balancers and PgBouncer
    "pooler LB open to 0.0.0.0/0": (
        _pooler_rw,
        _set("spec.serviceTemplate.spec.loadBalancerSourceRanges", ["0.0.0.0/0"]),
        "load-balancer-source-ranges",
    ),
    "pooler LB public": (
        _pooler_rw,
        _delete(f"spec.serviceTemplate.metadata.annotations[{INTERNAL}]"),
        "pooler-load-balancer-internal",
    ),
    "pooler LB public without source ranges": (
        _pooler_rw,
        _both(
            _delete(f"spec.serviceTemplate.metadata.annotations[{INTERNAL}]"),
            _delete("spec.serviceTemplate.spec.loadBalancerSourceRanges"),
        ),
        "load-balancer-source-ranges",
    ),
    "pooler client TLS prefer": (_pooler_rw, _set("spec.pgbouncer.parameters.client_tls_sslmode", "prefer"), "cnpg-pooler-tls"),
    "pooler client TLS unset": (_pooler_rw, _delete("spec.pgbouncer.parameters.client_tls_sslmode"), "cnpg-pooler-tls"),
    "pooler server TLS require": (_pooler_rw, _set("spec.pgbouncer.parameters.server_tls_sslmode", "require"), "cnpg-pooler-tls"),
    "pooler pg_hba unset": (_pooler_rw, _delete("spec.pgbouncer.pg_hba"), "cnpg-pooler-tls"),
    "pooler pg_hba md5": (
        _pooler_rw,
        _prepend_hba("hostssl all all 0.0.0.0/0 md5", ("spec", "pgbouncer", "pg_hba")),
        "cnpg-pooler-tls",
    ),
    "pooler pg_hba non-TLS": (
        _pooler_rw,
        _prepend_hba("host all all 0.0.0.0/0 scram-sha-256", ("spec", "pgbouncer", "pg_hba")),
        "cnpg-pooler-tls",
    ),
    # PostgreSQL parameters and pg_hba
    "password_encryption md5": (
        _of_type(CLUSTER),
        _set("spec.postgresql.parameters.password_encryption", "md5"),
        "cnpg-safe-parameters",
    ),
    "ssl_min_protocol_version TLSv1.2": (
        _of_type(CLUSTER),
        _set("spec.postgresql.parameters.ssl_min_protocol_version", "TLSv1.2"),
        "cnpg-safe-parameters",
    ),
    "ssl_min_protocol_version tlsv1 (lower case)": (
        _of_type(CLUSTER),
        _set("spec.postgresql.parameters.ssl_min_protocol_version", "tlsv1"),
        "cnpg-safe-parameters",
    ),
    "log_statement all": (_of_type(CLUSTER), _set("spec.postgresql.parameters.log_statement", "all"), "cnpg-safe-parameters"),
    "log_statement mod": (_of_type(CLUSTER), _set("spec.postgresql.parameters.log_statement", "mod"), "cnpg-safe-parameters"),
    "log_min_duration_statement 0": (
        _of_type(CLUSTER),
        _set("spec.postgresql.parameters.log_min_duration_statement", "0"),
        "cnpg-safe-parameters",
    ),
    "log_min_duration_statement 0 as a number": (
        _of_type(CLUSTER),
        _set("spec.postgresql.parameters.log_min_duration_statement", 0),
        "cnpg-safe-parameters",
    ),
    "log_parameter_max_length_on_error -1": (
        _of_type(CLUSTER),
        _set("spec.postgresql.parameters.log_parameter_max_length_on_error", "-1"),
        "cnpg-safe-parameters",
    ),
    "pg_hba trust": (
        _of_type(CLUSTER),
        _prepend_hba("hostssl all all 10.0.0.0/8 trust", ("spec", "postgresql", "pg_hba")),
        "cnpg-pg-hba-tls-scram",
    ),
    "pg_hba non-TLS": (
        _of_type(CLUSTER),
        _prepend_hba("host all all 10.0.0.0/8 scram-sha-256", ("spec", "postgresql", "pg_hba")),
        "cnpg-pg-hba-tls-scram",
    ),
    "superuser access": (_of_type(CLUSTER), _set("spec.enableSuperuserAccess", True), "cnpg-no-superuser-access"),
    # NetworkPolicies and the engine that enforces them
    "NetworkPolicy rule {}": (
        _named(NETWORK_POLICY, "allow-pooler-clients"),
        _set("spec.ingress", [{}]),
        "network-policy-no-allow-all",
    ),
    "NetworkPolicy empty peer": (
        _named(NETWORK_POLICY, "allow-operator"),
        _set("spec.ingress", [{"from": [{}], "ports": [{"port": 5432, "protocol": "TCP"}]}]),
        "network-policy-no-allow-all",
    ),
    "NetworkPolicy every namespace": (
        _named(NETWORK_POLICY, "allow-operator"),
        _set("spec.ingress", [{"from": [{"namespaceSelector": {}}]}]),
        "network-policy-no-allow-all",
    ),
    "NetworkPolicy 0.0.0.0/0": (
        _named(NETWORK_POLICY, "allow-pooler-clients"),
        _set("spec.ingress", [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]),
        "network-policy-no-allow-all",
    ),
    "AKS NetworkPolicy engine none": (
        _of_type(MANAGED_CLUSTER),
        _set("networkProfile.networkPolicy", "none"),
        "aks-network-policy-engine",
    ),
    "AKS NetworkPolicy engine unset": (
        _of_type(MANAGED_CLUSTER),
        _delete("networkProfile.networkPolicy"),
        "aks-network-policy-engine",
    ),
    # Pod Security
    "database namespace enforces baseline": (
        _named(NAMESPACE, "cnpg-database"),
        _set("metadata.labels[pod-security.kubernetes.io/enforce]", "baseline"),
        "namespace-pod-security-restricted",
    ),
    "operator namespace warns at privileged": (
        _named(NAMESPACE, "cnpg-system"),
        _set("metadata.labels[pod-security.kubernetes.io/warn]", "privileged"),
        "namespace-pod-security-restricted",
    ),
    "monitoring namespace audits nothing": (
        _named(NAMESPACE, "monitoring"),
        _delete("metadata.labels[pod-security.kubernetes.io/audit]"),
        "namespace-pod-security-restricted",
    ),
    # Federated credentials
    "credential for another service account": (
        _of_type(CREDENTIAL, "-drill"),
        _set("subject", "system:serviceaccount:default:attacker"),
        "cnpg-federated-credentials",
    ),
    "credential for another audience": (
        _of_type(CREDENTIAL, "-drill"),
        _set("audiences", ["api://other"]),
        "cnpg-federated-credentials",
    ),
    # One archive per cluster (the scope keeps its dependency on the container: the value decides)
    "backup writer on the whole storage account": (
        _of_type(ROLE_ASSIGNMENT, "backup-storage-writer"),
        _scope_in_group("/providers/Microsoft.Storage/storageAccounts/cnpgpgbak"),
        "cluster-archive-isolation",
    ),
    "backup writer on the resource group": (
        _of_type(ROLE_ASSIGNMENT, "backup-storage-writer"),
        _scope_in_group(""),
        "cluster-archive-isolation",
    ),
    "drill credential trusted from another namespace": (
        _of_type(CREDENTIAL, "-drill"),
        _set("subject", "system:serviceaccount:cnpg-orders:pg-primary-drill"),
        "cluster-archive-isolation",
    ),
    # Privileged roles, at resource-group and resource scope
    "Owner on the resource group": (
        _of_type(ROLE_ASSIGNMENT, "control-plane-network"),
        _role("Owner"),
        "role-assignment-no-privileged-role",
    ),
    "Contributor on the resource group": (
        _of_type(ROLE_ASSIGNMENT, "control-plane-network"),
        _role("Contributor"),
        "role-assignment-no-privileged-role",
    ),
    "User Access Administrator on the resource group": (
        _of_type(ROLE_ASSIGNMENT, "deployer-aks-cluster-user"),
        _role("User Access Administrator"),
        "role-assignment-no-privileged-role",
    ),
    "RBAC Administrator on the cluster": (
        _of_type(ROLE_ASSIGNMENT, "admins-0-aks-cluster-user"),
        _role("Role Based Access Control Administrator"),
        "role-assignment-no-privileged-role",
    ),
    "Storage Blob Data Owner on the container": (
        _of_type(ROLE_ASSIGNMENT, "backup-storage-writer"),
        _role("Storage Blob Data Owner"),
        "role-assignment-no-privileged-role",
    ),
    # Storage
    "storage Deny with an ipRule 0.0.0.0/0": (
        _of_type(STORAGE_ACCOUNT),
        _both(
            _set("publicNetworkAccess", "Enabled"),
            _set("networkRuleSet", {"defaultAction": "Deny", "ipRules": [{"iPAddressOrRange": "0.0.0.0/0"}]}),
        ),
        "storage-network-deny-by-default",
    ),
    "storage Deny with a whole-VNet rule": (
        _of_type(STORAGE_ACCOUNT),
        _both(
            _set("publicNetworkAccess", "Enabled"),
            _set(
                "networkRuleSet",
                {
                    "defaultAction": "Deny",
                    "virtualNetworkRules": [{"virtualNetworkResourceId": WHOLE_VNET}],
                },
            ),
        ),
        "storage-network-deny-by-default",
    ),
    "storage public and Allow": (
        _of_type(STORAGE_ACCOUNT),
        _both(_set("publicNetworkAccess", "Enabled"), _set("networkRuleSet", {"defaultAction": "Allow"})),
        "storage-network-deny-by-default",
    ),
    "cross-tenant replication": (
        _of_type(STORAGE_ACCOUNT),
        _set("allowCrossTenantReplication", True),
        "storage-no-cross-tenant-replication",
    ),
    # Backups, Grafana
    "scheduled backup suspended": (_of_type(SCHEDULED_BACKUP), _set("spec.suspend", True), "cnpg-backups-configured"),
    "Grafana API keys": (_of_type(GRAFANA), _set("properties.apiKey", "Enabled"), "grafana-api-keys-disabled"),
    # Images
    "PostgreSQL image from another registry": (
        _of_type(CLUSTER),
        _set("spec.imageName", "docker.io/someone/postgresql:18.6-202608170814-standard-trixie"),
        "images-from-allowed-registries",
    ),
    "PgBouncer image from another registry": (
        _pooler_rw,
        _set("spec.template.spec.containers", [{"name": "pgbouncer", "image": "registry.example/pgbouncer:1.25.2"}]),
        "images-from-allowed-registries",
    ),
    "operator image from another registry": (
        _of_type(RELEASE, "operators-cnpg"),
        _set("values.image.repository", "registry.example/cloudnative-pg"),
        "images-from-allowed-registries",
    ),
    "Barman sidecar image from Docker Hub": (
        _of_type(RELEASE, "operators-barman-cloud"),
        _set("values.sidecarImage.repository", "someone/plugin-barman-cloud-sidecar"),
        "images-from-allowed-registries",
    ),
    "PostgreSQL image by tag only": (
        _of_type(CLUSTER),
        _set("spec.imageName", "ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-standard-trixie"),
        "images-pinned-by-digest",
    ),
    "PgBouncer image by tag only": (
        _pooler_rw,
        _set("spec.pgbouncer.image", "ghcr.io/cloudnative-pg/pgbouncer:1.25.2"),
        "images-pinned-by-digest",
    ),
    "operator image by tag only": (
        _of_type(RELEASE, "operators-cnpg"),
        _set("values.image.tag", "1.30.1"),
        "images-pinned-by-digest",
    ),
    "cert-manager digest dropped": (
        _of_type(RELEASE, "operators-cert-manager"),
        _set("values.webhook.image.digest", ""),
        "images-pinned-by-digest",
    ),
}


def mutated(run: StackRun, select: Callable[[Registration], bool], mutation: Mutation) -> tuple[list[Registration], str]:
    """The run's registrations with one changed (its raw inputs, secrets kept as sent), and that one's URN."""
    (target,) = [r for r in run.registrations if select(r)]
    raw = json_format.MessageToDict(target.raw_inputs)
    inputs = copy.deepcopy(target.inputs)
    before = copy.deepcopy(raw)
    mutation(raw)
    mutation(inputs)
    assert raw != before, "the mutation changed nothing"
    struct = struct_pb2.Struct()
    struct.update(raw)
    changed = dataclasses.replace(target, raw_inputs=struct, inputs=inputs)
    return [changed if r.urn == target.urn else r for r in run.registrations], target.urn


@pytest.mark.parametrize("stack", STACKS)
def test_the_prod_render_passes_in_a_prod_environment_whatever_its_name(
    stack: str, runs: dict[str, StackRun], sessions: dict[str, PolicyPackSession], prod_settings: dict[str, Any]
) -> None:
    report = sessions[stack].analyze(runs[stack].registrations, stack, stack_config=prod_settings)
    assert not report.mandatory_violations, report.describe(report.mandatory_violations)
    # The prod configuration applied, chosen by the environment.
    assert report.policy("policy-config-environment").config == {"environment": "prod"}
    assert report.policy("stateful-resources-protected").enforcement_level == EnforcementLevel.MANDATORY


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("stack", STACKS)
def test_each_weakening_is_a_mandatory_violation_in_a_prod_environment(
    stack: str, case: str, runs: dict[str, StackRun], sessions: dict[str, PolicyPackSession], prod_settings: dict[str, Any]
) -> None:
    select, mutation, policy = CASES[case]
    registrations, urn = mutated(runs[stack], select, mutation)
    # The unchanged resources pass (the test above): the resource policies run on the changed one only.
    report = sessions[stack].analyze(registrations, stack, stack_config=prod_settings, resource_urns={urn})
    found = [v for v in report.mandatory_violations if v.policy_name == policy]
    assert found, f"{case}: no mandatory {policy} violation:\n{report.describe()}"
    # Resource policies blame the changed resource; stack policies may blame the Cluster it serves.
    assert urn in {v.urn for v in found} or report.policy(policy).kind == "stack", report.describe(found)


def test_parameters_that_keep_what_the_program_ships_pass(
    runs: dict[str, StackRun], sessions: dict[str, PolicyPackSession], prod_settings: dict[str, Any]
) -> None:
    kept = {
        "password_encryption": "SCRAM-SHA-256",
        "ssl_min_protocol_version": "tlsv1.3",
        "log_statement": "none",
        "log_min_duration_statement": "250ms",
        "log_parameter_max_length_on_error": 0,
    }
    mutation = _both(*(_set(f"spec.postgresql.parameters.{name}", value) for name, value in kept.items()))
    registrations, _ = mutated(runs["prod"], _of_type(CLUSTER), mutation)
    report = sessions["prod"].analyze(registrations, "prod", stack_config=prod_settings)
    assert not report.mandatory_violations, report.describe()


def test_an_issuer_not_taken_from_the_cluster_is_refused(
    runs: dict[str, StackRun], sessions: dict[str, PolicyPackSession], prod_settings: dict[str, Any]
) -> None:
    # A program that writes its own issuer no longer takes it from the ManagedCluster's output.
    registrations, urn = mutated(
        runs["prod"], _of_type(CREDENTIAL, "-drill"), _set("issuer", "https://token.actions.githubusercontent.com")
    )
    registrations = [
        dataclasses.replace(r, property_dependencies={k: v for k, v in r.property_dependencies.items() if k != "issuer"})
        if r.urn == urn
        else r
        for r in registrations
    ]
    report = sessions["prod"].analyze(registrations, "prod", stack_config=prod_settings)
    assert urn in {v.urn for v in report.mandatory_violations if v.policy_name == "cnpg-federated-credentials"}, report.describe()


def test_an_extra_credential_is_refused(
    runs: dict[str, StackRun], sessions: dict[str, PolicyPackSession], prod_settings: dict[str, Any]
) -> None:
    (drill,) = [r for r in runs["prod"].registrations if _of_type(CREDENTIAL, "-drill")(r)]
    extra, _ = mutated(runs["prod"], _of_type(CREDENTIAL, "-drill"), _set("subject", "system:serviceaccount:cnpg-database:app"))
    added = dataclasses.replace(
        next(r for r in extra if r.urn == drill.urn), name="extra", urn=drill.urn.rsplit("::", 1)[0] + "::extra"
    )
    report = sessions["prod"].analyze([*runs["prod"].registrations, added], "prod", stack_config=prod_settings)
    assert [v.urn for v in report.mandatory_violations] == [added.urn], report.describe()


@pytest.mark.parametrize("stack", STACKS)
def test_the_dev_configuration_on_a_prod_environment_is_refused(
    stack: str, runs: dict[str, StackRun], sessions: dict[str, PolicyPackSession], prod_settings: dict[str, Any]
) -> None:
    dev_config = load_policy_config({**prod_settings, "aks-postgres-ha:environment": "dev"})
    for config in (dev_config, {}):  # the dev file, and a run without --policy-pack-config
        report = sessions[stack].analyze(runs[stack].registrations, stack, config, stack_config=prod_settings)
        violations = [v for v in report.mandatory_violations if v.policy_name == "policy-config-environment"]
        assert len(violations) == 1, report.describe()
        assert "policies/config.prod.json" in violations[0].message


def test_a_dev_stack_may_run_the_prod_configuration(policy_pack: PolicyPackSession, dev: StackRun) -> None:
    report = policy_pack.analyze(dev.registrations, "dev", load_policy_config(stack_config("prod")))
    assert not report.of_policy("policy-config-environment"), report.describe()
