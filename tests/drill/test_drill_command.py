"""Orchestration of the stack drills with a fake kubectl: arguments, the production guard, the stack's own
cluster, unreachable endpoints, calls, report shape.

The measurement itself is proven on real PostgreSQL by test_lab.py.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from settings.names import drill_cluster_name
from tools.drill import __main__ as drill
from tools.drill import pulumi_cli
from tools.drill.kube import Kubectl, kubeconfig_server
from tools.drill.writer import Commit, DrillError, WriterLog


def kubeconfig(server: str) -> str:
    """A kubeconfig shaped like the stack's output (components/azure/cluster_access.py exec_kubeconfig)."""
    return (
        f"apiVersion: v1\nkind: Config\nclusters:\n- name: aks\n  cluster: {{server: '{server}'}}\n"
        "users:\n- name: entra-kubelogin\n  user: {}\ncontexts:\n- name: aks\n  context: {cluster: aks, user: entra-kubelogin}\n"
        "current-context: aks\n"
    )


STACK_SERVER = "https://cnpgdev-abc.hcp.westeurope.azmk8s.io:443"

OUTPUTS = {
    "postgresNamespace": "cnpg-database",
    "postgresClusterName": "pg-primary",
    "databaseName": "appdb",
    "databaseUser": "app",
    "readWriteUri": "postgresql://app:s3cret@db.example:5432/appdb?sslmode=verify-full",
    "kubeconfig": kubeconfig(STACK_SERVER),
}


def source_cluster(name: str) -> dict[str, Any]:
    """The live CNPG Cluster ``name`` as kubectl shows it (what the restore drill copies its recovery Cluster from)."""
    return {
        "metadata": {"name": name},
        "spec": {
            "instances": 3,
            "postgresql": {"synchronous": {"method": "any", "number": 1}, "parameters": {}},
            "bootstrap": {"initdb": {"database": "appdb", "owner": "app", "secret": {"name": f"{name}-app-credentials"}}},
            "plugins": [{"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": True,
                         "parameters": {"barmanObjectName": f"{name}-backups", "serverName": name}}],
            "managed": {"services": {"additional": []}},
            "topologySpreadConstraints": [{"labelSelector": {"matchLabels": {"cnpg.io/cluster": name}}}],
        },
        "status": {"currentPrimary": f"{name}-1", "readyInstances": 3, "conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip


SOURCE_CLUSTER = source_cluster("pg-primary")


class FakeKubectl(Kubectl):
    """Answers kubectl calls from a tiny model of the Cluster ``source`` and records them; nothing leaves the process.
    A call about another Cluster fails the test: the drill must act on the one it was given."""

    instances: ClassVar[list[FakeKubectl]] = []
    source: ClassVar[str] = "pg-primary"

    def __init__(self, namespace: str, kubeconfig: str | None = None) -> None:
        super().__init__(namespace, kubeconfig)
        self.kubeconfig = kubeconfig
        self.calls: list[list[str]] = []
        self.created: list[dict[str, Any]] = []
        self.primary = f"{self.source}-1"
        FakeKubectl.instances.append(self)

    def own(self) -> tuple[str, str]:
        """The Clusters the drill may name: the source and its throwaway recovery Cluster."""
        return self.source, drill_cluster_name(self.source)

    def run(self, arguments: Sequence[str], stdin: str | None = None, timeout: float = 0) -> str:
        self.calls.append(list(arguments))
        verb = arguments[0]
        if verb == "config":  # config view --minify: the server of the kubeconfig's current context
            return kubeconfig_server(Path(self.kubeconfig or "").read_text())
        if verb == "create":
            self.created.append(json.loads(stdin or "{}"))
            return ""
        if verb == "delete" and arguments[1] == "pod":
            self.primary = f"{self.source}-2"  # CNPG fails over
            return ""
        if verb == "exec":
            return "100\tabc\n"
        if verb != "get":
            return ""
        kind, target = arguments[1], arguments[2]
        if "--ignore-not-found" in arguments:  # exists(): only the source Cluster
            return f"cluster/{target}" if target == self.source else ""
        if target == "-n":  # a list by selector
            selector = arguments[arguments.index("-l") + 1]
            assert selector.split(",")[0].removeprefix("cnpg.io/cluster=") in self.own(), selector
            role = "primary" if "instanceRole=primary" in selector else "replica"
            instances = {f"{self.source}-{n}" for n in (1, 2, 3)}
            names = [self.primary] if role == "primary" else sorted(instances - {self.primary})
            return json.dumps({"items": [{"metadata": {"name": name}, "spec": {"nodeName": "node-a"}} for name in names]})
        if kind == "secret":
            assert target == f"{self.source}-ca", target
            return json.dumps({"data": {"ca.crt": "Y2E="}})
        if kind.startswith("backups"):
            return json.dumps({"status": {"phase": "completed", "backupId": "20261129T000000"}})
        assert target in self.own(), target
        cluster = source_cluster(self.source)
        cluster["status"]["currentPrimary"] = self.primary
        return json.dumps(cluster)


@pytest.fixture()
def outputs_file(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(OUTPUTS))
    return path


def cluster_calls() -> list[list[str]]:
    """kubectl calls other than reading the kubeconfig: what reached a cluster."""
    return [call for kube in FakeKubectl.instances for call in kube.calls if call[0] != "config"]


@pytest.mark.parametrize("drill_name", ["failover", "restore"])
def test_the_dr_stack_is_refused_without_allow_prod_for_its_environment(
    drill_name: str, outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    FakeKubectl.instances.clear()
    with pytest.raises(SystemExit) as exit_info:
        drill.main([drill_name, "--stack", "acme/aks-postgres-ha/dr", "--outputs", str(outputs_file)], kubectl=FakeKubectl)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        "argument --stack: 'acme/aks-postgres-ha/dr' is a production stack (environment: 'prod' in Pulumi.dr.yaml); "
        "drills there need --allow-prod"
    ) in err
    assert err.count("\n") == 2 and FakeKubectl.instances == []  # usage and one line; no cluster touched


@pytest.mark.parametrize(
    ("stack", "environment", "refused"),
    [("staging", "prod", True), ("prod", "dev", False), ("PROD", "dev", False), ("missing", None, True)],
)
def test_the_guard_follows_the_environment_setting_not_the_name(
    stack: str, environment: str | None, refused: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setattr(pulumi_cli, "PROJECT_DIR", tmp_path)
    if environment:
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(f"config:\n  aks-postgres-ha:environment: {environment}\n")
    (tmp_path / "outputs.json").write_text(json.dumps(OUTPUTS))
    argv = ["restore", "--stack", stack, "--outputs", str(tmp_path / "outputs.json"), "--timeout", "30"]
    if not refused:
        assert drill.main(argv, kubectl=FakeKubectl) == 0
        return
    with pytest.raises(SystemExit) as exit_info:
        drill.main(argv, kubectl=FakeKubectl)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --stack: {stack!r}" in err and "drills there need --allow-prod" in err
    assert drill.main([*argv, "--allow-prod"], kubectl=FakeKubectl) == 0


def test_a_kubeconfig_whose_context_is_another_cluster_is_refused(
    outputs_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "current"
    other.write_text(kubeconfig("https://cnpgprod-xyz.hcp.westeurope.azmk8s.io:443"))
    FakeKubectl.instances.clear()
    with pytest.raises(SystemExit) as exit_info:
        drill.main(
            ["failover", "--stack", "dev", "--outputs", str(outputs_file), "--kubeconfig", str(other)], kubectl=FakeKubectl
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        f"argument --kubeconfig: '{other}' points kubectl at https://cnpgprod-xyz.hcp.westeurope.azmk8s.io:443, but 'dev''s "
        f"cluster is {STACK_SERVER} (its kubeconfig output); a drill acts only on its stack's cluster"
    ) in err
    assert cluster_calls() == []
    # The same server written differently (host case, default port) is the stack's cluster.
    other.write_text(kubeconfig("https://CNPGDEV-abc.hcp.westeurope.azmk8s.io/"))
    assert drill.main(["restore", "--stack", "dev", "--outputs", str(outputs_file), "--kubeconfig", str(other)],
                      kubectl=FakeKubectl) == 0  # fmt: skip


def test_by_default_kubectl_gets_the_stacks_kubeconfig_output_in_a_private_file(outputs_file: Path) -> None:
    seen: list[tuple[str, int]] = []

    class Recording(FakeKubectl):
        def __init__(self, namespace: str, kubeconfig: str | None = None) -> None:
            super().__init__(namespace, kubeconfig)
            path = Path(kubeconfig or "")
            seen.append((path.read_text(), path.stat().st_mode & 0o777))

    assert drill.main(["restore", "--stack", "dev", "--outputs", str(outputs_file), "--timeout", "30"], kubectl=Recording) == 0
    assert seen == [(OUTPUTS["kubeconfig"], 0o600)]
    assert not Path(Recording.instances[-1].kubeconfig or "").exists()  # removed when the drill ends


@pytest.mark.parametrize(
    ("host", "reason"),
    [("127.0.0.1:1", 'connection to server at "127.0.0.1", port 1 failed: Connection refused'),
     ("db.invalid:5432", "failed to resolve host 'db.invalid'")],
)  # fmt: skip
def test_an_unreachable_endpoint_gives_one_line(
    host: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = {**OUTPUTS, "readWriteUri": f"postgresql://app:s3cret@{host}/appdb?sslmode=verify-full"}
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    argv = ["failover", "--stack", "dev", "--outputs", str(tmp_path / "outputs.json"), "--timeout", "30"]
    assert drill.main(argv, kubectl=FakeKubectl) == 1
    err = capsys.readouterr().err
    assert err.startswith("drill: failover failed: the database endpoint: ") and reason in err
    assert err.count("\n") == 1 and "Traceback" not in err and "s3cret" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["failover", "--stack", "dev", "--failure", "zone"], "argument --failure: invalid choice: 'zone'"),
        (["failover", "--stack", "dev", "--timeout", "5"], "argument --timeout: '5' is not a number of seconds from 30 to 7200"),
        (["restore", "--stack", "dev", "--table", "Robert'); DROP"], 'argument --table: "Robert\'); DROP" is not a lowercase'),
        (["restore", "--stack", "dev bad"], "argument --stack: 'dev bad' is not a Pulumi stack name"),
        (["restore", "--stack", "dev", "--outputs", "/nonexistent.json"], "--outputs /nonexistent.json: cannot be read as JSON"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        drill.main(argv, kubectl=FakeKubectl)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def replay_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The failover drill's writer and database reads are the lab's (proven there); here they replay two
    acknowledged commits, both found after the failover."""
    log = WriterLog("run", commits=[Commit(1, 0.0), Commit(2, 10.0**9)])
    monkeypatch.setattr("tools.drill.failover.NumberedWriter.prepare", lambda self: None)
    monkeypatch.setattr("tools.drill.failover.NumberedWriter.start", lambda self: setattr(self, "log", log))
    monkeypatch.setattr("tools.drill.failover.NumberedWriter.wait_for_commits", lambda self, count, after, timeout: True)
    monkeypatch.setattr("tools.drill.failover.NumberedWriter.stop", lambda self: None)
    monkeypatch.setattr("tools.drill.failover.committed_numbers", lambda connect, run_id: {1, 2})
    monkeypatch.setattr("tools.drill.failover.forget_run", lambda connect, run_id: None)


def test_failover_deletes_the_primary_pod_measures_and_reports(
    outputs_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    replay_writer(monkeypatch)
    report_file = tmp_path / "report.json"
    argv = ["failover", "--stack", "dev", "--outputs", str(outputs_file), "--report", str(report_file), "--timeout", "30"]
    assert drill.main(argv, kubectl=FakeKubectl, connect=lambda: None) == 0  # type: ignore[arg-type, return-value]
    kube = FakeKubectl.instances[-1]
    assert ["delete", "pod", "pg-primary-1", "-n", "cnpg-database", "--ignore-not-found", "--wait=false"] in kube.calls
    report = json.loads(report_file.read_text())
    assert report["rpoTransactions"] == 0 and report["passed"] is True
    assert (report["originalPrimary"], report["newPrimary"], report["failure"]) == ("pg-primary-1", "pg-primary-2", "pod-delete")
    assert capsys.readouterr().out.startswith("drill: failover RTO ")
    assert "s3cret" not in report_file.read_text()


def test_restore_backs_up_restores_a_one_instance_cluster_verifies_and_cleans_up(
    outputs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["restore", "--stack", "dev", "--outputs", str(outputs_file), "--table", "public.orders", "--json", "--timeout", "30"]
    assert drill.main(argv, kubectl=FakeKubectl) == 0
    kube = FakeKubectl.instances[-1]
    backup, recovery = kube.created
    assert backup["spec"] == {"cluster": {"name": "pg-primary"}, "method": "plugin",
                              "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}}  # fmt: skip
    spec = recovery["spec"]
    assert recovery["metadata"]["name"] == "pg-primary-drill"
    assert spec["instances"] == 1 and "synchronous" not in spec["postgresql"]
    assert "plugins" not in spec and "managed" not in spec
    assert spec["bootstrap"]["recovery"]["recoveryTarget"] == {"backupID": "20261129T000000", "targetImmediate": True}
    assert spec["externalClusters"][0]["plugin"]["parameters"] == {
        "barmanObjectName": "pg-primary-backups",
        "serverName": "pg-primary",
    }
    assert spec["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]["cnpg.io/cluster"] == "pg-primary-drill"
    assert ["delete", "clusters.postgresql.cnpg.io", "pg-primary-drill", "-n", "cnpg-database", "--ignore-not-found",
            "--wait=false"] in kube.calls  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True and report["mismatches"] == []
    assert set(report["source"]) == {"drill_restore_marker", "public.orders"}


def test_restore_refuses_a_recovery_cluster_name_that_exists(outputs_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["restore", "--stack", "dev", "--outputs", str(outputs_file), "--recovery-cluster", "pg-primary"]
    assert drill.main(argv, kubectl=FakeKubectl) == 1
    assert "Cluster pg-primary exists already" in capsys.readouterr().err
    assert FakeKubectl.instances[-1].created == []


def test_kubectl_failures_are_one_line_with_kubectls_own_error(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = (
        'E1208 00:00:01.1 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list: Get '
        '\\"https://x.hcp.example:443/api\\": dial tcp: lookup x.hcp.example: no such host"\n'
        "Unable to connect to the server: dial tcp: lookup x.hcp.example: no such host\n"
    )
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: subprocess.CompletedProcess(command, 1, "", stderr))
    with pytest.raises(DrillError) as error:
        Kubectl("cnpg-database", "/tmp/kubeconfig").get("clusters.postgresql.cnpg.io", "pg-primary")
    assert str(error.value) == (
        "`kubectl get clusters.postgresql.cnpg.io pg-primary ...` failed: Unable to connect to the server: dial tcp: "
        "lookup x.hcp.example: no such host"
    )

    def missing(command: list[str], **kwargs: Any) -> Any:
        raise FileNotFoundError

    monkeypatch.setattr(subprocess, "run", missing)
    with pytest.raises(DrillError, match=r"^kubectl is not installed \(README Operate: set-up\)$"):
        Kubectl("cnpg-database").api_server()
