"""``--cluster NAME``: the drills against a platform stack (several CNPG clusters on one AKS) act on the cluster
named, reading its entries of the ``clusters`` and ``clusterConnectionUris`` outputs; without it a one-cluster stack
runs as before and a platform stack is refused, in one line naming its clusters.

``pulumi stack output --json --show-secrets`` is faked with the platform's outputs (program/outputs.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.drill.test_drill_command import OUTPUTS, STACK_SERVER, FakeKubectl, kubeconfig, replay_writer
from tests.drill.test_verify_command import FakeAz, Model, Network, model  # noqa: F401 (fixture)
from tests.drill.test_verify_command import FakeKubectl as VerifyKubectl
from tools.drill import __main__ as drill
from tools.drill import pulumi_cli
from tools.drill.cluster_outputs import cluster_outputs
from tools.drill.kube import Kubectl
from tools.drill.pulumi_cli import PulumiCli
from tools.drill.verify import Probes


def cluster_values(name: str, database: str, owner: str, pooled: bool) -> dict[str, Any]:
    """A cluster's entry of the ``clusters`` output (program/outputs.py _cluster_values), named by its key."""
    values: dict[str, Any] = {
        "workloadIdentityClientId": f"client-id-{name}",
        "backupContainerUrl": f"https://cnpgplatbak.blob.core.windows.net/{name}",
        "backupContainerId": f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/.../containers/{name}",
        "backupDestinationPath": f"https://cnpgplatbak.blob.core.windows.net/{name}/gen-1",
        "postgresNamespace": name,
        "postgresClusterName": name,
        "databaseName": database,
        "databaseUser": owner,
        "caCertificateCommand": f"kubectl get secret {name}-ca -n {name} -o jsonpath='{{.data.ca\\.crt}}' | base64 -d > ca.crt",
        "readWriteHost": f"{name}-rw.{name}.svc",
        "readWritePort": 5432,
        "readOnlyHost": f"{name}-ro.{name}.svc",
        "readOnlyPort": 5432,
        "cnpgServices": {"readWrite": f"{name}-rw", "readOnly": f"{name}-ro"},
    }
    if pooled:
        values |= {"pooledReadWriteHost": f"{name}-pooler-rw.{name}.svc", "pooledReadWritePort": 5432,
                   "pooledReadOnlyHost": f"{name}-pooler-ro.{name}.svc", "pooledReadOnlyPort": 5432}  # fmt: skip
    return values


def connection_uris(values: dict[str, Any]) -> dict[str, str]:
    """A cluster's entry of ``clusterConnectionUris``: its password and a URI per host it has."""
    user, database, password = values["databaseUser"], values["databaseName"], f"s3cret-{values['postgresClusterName']}"
    uris = {"applicationPassword": password}
    for prefix in ("readWrite", "readOnly", "pooledReadWrite", "pooledReadOnly"):
        if f"{prefix}Host" in values:
            host = values[f"{prefix}Host"]
            uris[f"{prefix}Uri"] = f"postgresql://{user}:{password}@{host}:5432/{database}?sslmode=verify-full"
    return uris


CLUSTERS = {
    "orders": cluster_values("orders", "appdb", "app", pooled=True),
    "billing": cluster_values("billing", "ledger", "billing", pooled=False),
    "analytics": cluster_values("analytics", "appdb", "app", pooled=False),
}
URIS = {name: connection_uris(values) for name, values in CLUSTERS.items()}
# Pulumi.platform.yaml deployed: the stack's own outputs, and no cluster under the one-cluster names.
PLATFORM_OUTPUTS: dict[str, Any] = {
    "resourceGroupName": "rg-cnpgplat-abc",
    "location": "swedencentral",
    "namePrefix": "cnpgplat",
    "privateDnsZone": "cnpgplat.internal",
    "kubeconfig": kubeconfig(STACK_SERVER),
    "clusters": CLUSTERS,
    "clusterConnectionUris": URIS,
}
KNOWN = "analytics, billing, orders"
REQUIRED = f"error: --cluster is required: 'platform' runs {KNOWN}"
DRILLS = ["failover", "restore", "verify", "prune-snapshots"]


class StackOutputs(PulumiCli):
    """``pulumi stack output --json --show-secrets`` answering ``outputs``; any other pulumi call fails the test."""

    outputs: ClassVar[dict[str, Any]] = PLATFORM_OUTPUTS

    def run(self, arguments: Sequence[str], timeout: float | None = 0) -> str:
        assert arguments[:3] == ["stack", "output", "--json"] and "--show-secrets" in arguments, arguments
        return json.dumps(self.outputs)


class BillingKubectl(FakeKubectl):
    source = "billing"


def run_drill(*argv: str) -> int:
    FakeKubectl.instances.clear()
    return drill.main([*argv, "--timeout", "30"], kubectl=BillingKubectl, pulumi=StackOutputs, which=lambda tool: tool)


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one error line of a refused drill (exit 2, after argparse's usage line), having touched no cluster."""
    with pytest.raises(SystemExit) as exit_info:
        run_drill(*argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "Traceback" not in err
    assert FakeKubectl.instances == []
    return err.splitlines()[-1]


@pytest.mark.parametrize("drill_name", DRILLS)
def test_a_platform_stack_without_cluster_is_refused_naming_its_clusters(
    drill_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert refused(capsys, drill_name, "--stack", "platform").endswith(REQUIRED)


@pytest.mark.parametrize("drill_name", DRILLS)
def test_a_platform_stack_with_a_stack_named_cluster_is_refused_without_cluster(
    drill_name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # orders keeps the one-cluster names (stackNames): its values are top-level outputs too, yet billing is there.
    clusters = {key: CLUSTERS[key] for key in ("billing", "orders")}
    outputs = {**PLATFORM_OUTPUTS, **CLUSTERS["orders"], **URIS["orders"], "clusters": clusters}
    monkeypatch.setattr(StackOutputs, "outputs", outputs)
    line = refused(capsys, drill_name, "--stack", "platform")
    assert line.endswith("error: --cluster is required: 'platform' runs billing, orders")


@pytest.mark.parametrize("drill_name", DRILLS)
def test_an_unknown_cluster_is_refused_naming_the_known_ones(drill_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, drill_name, "--stack", "platform", "--cluster", "pg-primary")
    assert line.endswith("error: argument --cluster: 'pg-primary' is not a cluster of 'platform'; it runs " + KNOWN)


def test_a_stack_deployed_before_the_clusters_output_names_no_cluster(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A one-cluster stack not yet updated: without --cluster it runs as before (test_drill_command.py).
    monkeypatch.setattr(StackOutputs, "outputs", OUTPUTS)
    line = refused(capsys, "restore", "--stack", "dev", "--cluster", "pg-primary")
    assert line.endswith("it runs no cluster in a clusters output (pulumi up exports it)")


def test_restore_acts_on_the_chosen_clusters_namespace_cluster_and_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_drill("restore", "--stack", "platform", "--cluster", "billing", "--json") == 0
    kube = FakeKubectl.instances[-1]
    assert kube.namespace == "billing"
    backup, recovery = kube.created
    assert backup["spec"]["cluster"] == {"name": "billing"}
    assert recovery["metadata"]["name"] == "billing-drill"  # the recovery Cluster billing's identity trusts
    assert recovery["spec"]["externalClusters"][0]["plugin"]["parameters"] == {
        "barmanObjectName": "billing-backups",
        "serverName": "billing",
    }
    namespaces = {call[call.index("-n") + 1] for call in kube.calls if "-n" in call}
    assert namespaces == {"billing"}
    databases = {call[call.index("-d") + 1] for call in kube.calls if call[0] == "exec"}
    assert databases == {"ledger"}
    report = json.loads(capsys.readouterr().out)
    assert (report["stack"], report["cluster"], report["namespace"], report["passed"]) == ("platform", "billing", "billing", True)


def test_failover_writes_through_the_chosen_clusters_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints: list[tuple[str, str, str]] = []

    def read_write_endpoint(uri: str, kube: Kubectl, cluster: str) -> Callable[[], None]:
        endpoints.append((uri, cluster, kube.namespace))
        return lambda: None

    monkeypatch.setattr(drill, "read_write_endpoint", read_write_endpoint)
    replay_writer(monkeypatch)
    assert run_drill("failover", "--stack", "platform", "--cluster", "billing") == 0
    assert endpoints == [(URIS["billing"]["readWriteUri"], "billing", "billing")]
    kube = FakeKubectl.instances[-1]
    assert ["delete", "pod", "billing-1", "-n", "billing", "--ignore-not-found", "--wait=false"] in kube.calls


def test_prune_snapshots_lists_the_chosen_clusters_backups() -> None:
    assert run_drill("prune-snapshots", "--stack", "platform", "--cluster", "billing") == 0
    assert FakeKubectl.instances[-1].calls[-1] == [
        "get", "backups.postgresql.cnpg.io", "-n", "billing", "-l", "cnpg.io/cluster=billing", "-o", "json"
    ]  # fmt: skip


def test_the_production_guard_is_unchanged_by_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(pulumi_cli, "PROJECT_DIR", tmp_path)
    (tmp_path / "Pulumi.platform.yaml").write_text("config:\n  aks-postgres-ha:environment: prod\n")
    guard = (
        "error: argument --stack: 'platform' is a production stack (environment: 'prod' in Pulumi.platform.yaml); "
        "drills there need --allow-prod"
    )
    assert refused(capsys, "restore", "--stack", "platform", "--cluster", "billing").endswith(guard)
    assert refused(capsys, "restore", "--stack", "platform").endswith(guard)  # the guard first, as before
    assert refused(capsys, "restore", "--stack", "platform", "--allow-prod").endswith(REQUIRED)
    assert run_drill("restore", "--stack", "platform", "--cluster", "billing", "--allow-prod") == 0


def test_verify_checks_the_chosen_clusters_endpoints_and_objects(
    model: Model,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    model.nodes = json.loads(json.dumps(model.nodes).replace("westeurope", "swedencentral"))  # the platform's region
    network = Network(model)
    probes = Probes(connect=network.connect, resolve=network.resolve)
    argv = ["verify", "--stack", "platform", "--cluster", "orders", "--json"]
    assert drill.main(argv, kubectl=VerifyKubectl, az=FakeAz, probes=probes, pulumi=StackOutputs, which=lambda tool: tool) == 0
    orders = CLUSTERS["orders"]
    hosts = [orders[f"{prefix}Host"] for prefix in ("readWrite", "readOnly", "pooledReadWrite", "pooledReadOnly")]
    assert [host for host, _ in network.seen] == hosts
    assert [backup["spec"]["cluster"] for backup in VerifyKubectl.created] == [{"name": "orders"}]
    assert ["get", "secret", "orders-ca", "-n", "orders", "-o", "json"] in VerifyKubectl.calls
    assert ["get", "clusters.postgresql.cnpg.io", "orders", "-n", "orders", "-o", "json"] in VerifyKubectl.calls
    report = json.loads(capsys.readouterr().out)
    assert (report["cluster"], report["namespace"]) == ("orders", "orders")


def test_a_clusters_view_holds_the_stacks_outputs_and_only_its_own_cluster_values() -> None:
    # orders keeps the one-cluster names: its values are also top-level outputs (program/outputs.py).
    outputs = {**PLATFORM_OUTPUTS, **CLUSTERS["orders"], **URIS["orders"]}
    billing = cluster_outputs(outputs, "billing", "platform")
    assert {key: billing[key] for key in CLUSTERS["billing"]} == CLUSTERS["billing"]
    assert billing["readWriteUri"] == URIS["billing"]["readWriteUri"]
    assert "pooledReadWriteUri" not in billing and "pooledReadWriteHost" not in billing  # orders' poolers stay out
    assert (billing["kubeconfig"], billing["location"]) == (PLATFORM_OUTPUTS["kubeconfig"], "swedencentral")
    # A stack whose clusters output has one entry and no top-level cluster: that one, without --cluster.
    single = {**PLATFORM_OUTPUTS, "clusters": {"billing": CLUSTERS["billing"]}}
    assert cluster_outputs(single, None, "platform")["postgresClusterName"] == "billing"
    # One entry, also at the top level (a one-cluster stack's clusters output): the top level, as before.
    top_level = {**single, **CLUSTERS["billing"], **URIS["billing"]}
    assert cluster_outputs(top_level, None, "platform") == top_level
