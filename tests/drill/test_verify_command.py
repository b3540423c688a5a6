"""The verify drill against a model of a deployed stack: kubectl, az, the database endpoints and DNS are fakes
that answer as a healthy stack does; each test breaks one thing and expects exactly that check to fail in one line.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest

from tests.drill.test_drill_command import STACK_SERVER, kubeconfig
from tools.drill import __main__ as drill
from tools.drill.az_cli import AzCli
from tools.drill.kube import Kubectl, kubeconfig_server
from tools.drill.pulumi_cli import PulumiCli, PulumiCommandError
from tools.drill.verify import WORKLOAD_IDENTITY_ENV, Probes

ZONE = "cnpg.internal"
WEBHOOK = "https://hooks.example/services/T0/B0/SECRETTOKEN"
OUTPUTS = {
    "location": "westeurope",
    "resourceGroupName": "rg-cnpg-abc",
    "postgresNamespace": "cnpg-database",
    "postgresClusterName": "pg-primary",
    "kubeconfig": kubeconfig(STACK_SERVER),
    "privateDnsZone": ZONE,
    "cnpgServices": {"readWrite": "pg-primary-rw", "readOnly": "pg-primary-ro",
                     "internalReadWrite": "pg-primary-internal-rw", "internalReadOnly": "pg-primary-internal-ro"},
    "readWriteHost": f"pg-primary-rw.{ZONE}",
    "readOnlyHost": f"pg-primary-ro.{ZONE}",
    "pooledReadWriteHost": f"pg-primary-pooler-rw.{ZONE}",
    "pooledReadOnlyHost": f"pg-primary-pooler-ro.{ZONE}",
    **{f"{prefix}Uri": f"postgresql://app:s3cret@{host}.{ZONE}:5432/appdb?sslmode=verify-full"
       for prefix, host in (("readWrite", "pg-primary-rw"), ("readOnly", "pg-primary-ro"),
                            ("pooledReadWrite", "pg-primary-pooler-rw"), ("pooledReadOnly", "pg-primary-pooler-ro"))},
    "disasterRecoveryPeerStack": "acme/aks-postgres-ha/dr",
}  # fmt: skip
ADDRESSES = {"pg-primary-internal-rw": "10.30.15.250", "pg-primary-internal-ro": "10.30.15.251",
             "pg-primary-pooler-rw": "10.30.15.252", "pg-primary-pooler-ro": "10.30.15.253"}  # fmt: skip
PEER_STORE = {"destinationPath": "https://cnpgpgbak0dr.blob.core.windows.net/backups/gen-1",
              "azureCredentials": {"inheritFromAzureAD": True}}  # fmt: skip


def condition(kind: str, status: str = "True", **extra: str) -> dict[str, str]:
    return {"type": kind, "status": status, **extra}


class Model:
    """What the healthy stack's API server holds; tests change one part."""

    def __init__(self) -> None:
        self.nodes = [
            {"metadata": {"name": f"aks-postgres-{zone}", "labels": {"workload": "postgres",
             "topology.kubernetes.io/zone": f"westeurope-{zone}"}}, "status": {"conditions": [condition("Ready")]}}
            for zone in (1, 2, 3)
        ]  # fmt: skip
        self.unavailable: set[str] = set()
        sidecar = {"name": "plugin-barman-cloud", "env": [{"name": name, "value": "x"} for name in WORKLOAD_IDENTITY_ENV]}
        self.pods: list[dict[str, Any]] = [
            {"metadata": {"name": f"pg-primary-{n}"}, "spec": {"initContainers": [copy.deepcopy(sidecar)],
                                                               "containers": [{"name": "postgres"}]}}
            for n in (1, 2, 3)
        ]  # fmt: skip
        self.archiving = condition(
            "ContinuousArchiving", reason="ContinuousArchivingSuccess", message="Continuous archiving is working"
        )
        self.backup_status = {"phase": "completed", "backupId": "20261207T235900"}
        self.addresses = dict(ADDRESSES)
        self.peer_backups = [{"backup_id": "20261207T020000"}]


class FakeKubectl(Kubectl):
    model: ClassVar[Model]
    calls: ClassVar[list[list[str]]] = []
    created: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, namespace: str, kubeconfig: str | None = None) -> None:
        super().__init__(namespace, kubeconfig)
        self.kubeconfig = kubeconfig

    def run(self, arguments: Sequence[str], stdin: str | None = None, timeout: float = 0) -> str:
        model = self.model
        verb = arguments[0]
        if verb == "config":
            return kubeconfig_server(Path(self.kubeconfig or "").read_text())
        FakeKubectl.calls.append(list(arguments))
        if verb == "create":
            FakeKubectl.created.append(json.loads(stdin or "{}"))
            return ""
        if verb == "exec":
            return json.dumps({"backups_list": model.peer_backups})
        assert verb == "get", arguments  # verify reads; it creates only the Backup
        kind, name = arguments[1], arguments[2]
        if name == "-n":  # a list by selector
            namespace, selector = arguments[3], arguments[arguments.index("-l") + 1]
            if kind == "nodes":
                items = model.nodes
            elif kind == "deployments":
                release = selector.split("=", 1)[1]
                expected = {"cnpg-system": {"cloudnative-pg", "plugin-barman-cloud"}, "cert-manager": {"cert-manager"}}
                assert release in expected[namespace], (namespace, release)
                available = "False" if release in model.unavailable else "True"
                items = [{"metadata": {"name": release}, "status": {"conditions": [condition("Available", available)]}}]
            else:
                items = model.pods[:1] if "instanceRole=primary" in selector else model.pods
            return json.dumps({"items": items})
        if kind == "secret":
            return json.dumps({"data": {"ca.crt": "Y2E="}})
        if kind.startswith("backups"):
            return json.dumps({"status": model.backup_status})
        if kind == "service":
            return json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": model.addresses[name]}]}}})
        if kind.startswith("objectstores"):
            assert name == "pg-primary-peer-archive"
            return json.dumps({"spec": {"configuration": PEER_STORE}})
        assert kind.startswith("clusters"), arguments
        external = [{"name": "dr", "plugin": {"name": "barman-cloud.cloudnative-pg.io",
                     "parameters": {"barmanObjectName": "pg-primary-peer-archive", "serverName": "pg-primary"}}}]  # fmt: skip
        return json.dumps({"spec": {"externalClusters": external}, "status": {"conditions": [model.archiving]}})


class FakeAz(AzCli):
    calls: ClassVar[list[list[str]]] = []
    webhook_files: ClassVar[list[tuple[str, int]]] = []
    groups: ClassVar[list[dict[str, Any]]] = []
    webhook_status = "Succeeded"

    def run(self, arguments: Sequence[str], timeout: float = 0) -> str:
        FakeAz.calls.append(list(arguments))
        if arguments[:3] == ["monitor", "action-group", "list"]:
            return json.dumps(self.groups)
        assert arguments[:4] == ["monitor", "action-group", "test-notifications", "create"], arguments
        for argument in arguments:
            if argument.startswith("@"):  # az reads @file arguments itself
                path = Path(argument[1:])
                FakeAz.webhook_files.append((path.read_text(), path.stat().st_mode & 0o777))
        return json.dumps({"state": "Complete", "actionDetails": [
            {"MechanismType": "Email", "Name": "email-0", "Status": "Succeeded"},
            {"MechanismType": "Webhook", "Name": "webhook", "Status": self.webhook_status, "Detail": "HTTP 404"
             if self.webhook_status != "Succeeded" else None}]})  # fmt: skip


class FakeConnection:
    def __init__(self, host: str) -> None:
        self.host = host

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, sql: str) -> FakeConnection:
        assert sql == "SELECT pg_is_in_recovery()"
        return self

    def fetchone(self) -> tuple[bool]:
        return ("-ro" in self.host,)


@pytest.fixture()
def model(monkeypatch: pytest.MonkeyPatch) -> Model:
    created = Model()
    monkeypatch.setattr(FakeKubectl, "model", created, raising=False)
    FakeKubectl.calls.clear()
    FakeKubectl.created.clear()
    FakeAz.calls.clear()
    FakeAz.webhook_files.clear()
    monkeypatch.setattr(FakeAz, "groups", [{
        "name": "cnpgmon-abc-on-call",
        "emailReceivers": [{"name": "email-0", "emailAddress": "dba@example.com", "useCommonAlertSchema": True}],
        "webhookReceivers": [{"name": "webhook", "serviceUri": WEBHOOK, "useCommonAlertSchema": True}],
    }])  # fmt: skip
    return created


class Network:
    """The database endpoints and DNS as this machine sees them."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.refused: set[str] = set()
        self.seen: list[tuple[str, bytes]] = []

    def connect(self, uri: str, ca_file: str) -> Any:
        host = psycopg.conninfo.conninfo_to_dict(uri)["host"]
        self.seen.append((str(host), Path(ca_file).read_bytes()))
        if host in self.refused:
            raise psycopg.OperationalError(
                f'connection failed: connection to server at "{host}" (10.30.15.250), port 5432 failed: Connection refused\n'
                "\tIs the server running on that host and accepting TCP/IP connections?"
            )
        return FakeConnection(str(host))

    def resolve(self, host: str) -> set[str]:
        label = host.split(".")[0]
        if label == "missing":
            raise OSError(-2, "Name or service not known")
        service = {"pg-primary-rw": "pg-primary-internal-rw", "pg-primary-ro": "pg-primary-internal-ro"}.get(label, label)
        return {ADDRESSES[service]}


def run_verify(model: Model, tmp_path: Path, network: Network | None = None, outputs: dict[str, Any] | None = None,
               *extra: str) -> int:  # fmt: skip
    (tmp_path / "outputs.json").write_text(json.dumps(outputs or OUTPUTS))
    network = network or Network(model)
    argv = ["verify", "--stack", "dev", "--outputs", str(tmp_path / "outputs.json"), "--timeout", "30", *extra]
    probes = Probes(connect=network.connect, resolve=network.resolve)
    return drill.main(argv, kubectl=FakeKubectl, az=FakeAz, probes=probes, which=lambda tool: f"/usr/bin/{tool}")


CHECKS = [
    "nodes", "operator cloudnative-pg", "operator plugin-barman-cloud", "operator cert-manager", "sidecar identity",
    "archiving", "backup", "tls readWriteUri", "tls readOnlyUri", "tls pooledReadWriteUri", "tls pooledReadOnlyUri",
    f"dns pg-primary-rw.{ZONE}", f"dns pg-primary-ro.{ZONE}", f"dns pg-primary-pooler-rw.{ZONE}",
    f"dns pg-primary-pooler-ro.{ZONE}", "peer archive", "test alert",
]  # fmt: skip


def test_a_healthy_stack_passes_every_check(model: Model, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_file = tmp_path / "verify.json"
    network = Network(model)
    assert run_verify(model, tmp_path, network, None, "--report", str(report_file)) == 0
    report = json.loads(report_file.read_text())
    assert [check["name"] for check in report["checks"]] == CHECKS
    assert {check["status"] for check in report["checks"]} == {"passed"} and report["passed"] is True
    assert (report["stack"], report["cluster"], report["namespace"]) == ("dev", "pg-primary", "cnpg-database")
    # The one object it creates: an on-demand plugin Backup.
    (backup,) = FakeKubectl.created
    assert backup["kind"] == "Backup" and backup["spec"] == {
        "cluster": {"name": "pg-primary"}, "method": "plugin", "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}
    }  # fmt: skip
    assert backup["metadata"]["labels"] == {"aks-postgres-ha/drill": "verify"}
    # The peer archive is listed from the sidecar as the plugin lists an archive.
    assert ["exec", "-n", "cnpg-database", "pg-primary-1", "-c", "plugin-barman-cloud", "--", "barman-cloud-backup-list",
            "--format", "json", "--cloud-provider", "azure-blob-storage", "--credential", "managed-identity",
            PEER_STORE["destinationPath"], "pg-primary"] in FakeKubectl.calls  # fmt: skip
    # Every endpoint was dialled with the cluster CA from the <cluster>-ca secret.
    hosts = [OUTPUTS[f"{prefix}Host"] for prefix in ("readWrite", "readOnly", "pooledReadWrite", "pooledReadOnly")]
    assert [host for host, _ in network.seen] == hosts
    assert {ca for _, ca in network.seen} == {b"ca"}
    # The test notification reached both receivers; the webhook URL went through a private file, not argv.
    create = FakeAz.calls[-1]
    assert create[create.index("--alert-type") + 1] == "metricstaticthreshold"
    assert create[create.index("email") : create.index("email") + 4] == [
        "email",
        "email-0",
        "dba@example.com",
        "usecommonalertschema",
    ]
    assert not any("SECRETTOKEN" in argument for argument in create)
    assert FakeAz.webhook_files == [(WEBHOOK, 0o600)]
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "verify dev: 17 passed, 0 failed, 0 skipped"
    assert "s3cret" not in out + report_file.read_text() and "SECRETTOKEN" not in out + report_file.read_text()


def _no_authority_host(model: Model) -> None:
    env = model.pods[1]["spec"]["initContainers"][0]["env"]
    env[:] = [variable for variable in env if variable["name"] != "AZURE_AUTHORITY_HOST"]


BREAKAGES = [
    (lambda m, n: m.nodes.pop(2), "nodes",
     "postgres pool (workload=postgres): no Ready node in westeurope-3 (Ready per zone: westeurope-1: 1, westeurope-2: 1)"),
    (lambda m, n: m.nodes[0]["status"].update(conditions=[condition("Ready", "False")]), "nodes", "not Ready: aks-postgres-1"),
    (lambda m, n: m.unavailable.add("plugin-barman-cloud"), "operator plugin-barman-cloud",
     "Deployment plugin-barman-cloud in cnpg-system not Available"),
    (lambda m, n: _no_authority_host(m), "sidecar identity",
     "pg-primary-2's plugin-barman-cloud lacks AZURE_AUTHORITY_HOST (backups and WAL archiving cannot use the workload "
     "identity)"),
    (lambda m, n: m.pods[0]["spec"].update(initContainers=[]), "sidecar identity",
     "pg-primary-1 has no plugin-barman-cloud container"),
    (lambda m, n: m.archiving.update(status="False", reason="ContinuousArchivingFailing",
                                     message="unexpected failure invoking barman-cloud-wal-archive: exit status 4\nmore"),
     "archiving",
     "ContinuousArchiving is False (ContinuousArchivingFailing): unexpected failure invoking barman-cloud-wal-archive: exit "
     "status 4"),
    (lambda m, n: m.backup_status.update(phase="failed", error="AuthorizationPermissionMismatch"), "backup",
     "failed: AuthorizationPermissionMismatch"),
    (lambda m, n: n.refused.add(f"pg-primary-pooler-ro.{ZONE}"), "tls pooledReadOnlyUri",
     f'pg-primary-pooler-ro.{ZONE}:5432: connection failed: connection to server at "pg-primary-pooler-ro.{ZONE}" '
     "(10.30.15.250), port 5432 failed: Connection refused"),
    (lambda m, n: m.addresses.update({"pg-primary-internal-ro": "10.30.15.9"}), f"dns pg-primary-ro.{ZONE}",
     "resolves to 10.30.15.251, but Service pg-primary-internal-ro's load balancer has 10.30.15.9"),
    (lambda m, n: m.peer_backups.clear(), "peer archive", "holds no base backup: nothing to restore or rebuild from"),
    (lambda m, n: setattr(FakeAz, "webhook_status", "Failed"), "test alert", "failed: webhook (Webhook): Failed HTTP 404"),
]  # fmt: skip


@pytest.mark.parametrize(("breakage", "name", "detail"), BREAKAGES)
def test_each_problem_fails_its_check_in_one_line(
    breakage: Any, name: str, detail: str, model: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setattr(FakeAz, "webhook_status", "Succeeded")
    network = Network(model)
    breakage(model, network)
    assert run_verify(model, tmp_path, network, None, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    failed = [check for check in report["checks"] if check["status"] == "failed"]
    assert [check["name"] for check in failed] == [name]
    assert detail in failed[0]["detail"] and "\n" not in failed[0]["detail"]
    assert report["passed"] is False


def test_the_summary_names_each_failed_check_on_its_own_line(
    model: Model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model.nodes.pop(0)
    _no_authority_host(model)
    assert run_verify(model, tmp_path) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("FAILED")] == ["FAILED  nodes", "FAILED  sidecar identity"]
    assert lines[-1] == "verify dev: 15 passed, 2 failed, 0 skipped — FAILED"


def test_what_the_stack_does_not_have_is_skipped(model: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setattr(FakeAz, "groups", [])
    outputs = {key: value for key, value in OUTPUTS.items() if key not in ("disasterRecoveryPeerStack", "privateDnsZone")}
    assert run_verify(model, tmp_path, None, outputs, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    skipped = {check["name"]: check["detail"] for check in report["checks"] if check["status"] == "skipped"}
    assert skipped == {
        "dns": "no endpoint in the private DNS zone (network.internalEndpoint off)",
        "peer archive": "no disasterRecovery peer",
        "test alert": (
            "no action group *-on-call in rg-cnpg-abc (observability.azureMonitoring off, or no alerting.emails/webhookUrl)"
        ),
    }


def test_missing_tools_are_refused_in_one_line(model: Model, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "outputs.json").write_text(json.dumps(OUTPUTS))
    with pytest.raises(SystemExit) as exit_info:
        drill.main(["verify", "--stack", "dev", "--outputs", str(tmp_path / "outputs.json")], kubectl=FakeKubectl,
                   which=lambda tool: None if tool in ("pulumi", "az") else "/usr/bin/kubectl")  # fmt: skip
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("error: verify needs pulumi, az on PATH (README Operate: set-up)")
    assert FakeKubectl.calls == []


def test_a_missing_stack_is_refused_in_one_line(model: Model, capsys: pytest.CaptureFixture[str]) -> None:
    class NoStack(PulumiCli):
        def run(self, arguments: Sequence[str], timeout: float | None = 0) -> str:
            assert arguments[:2] == ["stack", "output"]
            raise PulumiCommandError("`pulumi stack output ...` failed (exit 255):\n...", "error: no stack named 'nope' found\n")

    with pytest.raises(SystemExit) as exit_info:
        drill.main(["verify", "--stack", "nope"], kubectl=FakeKubectl, pulumi=NoStack, which=lambda tool: tool)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert (
        err[-1].endswith("error: pulumi stack output --stack nope failed: error: no stack named 'nope' found") and len(err) == 2
    )
