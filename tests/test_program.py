"""The whole program, run for dev and prod from the real Pulumi.<stack>.yaml files."""

from __future__ import annotations

import gc
import json
import re
from pathlib import Path

from google.protobuf import json_format

from offline.engine import StackRun, run_stack
from settings.disaster_recovery import CHECKED_WHEN_EXPORTED, PEER_OUTPUTS, REPLICA_OUTPUTS

SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"

EXPECTED_OUTPUTS = {
    *(f"pooled{role}{part}" for role in ("ReadWrite", "ReadOnly") for part in ("Host", "Port", "Uri")),
    "resourceGroupName",
    "aksClusterName",
    "oidcIssuerUrl",
    "workloadIdentityClientId",
    "backupStorageAccountName",
    "backupContainerUrl",
    "vnetId",
    "kubeconfig",
    "readWriteHost",
    "readWritePort",
    "readOnlyHost",
    "readOnlyPort",
    "cnpgServices",
    "databaseName",
    "databaseUser",
    "readWriteUri",
    "readOnlyUri",
    "caCertificateCommand",
    "inClusterGrafanaAdminPassword",
    "postgresNamespace",
    "postgresClusterName",
    "nodePoolVmSizes",
    "postgresStorage",
    "postgresImage",
    # What a disaster-recovery peer reads.
    *PEER_OUTPUTS,
    *CHECKED_WHEN_EXPORTED,
    *REPLICA_OUTPUTS,
}
# Only with a public endpoint (dev ships one; prod ships private, publicEndpoint.enabled: false).
PUBLIC_ENDPOINT_OUTPUTS = {"publicIpAddress", "publicFqdn"}


def test_stack_outputs(shipped: StackRun) -> None:
    expected = EXPECTED_OUTPUTS | ({"grafanaEndpoint"} if shipped.stack == "prod" else PUBLIC_ENDPOINT_OUTPUTS)
    # Every cluster's values by name, the one-cluster stack's too (plain), and its connection URIs (secret).
    expected |= {"clusters", "clusterConnectionUris"}
    assert set(shipped.outputs) == expected
    # The kubeconfig holds only the server, its CA and a kubelogin user: not a secret.
    assert shipped.secret_outputs == {
        "readWriteUri",
        "readOnlyUri",
        "pooledReadWriteUri",
        "pooledReadOnlyUri",
        "inClusterGrafanaAdminPassword",
        "applicationPassword",
        "clusterConnectionUris",
    }


def _plain_parts(value: object) -> list[str]:
    """Every string in an input tree outside secret-wrapped values."""
    if isinstance(value, dict):
        if SECRET_SIGNATURE in value:
            return []
        return [part for item in value.values() for part in _plain_parts(item)]
    if isinstance(value, list):
        return [part for item in value for part in _plain_parts(item)]
    return [value] if isinstance(value, str) else []


def test_no_secret_value_appears_in_plain_text(shipped: StackRun) -> None:
    """Generated passwords travel only inside secret-marked values."""
    uris = (shipped.outputs["readWriteUri"], shipped.outputs["readOnlyUri"])
    secrets = [shipped.outputs["inClusterGrafanaAdminPassword"]]
    secrets += [uri.split(":")[2].split("@")[0] for uri in uris]  # the app password
    for registration in shipped.registrations:
        for text in _plain_parts(json_format.MessageToDict(registration.raw_inputs)):
            assert not any(secret in text for secret in secrets), registration.name
    for name, value in shipped.outputs.items():
        if name not in shipped.secret_outputs:
            assert not any(secret in json.dumps(value) for secret in secrets), name


def test_component_tree_and_type_tokens(shipped: StackRun) -> None:
    components = [r for r in shipped.registrations if not r.custom and not r.remote]
    assert components and all(re.fullmatch(r"aks-postgres-ha:components:[A-Z][A-Za-z]+", r.type) for r in components)
    component_urns = {r.urn for r in components}
    for resource in shipped.registrations:
        if resource.custom:
            assert resource.parent in component_urns, f"{resource.name} is not inside a component"
    urns = [r.urn for r in shipped.registrations]
    assert len(urns) == len(set(urns))


def test_dependency_graph_is_acyclic_and_closed(shipped: StackRun) -> None:
    known = {r.urn for r in shipped.registrations} | set(shipped.reads)
    # A read resource (the StackReference) depends on nothing.
    edges: dict[str, list[str]] = {urn: [] for urn in shipped.reads}
    edges |= {r.urn: [d for d in r.dependencies if d in known] for r in shipped.registrations}
    for resource in shipped.registrations:
        assert set(resource.dependencies) <= known, resource.name
    state: dict[str, int] = {}

    def visit(urn: str) -> None:
        assert state.get(urn) != 1, f"cycle through {urn}"
        if state.get(urn) == 2:
            return
        state[urn] = 1
        for dependency in edges[urn]:
            visit(dependency)
        state[urn] = 2

    for urn in edges:
        visit(urn)


def test_nothing_in_cluster_before_the_cluster_exists(shipped: StackRun) -> None:
    provider = shipped.one("pulumi:providers:kubernetes")
    cluster = shipped.one("azure-native:containerservice:ManagedCluster")
    assert cluster.urn in provider.dependencies
    assert all(r.provider.startswith(provider.urn) for r in shipped.registrations if r.type.startswith("kubernetes:"))


def test_a_run_pauses_the_cyclic_collector_and_leaves_it_as_it_found_it(tmp_path: Path) -> None:
    program = tmp_path / "__main__.py"
    program.write_text("import gc\nimport pulumi\n\npulumi.export('collecting', gc.isenabled())\n")
    assert gc.isenabled()
    assert run_stack("dev", program=program).outputs == {"collecting": False}
    assert gc.isenabled()
    gc.disable()
    try:
        run_stack("dev", program=program)
        assert not gc.isenabled()  # a process that runs without the collector (the render) keeps it off
    finally:
        gc.enable()
