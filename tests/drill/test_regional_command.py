"""The regional switchover drill against a model of two stacks: their config, what ``pulumi up`` does to
their CNPG Clusters (demotion writes a token, promotion with that token makes the peer writable and the
demoted cluster follow), kubectl per cluster and a writer endpoint that reaches whichever cluster accepts
writes. The real NumberedWriter runs against that endpoint; nothing leaves the process.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.drill.test_drill_command import kubeconfig
from tools.drill import __main__ as drill
from tools.drill import regional
from tools.drill.kube import Kubectl, kubeconfig_server
from tools.drill.pulumi_cli import PulumiCli, PulumiCommandError, short_name
from tools.drill.regional import DEMOTING, PROMOTED, PROMOTING, RegionalOptions, Side, run_regional

PRIMARY = "disasterRecovery.primary"
TOKEN = "disasterRecovery.promotionToken"
TOKEN_FIELDS = {
    "latestCheckpointTimelineID": "1",
    "redoWalFile": "000000010000000000000007",
    "databaseSystemIdentifier": "7412345678901234567",
    "latestCheckpointREDOLocation": "0/7000028",
    "timeOfLatestCheckpoint": "Sun 29 Nov 2026 10:00:00 UTC",
    "operatorVersion": "1.30.1",
}


def make_token(serial: int, without: Sequence[str] = ()) -> str:
    content = {key: value for key, value in TOKEN_FIELDS.items() if key not in without}
    content["redoWalFile"] = f"00000001000000000000000{serial}" if "redoWalFile" not in without else ""
    return base64.b64encode(json.dumps(content).encode()).decode()


OLD_TOKEN = make_token(1)


@dataclass
class FakeCluster:
    writable: bool
    follows: str | None = None  # a replica cluster mirrors the rows of the cluster it follows
    rows: set[tuple[str, int]] = field(default_factory=set)
    token: str | None = None
    token_hidden_gets: int = 0  # Cluster reads before a new token shows in its status


class World:
    """Two stacks' config and clusters; every pulumi and kubectl call in order."""

    def __init__(self, source: str = "prod", target: str = "dr") -> None:
        self.source, self.target = source, target
        self.clusters = {source: FakeCluster(writable=True), target: FakeCluster(writable=False, follows=source)}
        self.config: dict[str, dict[str, str]] = {source: {"primary": source}, target: {"primary": source}}
        self.calls: list[tuple[str, ...]] = []
        self.lock = threading.RLock()
        self.up_failures: dict[tuple[str, int], str] = {}  # (stack, nth up of it) → stderr
        self.ups: dict[str, int] = {}
        self.token_factory: Callable[[int], str | None] = lambda serial: make_token(serial + 1)
        self.token_delay = 0
        self.tokens = 0
        self.lost_on_promotion = 0
        self.never_follows = False

    def peer(self, name: str) -> str:
        return self.target if name == self.source else self.source

    def rows(self, name: str) -> set[tuple[str, int]]:
        cluster = self.clusters[name]
        return set(self.clusters[cluster.follows].rows if cluster.follows else cluster.rows)

    def up(self, stack: str) -> None:
        with self.lock:
            self.ups[stack] = self.ups.get(stack, 0) + 1
            stderr = self.up_failures.get((stack, self.ups[stack]))
            if stderr is not None:  # fails before the Cluster changes
                raise PulumiCommandError(f"`pulumi up --stack {stack} --yes ...` failed (exit 255):\n{stderr}", stderr)
            config, cluster, peer = self.config[stack], self.clusters[stack], self.clusters[self.peer(stack)]
            if config["primary"] != stack and cluster.writable:  # demotion
                cluster.writable = False
                self.tokens += 1
                new_token = self.token_factory(self.tokens)
                if new_token is not None:
                    cluster.token, cluster.token_hidden_gets = new_token, self.token_delay
            elif config["primary"] == stack and not cluster.writable and config.get("promotionToken") == peer.token:
                replayed = sorted(self.rows(self.peer(stack)), key=lambda row: row[1])
                cluster.rows = set(replayed[: len(replayed) - self.lost_on_promotion])
                cluster.writable, cluster.follows = True, None
                if not self.never_follows:
                    peer.follows = stack


class FakeConnection:
    def __init__(self, world: World) -> None:
        self.world = world
        with world.lock:
            writable = [name for name, cluster in world.clusters.items() if cluster.writable]
        if not writable:
            raise psycopg.OperationalError("connection failed: session is read-only")
        self.cluster = writable[0]
        self.result: list[tuple[int]] = []

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> FakeConnection:
        with self.world.lock:
            cluster = self.world.clusters[self.cluster]
            if sql.startswith("INSERT"):
                if not cluster.writable:
                    raise psycopg.OperationalError("terminating connection due to administrator command")
                cluster.rows.add((params[0], params[1]))
            elif sql.startswith("SELECT number"):
                self.result = [(number,) for run_id, number in self.world.rows(self.cluster) if run_id == params[0]]
            elif sql.startswith("DELETE"):
                cluster.rows = {row for row in cluster.rows if row[0] != params[0]}
        return self

    def fetchall(self) -> list[tuple[int]]:
        return self.result

    def close(self) -> None:
        pass


def server(stack: str) -> str:
    return f"https://{stack}.hcp.example.azmk8s.io:443"


class FakeKubectl(Kubectl):
    """kubectl against one of the world's clusters, chosen by the kubeconfig's API server (https://NAME.hcp...)."""

    world: ClassVar[World]

    def __init__(self, namespace: str, kubeconfig: str | None = None) -> None:
        super().__init__(namespace, kubeconfig)
        self.server = kubeconfig_server(Path(kubeconfig or "").read_text())
        self.name = (urlsplit(self.server).hostname or "").split(".")[0]

    def run(self, arguments: Sequence[str], stdin: str | None = None, timeout: float = 0) -> str:
        world = self.world
        if arguments[0] == "config":  # config view --minify: which API server the kubeconfig points at
            return self.server
        world.calls.append((f"kubectl {self.name}", *arguments))
        with world.lock:
            cluster = world.clusters[self.name]
            if arguments[0] == "exec":
                sql = arguments[-1]
                recovery = "f" if cluster.writable else "t"
                if "EXISTS" not in sql:
                    return recovery + "\n"
                match = re.search(r"run_id = '([^']*)' AND number = (\d+)", sql)
                assert match, sql
                present = (match[1], int(match[2])) in world.rows(self.name)
                return f"{recovery}\t{'t' if present else 'f'}\n"
            assert arguments[0] == "get", arguments  # the drill changes clusters only through pulumi
            if arguments[1] == "pods":
                return json.dumps({"items": [{"metadata": {"name": "pg-primary-1"}}]})
            if arguments[1] == "secret":
                return json.dumps({"data": {"ca.crt": base64.b64encode(f"CA of {self.name}".encode()).decode()}})
            status: dict[str, Any] = {}
            if cluster.token_hidden_gets > 0:
                cluster.token_hidden_gets -= 1
                status["demotionToken"] = OLD_TOKEN if self.name == world.source else None
            elif cluster.token:
                status["demotionToken"] = cluster.token
            return json.dumps({"metadata": {"name": arguments[2]}, "status": status})


class FakePulumi(PulumiCli):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def run(self, arguments: Sequence[str], timeout: float | None = 0) -> str:
        world = self.world
        world.calls.append(("pulumi", *arguments))
        stack = short_name(arguments[arguments.index("--stack") + 1])
        if arguments[0] == "up":
            world.up(stack)
            return ""
        key = arguments[5].split(".", 1)[1]
        config = world.config[stack]
        if arguments[1] == "get":
            if key not in config:
                stderr = f"error: configuration key 'disasterRecovery.{key}' not found for stack '{stack}'\n"
                raise PulumiCommandError("`pulumi config get` failed", stderr)
            return config[key] + "\n"
        if arguments[1] == "set":
            assert arguments[-1] == "--plaintext"
            config[key] = arguments[6]
        else:
            config.pop(key, None)
        return ""


def outputs(stack: str, peer: str, primary: str, **extra: Any) -> dict[str, Any]:
    return {
        "postgresNamespace": "cnpg-database",
        "postgresClusterName": "pg-primary",
        "databaseName": "appdb",
        "databaseUser": "app",
        "readWriteUri": f"postgresql://app:s3cret@pg-primary-rw.{stack}.example:5432/appdb?sslmode=verify-full",
        "kubeconfig": kubeconfig(server(stack)),
        "disasterRecoveryPrimary": primary,
        "disasterRecoveryPeerStack": f"acme/aks-postgres-ha/{peer}",
        **extra,
    }


@pytest.fixture()
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(regional, "POLL_SECONDS", 0.0)
    monkeypatch.setattr(regional, "WRITER_PACE_SECONDS", 0.001)
    created = World()
    monkeypatch.setattr(FakeKubectl, "world", created, raising=False)
    return created


def write_outputs(tmp_path: Path, source: dict[str, Any], target: dict[str, Any]) -> list[str]:
    (tmp_path / "prod.json").write_text(json.dumps(source))
    (tmp_path / "dr.json").write_text(json.dumps(target))
    return ["--outputs", str(tmp_path / "prod.json"), "--to-outputs", str(tmp_path / "dr.json")]


def run_main(world: World, tmp_path: Path, *extra: str, source: dict[str, Any] | None = None,
             target: dict[str, Any] | None = None) -> int:  # fmt: skip
    files = write_outputs(tmp_path, source or outputs("prod", "dr", "prod"), target or outputs("dr", "prod", "prod"))
    argv = ["regional", "--stack", "prod", "--to", "dr", "--allow-prod", "--writes-before", "5", "--timeout", "30"]
    argv += [*files, *extra]
    return drill.main(argv, kubectl=FakeKubectl, connect=lambda: FakeConnection(world), pulumi=lambda: FakePulumi(world))  # type: ignore[arg-type, return-value]


def pulumi_calls(world: World) -> list[str]:
    return [" ".join(call[1:]) for call in world.calls if call[0] == "pulumi"]


def up(stack: str) -> str:
    return f"up --stack {stack} --yes --non-interactive --policy-pack policies --policy-pack-config policies/config.{stack}.json"


SNAPSHOT = [
    f"config get --stack prod --path {PRIMARY}",
    f"config get --stack prod --path {TOKEN}",
    f"config get --stack dr --path {PRIMARY}",
    f"config get --stack dr --path {TOKEN}",
]


def switchover_calls(source: str, target: str, token: str) -> list[str]:
    return [
        f"config set --stack {source} --path {PRIMARY} {target} --plaintext",
        f"config get --stack {source} --path {TOKEN}",
        up(source),
        f"config set --stack {target} --path {PRIMARY} {target} --plaintext",
        f"config set --stack {target} --path {TOKEN} {token} --plaintext",
        up(target),
        f"config rm --stack {target} --path {TOKEN}",
        up(target),
    ]


def test_switchover_demotes_waits_for_the_token_promotes_and_reports(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.token_delay = 2  # the status shows the old token twice before the new one
    world.clusters["prod"].token = OLD_TOKEN  # left by an earlier switchover: not this demotion's
    report_file = tmp_path / "report.json"
    assert run_main(world, tmp_path, "--report", str(report_file)) == 0
    new_token = make_token(2)
    assert pulumi_calls(world) == [*SNAPSHOT, *switchover_calls("prod", "dr", new_token), *SNAPSHOT]
    # The token was read from prod's Cluster between prod's up and dr's promotion, 3 times (2 stale reads).
    calls = [" ".join(call) for call in world.calls]
    demoted = calls.index(f"pulumi {up('prod')}")
    promoting = calls.index(f"pulumi config set --stack dr --path {PRIMARY} dr --plaintext")
    token_reads = [c for c in calls[demoted:promoting] if c.startswith("kubectl prod get clusters.postgresql.cnpg.io pg-primary")]
    assert len(token_reads) == 3
    assert world.clusters["dr"].writable and not world.clusters["prod"].writable and world.clusters["prod"].follows == "dr"
    assert world.config == {"prod": {"primary": "dr"}, "dr": {"primary": "dr"}}

    report = json.loads(report_file.read_text())
    assert report["drill"] == "regional" and report["passed"] is True
    assert (report["stack"], report["toStack"], report["from"], report["to"]) == ("prod", "dr", "prod", "dr")
    assert report["clusters"] == {name: {"cluster": "pg-primary", "namespace": "cnpg-database"} for name in ("prod", "dr")}
    assert report["rpoTransactions"] == 0 and report["lostNumbers"] == []
    assert report["acknowledgedCommits"] >= 6 and report["acknowledgedAfterFault"] >= 1
    assert 0 <= report["demotionTokenSeconds"] <= report["targetWritableSeconds"] <= report["sourceFollowingSeconds"]
    assert report["demotionToken"]["redoWalFile"] == "000000010000000000000002"
    assert report["configFilesToCommit"] == ["Pulumi.prod.yaml", "Pulumi.dr.yaml"]
    assert report["configFiles"]["Pulumi.prod.yaml"] == {
        "before": {"primary": "prod", "promotionToken": None},
        "after": {"primary": "dr", "promotionToken": None},
        "changed": True,
    }
    assert "switchBack" not in report and "recovery" not in report
    assert "s3cret" not in report_file.read_text()
    out = capsys.readouterr().out
    assert out.startswith("drill: regional switchover prod -> dr: failover RTO ")
    assert "commit Pulumi.prod.yaml, Pulumi.dr.yaml" in out
    # The writer's rows were deleted once measured (on dr, and so on prod, which follows it).
    assert not world.rows("dr")


def test_a_token_left_in_the_primary_stacks_config_is_removed_when_demoting(world: World, tmp_path: Path) -> None:
    world.config["prod"]["promotionToken"] = OLD_TOKEN
    assert run_main(world, tmp_path, "--json") == 0
    calls = pulumi_calls(world)
    assert calls.index(f"config rm --stack prod --path {TOKEN}") < calls.index(up("prod"))
    assert "promotionToken" not in world.config["prod"]


def test_switch_back_returns_the_primary_and_the_config(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(world, tmp_path, "--switch-back", "--json") == 0
    back_calls = switchover_calls("dr", "prod", make_token(3))
    assert pulumi_calls(world) == [*SNAPSHOT, *switchover_calls("prod", "dr", make_token(2)), *back_calls, *SNAPSHOT]
    assert world.config == {"prod": {"primary": "prod"}, "dr": {"primary": "prod"}}
    assert world.clusters["prod"].writable and world.clusters["dr"].follows == "prod"
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True and report["configFilesToCommit"] == []
    back = report["switchBack"]
    assert (back["from"], back["to"], back["rpoTransactions"], back["acknowledgedAfterFault"] > 0) == ("dr", "prod", 0, True)
    assert report["switchBack"]["demotionToken"]["redoWalFile"] == "000000010000000000000003"


def test_lost_commits_fail_the_drill(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world.lost_on_promotion = 2  # dr promoted short of the last two acknowledged commits
    assert run_main(world, tmp_path, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False and report["rpoTransactions"] == 2 and len(report["lostNumbers"]) == 2


def test_an_invalid_token_stops_before_touching_the_target_and_says_how_to_recover(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.token_factory = lambda serial: make_token(serial, without=("operatorVersion",))
    assert run_main(world, tmp_path, "--json") == 1
    assert pulumi_calls(world) == [*SNAPSHOT, *switchover_calls("prod", "dr", "")[:3], *SNAPSHOT]
    assert world.config["dr"] == {"primary": "prod"} and not world.clusters["dr"].writable
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False
    assert "prod's .status.demotionToken is a demotion token without operatorVersion" in report["error"]
    assert report["recovery"]["state"].startswith("prod was (being) demoted; dr was not touched")
    assert report["recovery"]["commands"] == [
        f"pulumi config set --stack prod --path {PRIMARY} prod",
        "pulumi up --stack prod --yes --policy-pack policies --policy-pack-config policies/config.prod.json",
    ]
    assert report["configFilesToCommit"] == ["Pulumi.prod.yaml"]
    assert "rtoSeconds" not in report


def test_a_failed_promotion_reports_how_to_keep_the_target_a_replica_then_promote_the_source(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.up_failures[("dr", 1)] = "error: update failed\n  admission webhook denied the request\n"
    report_file = tmp_path / "report.json"
    assert run_main(world, tmp_path, "--report", str(report_file)) == 1
    report = json.loads(report_file.read_text())
    assert report["passed"] is False and "admission webhook denied the request" in report["error"]
    assert report["recovery"]["state"].startswith("prod was demoted; dr got the promotion token but its promotion was not")
    commands = report["recovery"]["commands"]
    assert commands[:3] == [
        f"pulumi config set --stack dr --path {PRIMARY} prod",
        f"pulumi config rm --stack dr --path {TOKEN}",
        "pulumi up --stack dr --yes --policy-pack policies --policy-pack-config policies/config.dr.json",
    ]
    assert commands.index(f"pulumi config set --stack prod --path {PRIMARY} prod") > 3
    assert commands[-1] == "pulumi up --stack prod --yes --policy-pack policies --policy-pack-config policies/config.prod.json"
    # The drill checked whether dr had promoted (it had not) and changed nothing after the failure.
    assert pulumi_calls(world)[-5:] == [up("dr"), *SNAPSHOT]
    err = capsys.readouterr().err
    assert "dr got the promotion token" in err and f"  pulumi config rm --stack dr --path {TOKEN}" in err


def sides(world: World, kubeconfigs: Path) -> tuple[Side, Side]:
    made = []
    for name in ("prod", "dr"):
        kubeconfig = kubeconfigs / f"{name}.kubeconfig"
        made.append(Side(name, name, FakeKubectl("cnpg-database", str(kubeconfig)), "pg-primary", "appdb"))
    return made[0], made[1]


@pytest.fixture()
def kubeconfigs(tmp_path: Path) -> Path:
    """A folder with each stack's kubeconfig (per test: parallel workers share no file)."""
    for name in ("prod", "dr"):
        (tmp_path / f"{name}.kubeconfig").write_text(kubeconfig(server(name)))
    return tmp_path


def test_a_token_that_never_comes_is_reported_with_the_demotion_recovery(world: World, kubeconfigs: Path) -> None:
    world.token_factory = lambda serial: None
    source, target = sides(world, kubeconfigs)
    options = RegionalOptions(switch_back=False, writes_before=3, timeout=0.2)
    report = run_regional(FakePulumi(world), source, target, lambda: FakeConnection(world), options)  # type: ignore[arg-type, return-value]
    assert report["passed"] is False
    assert "a new .status.demotionToken on prod's Cluster pg-primary did not happen within 0 s" in report["error"]
    assert report["summary"].startswith("drill: regional switchover not completed; stopped during prod -> dr (demoting)")
    assert report["recovery"]["commands"][0] == f"pulumi config set --stack prod --path {PRIMARY} prod"


def test_after_the_promotion_nothing_is_reverted(world: World, kubeconfigs: Path) -> None:
    world.never_follows = True
    source, target = sides(world, kubeconfigs)
    options = RegionalOptions(switch_back=False, writes_before=3, timeout=0.2)
    report = run_regional(FakePulumi(world), source, target, lambda: FakeConnection(world), options)  # type: ignore[arg-type, return-value]
    assert report["passed"] is False and "prod following dr" in report["error"]
    assert report["recovery"]["state"] == "dr was promoted: it is the primary now"
    assert not any(f"--path {PRIMARY} prod" in command for command in report["recovery"]["commands"])


def test_recovery_depends_on_whether_the_target_promoted() -> None:
    source, target = (Side(name, name, Kubectl("ns"), "pg", "appdb") for name in ("prod", "dr"))
    for stage, promoted, state in [
        (DEMOTING, None, "prod was (being) demoted"),
        (PROMOTING, False, "prod was demoted; dr got the promotion token"),
        (PROMOTING, None, "prod was demoted; dr got the promotion token"),
        (PROMOTING, True, "dr was promoted"),
        (PROMOTED, None, "dr was promoted"),
    ]:
        assert regional.recovery(regional.Progress(source, target, stage), promoted)["state"].startswith(state)


@pytest.mark.parametrize(
    ("change", "argv", "message"),
    [
        ({}, ["--to", "prod"], "argument --to: 'prod' is the --stack itself"),
        ({"target": {"disasterRecoveryPeerStack": "acme/aks-postgres-ha/dev"}}, [],
         "argument --to: 'dr' pairs with 'acme/aks-postgres-ha/dev' (disasterRecoveryPeerStack), not with 'prod'"),
        ({"source": {"disasterRecoveryPeerStack": "acme/aks-postgres-ha/dev"}}, [],
         "argument --stack: 'prod' pairs with 'acme/aks-postgres-ha/dev' (disasterRecoveryPeerStack), not with 'dr'"),
        ({}, ["--to", "acme/aks-postgres-ha/dr"], ""),  # a qualified name that matches: accepted (nothing refused)
        ({}, ["--to", "other/aks-postgres-ha/dr"], "argument --stack: 'prod' pairs with 'acme/aks-postgres-ha/dr'"),
        ({"source": {"disasterRecoveryPrimary": None}}, [], "argument --stack: 'prod' has no output disasterRecoveryPrimary"),
        ({"target": {"disasterRecoveryPrimary": ""}}, [], "argument --to: 'dr' has no output disasterRecoveryPrimary"),
        ({"source": {"disasterRecoveryPrimary": "dr"}, "target": {"disasterRecoveryPrimary": "dr"}}, [],
         "argument --stack: 'prod' is not the primary (disasterRecoveryPrimary: 'dr'); --stack names the current primary"),
        ({"target": {"disasterRecoveryPrimary": "dr"}}, [],
         "argument --to: 'dr' says the primary is 'dr', 'prod' says 'prod' (disasterRecoveryPrimary); the stacks must agree"),
        ({}, ["--kubeconfig", "a.yaml", "--to-kubeconfig", "a.yaml"], "argument --to-kubeconfig: 'a.yaml' is --kubeconfig too"),
        ({"target": {"kubeconfig": None}}, [], "argument --to: 'dr' has no kubeconfig output"),
        ({}, ["--writes-before", "0"], "argument --writes-before: '0' is not a whole number from 1 to 100000"),
    ],
)  # fmt: skip
def test_refusals_exit_2_naming_argument_value_and_rule_before_anything_runs(
    world: World, tmp_path: Path, change: dict[str, dict[str, Any]], argv: list[str], message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    source = {**outputs("prod", "dr", "prod"), **change.get("source", {})}
    target = {**outputs("dr", "prod", "prod"), **change.get("target", {})}
    if not message:
        assert run_main(world, tmp_path, *argv, source=source, target=target) == 0
        return
    with pytest.raises(SystemExit) as exit_info:
        run_main(world, tmp_path, *argv, source=source, target=target)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert world.calls == []


def with_clusters(values: dict[str, Any], *names: str) -> dict[str, Any]:
    """A stack's outputs with its cluster also in the ``clusters`` and ``clusterConnectionUris`` outputs, under
    each of ``names`` (namespace and cluster name the key's)."""
    entries = {name: {**values, "postgresNamespace": name, "postgresClusterName": name} for name in names}
    uris = {name: {"readWriteUri": values["readWriteUri"]} for name in names}
    return {**values, "clusters": entries, "clusterConnectionUris": uris}


def test_cluster_names_the_cluster_on_both_stacks(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = with_clusters(outputs("prod", "dr", "prod"), "pg-primary", "orders")
    target = with_clusters(outputs("dr", "prod", "prod"), "pg-primary")
    with pytest.raises(SystemExit) as exit_info:
        run_main(world, tmp_path, "--cluster", "orders", source=source, target=target)
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.splitlines()[-1]
    assert line.endswith("error: argument --cluster: 'orders' is not a cluster of 'dr'; it runs pg-primary")
    assert world.calls == []
    report_file = tmp_path / "report.json"
    assert run_main(world, tmp_path, "--cluster", "pg-primary", "--report", str(report_file), source=source, target=target) == 0
    clusters = json.loads(report_file.read_text())["clusters"]
    assert clusters == {name: {"cluster": "pg-primary", "namespace": "pg-primary"} for name in ("prod", "dr")}


def test_regional_needs_to() -> None:
    with pytest.raises(SystemExit) as exit_info:
        drill.main(["regional", "--stack", "prod"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    ("stacks", "target_extra", "message"),
    [
        (("prod", "dr"), {}, "argument --stack: 'prod' is a production stack (environment: 'prod' in Pulumi.prod.yaml)"),
        # dev's environment is dev; dr is guarded for its environment setting (prod), whatever it is called.
        (("dev", "dr"), {}, "argument --to: 'dr' is a production stack (environment: 'prod' in Pulumi.dr.yaml); drills "
         "there need --allow-prod"),
    ],
)  # fmt: skip
def test_production_stacks_need_allow_prod(
    world: World, tmp_path: Path, stacks: tuple[str, str], target_extra: dict[str, Any], message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    source, target = stacks
    files = write_outputs(tmp_path, outputs(source, target, source), outputs(target, source, source, **target_extra))
    with pytest.raises(SystemExit) as exit_info:
        drill.main(["regional", "--stack", source, "--to", target, *files], kubectl=FakeKubectl, pulumi=lambda: FakePulumi(world))
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert world.calls == []


def test_config_that_differs_from_the_deployed_stacks_is_refused_before_any_change(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.config["dr"]["primary"] = "dr"  # set, never deployed
    with pytest.raises(SystemExit) as exit_info:
        run_main(world, tmp_path)
    assert exit_info.value.code == 2
    assert "Pulumi.dr.yaml has disasterRecovery.primary: 'dr', but the deployed stacks say 'prod'" in capsys.readouterr().err
    assert pulumi_calls(world) == SNAPSHOT


def test_a_writable_target_is_not_switched_to(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world.clusters["dr"].writable = True
    assert run_main(world, tmp_path) == 1
    assert "dr's Cluster pg-primary accepts writes: it must be a replica cluster first" in capsys.readouterr().err
    assert pulumi_calls(world) == SNAPSHOT


def test_the_endpoint_tries_both_regions_and_keeps_the_writable_one() -> None:
    conninfo = drill.multi_host_conninfo(
        "postgresql://app:p%40ss@a.example:5432/appdb?sslmode=verify-full",
        "postgresql://app:p%40ss@b.example/appdb?sslmode=verify-full",
        "/tmp/both-ca.crt",
    )
    assert psycopg.conninfo.conninfo_to_dict(conninfo) == {
        "user": "app", "password": "p@ss", "dbname": "appdb", "host": "a.example,b.example", "port": "5432,5432",
        "sslmode": "verify-full", "target_session_attrs": "read-write", "sslrootcert": "/tmp/both-ca.crt",
    }  # fmt: skip
    with pytest.raises(drill.DrillError, match="different dbnames"):
        drill.multi_host_conninfo("postgresql://app@a/appdb", "postgresql://app@b/other", "/tmp/ca")


def test_pulumi_cli_reports_a_missing_cli_and_stderrs_last_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def missing(command: list[str], **kwargs: Any) -> Any:
        raise FileNotFoundError

    monkeypatch.setattr(subprocess, "run", missing)
    with pytest.raises(drill.DrillError, match="the pulumi CLI is not installed"):
        PulumiCli().up("dr")

    def failing(command: list[str], **kwargs: Any) -> Any:
        seen.append(command)
        assert kwargs["cwd"] == Path(drill.__file__).parents[2]
        stderr = "\n".join(f"line {n}" for n in range(40))
        if command[1:3] == ["config", "get"]:
            stderr = "error: configuration key 'disasterRecovery.promotionToken' not found for stack 'dr'"
        return subprocess.CompletedProcess(command, 255, "", stderr)

    monkeypatch.setattr(subprocess, "run", failing)
    with pytest.raises(PulumiCommandError) as error:
        PulumiCli().up("acme/aks-postgres-ha/dr")
    assert str(error.value).endswith("\n".join(f"line {n}" for n in range(25, 40))) and "line 24" not in str(error.value)
    assert PulumiCli().config_get("dr", TOKEN) is None
    assert seen[0] == ["pulumi", *up("acme/aks-postgres-ha/dr").replace("config.acme/aks-postgres-ha/dr", "config.dr").split()]


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (make_token(2), None),
        ("not base64!", "is not a CNPG demotion token"),
        (base64.b64encode(b"[1]").decode(), "is not a CNPG demotion token"),
        (make_token(2, without=("databaseSystemIdentifier", "timeOfLatestCheckpoint")),
         "is a demotion token without databaseSystemIdentifier, timeOfLatestCheckpoint"),
    ],
)  # fmt: skip
def test_tokens_are_checked_as_cnpgs_webhook_does(token: str, problem: str | None) -> None:
    found = regional.demotion_token_problem(token)
    assert found == problem if problem is None else found is not None and found.startswith(problem)


def test_a_to_kubeconfig_for_the_other_stacks_cluster_is_refused(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong-kubeconfig"
    wrong.write_text(kubeconfig(server("prod")))  # prod's cluster given as dr's
    with pytest.raises(SystemExit) as exit_info:
        run_main(world, tmp_path, "--to-kubeconfig", str(wrong))
    assert exit_info.value.code == 2
    assert (
        f"argument --to-kubeconfig: '{wrong}' points kubectl at {server('prod')}, but 'dr''s cluster is {server('dr')}"
    ) in capsys.readouterr().err
    assert world.calls == []
