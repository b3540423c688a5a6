"""The regional drill on a pair of platform stacks (``clusters``): ``disasterRecovery.primary`` is the stack's, so
the switchover demotes every cluster of ``--stack``, reads each one's demotion token from its own namespace and
promotes ``--to`` with all of them under ``promotionTokens.<cluster>`` in one ``pulumi up`` (settings refuse a
platform's promotion lacking one). ``--cluster`` names the cluster the writer measures.

The model of test_regional_command.py, with the measured cluster as its one cluster per stack and the platform's
other clusters beside it, found by namespace.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.drill.test_regional_command import (
    PRIMARY,
    FakeCluster,
    FakeConnection,
    FakeKubectl,
    FakePulumi,
    World,
    make_token,
    outputs,
    up,
)
from tools.drill import __main__ as drill
from tools.drill import pulumi_cli, regional
from tools.drill.kube import Kubectl
from tools.drill.pulumi_cli import PulumiCommandError, short_name
from tools.drill.regional import PROMOTED, PROMOTING, RegionalOptions, Side, run_regional

TOKENS = "disasterRecovery.promotionTokens"
KEYS = ("analytics", "billing", "orders")  # sorted, as the drill walks them
MEASURED = "billing"


class PlatformWorld(World):
    """Each stack runs KEYS; ``clusters[stack]`` is MEASURED's (the writer's), ``others`` the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.others = {
            (stack, key): FakeCluster(writable=stack == self.source, follows=None if stack == self.source else self.source)
            for stack in (self.source, self.target)
            for key in KEYS
            if key != MEASURED
        }
        self.stuck: set[tuple[str, str]] = set()  # clusters that do not promote (still replaying, say)

    def cluster(self, stack: str, key: str) -> FakeCluster:
        return self.clusters[stack] if key == MEASURED else self.others[(stack, key)]

    def up(self, stack: str) -> None:
        """What the program and CNPG do: settings refuse a one-cluster token and a promotion lacking a cluster's
        token; each cluster demotes (a token of its own) or promotes with its namesake's token."""
        with self.lock:
            config, peer = self.config[stack], self.peer(stack)
            tokens = {key: config.get(f"promotionTokens.{key}") for key in KEYS}
            if "promotionToken" in config or (any(tokens.values()) and not all(tokens.values())):
                stderr = "error: disasterRecovery.promotionTokens: lacks a cluster\n"
                raise PulumiCommandError(f"`pulumi up --stack {stack} --yes ...` failed (exit 255):\n{stderr}", stderr)
            for key in KEYS:
                cluster, namesake = self.cluster(stack, key), self.cluster(peer, key)
                if config["primary"] != stack and cluster.writable:
                    self.tokens += 1
                    cluster.writable, cluster.token = False, self.token_factory(self.tokens)
                elif (
                    config["primary"] == stack
                    and not cluster.writable
                    and tokens[key] == namesake.token
                    and ((stack, key) not in self.stuck)
                ):
                    if key == MEASURED:
                        cluster.rows = self.rows(peer)
                    cluster.writable, cluster.follows, namesake.follows = True, None, stack


class PlatformKubectl(FakeKubectl):
    """kubectl on a stack's AKS: MEASURED's namespace is the base model's cluster, another namespace another's."""

    world: PlatformWorld  # type: ignore[misc]

    def run(self, arguments: Sequence[str], stdin: str | None = None, timeout: float = 0) -> str:
        if arguments[0] == "config" or self.namespace == MEASURED:
            return super().run(arguments, stdin, timeout)
        world = self.world
        world.calls.append((f"kubectl {self.name}", *arguments))
        with world.lock:
            cluster = world.cluster(self.name, self.namespace)
            if arguments[0] == "exec":
                assert "EXISTS" not in arguments[-1]  # the writer measures MEASURED only
                return ("f" if cluster.writable else "t") + "\n"
            if arguments[1] == "pods":
                return json.dumps({"items": [{"metadata": {"name": f"{self.namespace}-1"}}]})
            assert arguments[1:3] == ["clusters.postgresql.cnpg.io", self.namespace], arguments
            return json.dumps({"metadata": {"name": self.namespace}, "status": {"demotionToken": cluster.token}})


class PlatformPulumi(FakePulumi):
    """The CLI's ``--path disasterRecovery.promotionTokens``: the whole map (JSON), removed whole."""

    def run(self, arguments: Sequence[str], timeout: float | None = 0) -> str:
        if arguments[0] != "config" or arguments[5] != TOKENS:
            return super().run(arguments, timeout)
        self.world.calls.append(("pulumi", *arguments))
        config = self.world.config[short_name(arguments[3])]
        entries = {key: config[f"promotionTokens.{key}"] for key in KEYS if f"promotionTokens.{key}" in config}
        if arguments[1] == "rm":
            for key in entries:
                del config[f"promotionTokens.{key}"]
            return ""
        if not entries:
            raise PulumiCommandError("`pulumi config get` failed", f"error: configuration key '{TOKENS}' not found\n")
        return json.dumps(entries) + "\n"


def platform_outputs(stack: str, peer: str, stack_named: str | None = None) -> dict[str, Any]:
    """A platform stack's outputs: each cluster in ``clusters`` (namespace and name its key), no top-level cluster
    unless ``stack_named`` keeps the one-cluster names (stackNames: its values are top-level outputs too)."""
    values = outputs(stack, peer, "prod")
    stack_level = {key: values[key] for key in ("kubeconfig", "disasterRecoveryPrimary", "disasterRecoveryPeerStack")}
    entries = {key: {"postgresNamespace": key, "postgresClusterName": key, "databaseName": "appdb", "databaseUser": "app"}
               for key in KEYS}  # fmt: skip
    uris = {key: {"readWriteUri": values["readWriteUri"].replace("pg-primary", key)} for key in KEYS}
    top_level = {**entries[stack_named], **uris[stack_named]} if stack_named else {}
    return {**stack_level, **top_level, "clusters": entries, "clusterConnectionUris": uris}


@pytest.fixture()
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> PlatformWorld:
    monkeypatch.setattr(regional, "POLL_SECONDS", 0.0)
    monkeypatch.setattr(regional, "WRITER_PACE_SECONDS", 0.001)
    created = PlatformWorld()
    monkeypatch.setattr(FakeKubectl, "world", created, raising=False)
    # The stack files the drill reads (clusters, environment) and the policy configs pulumi up is given.
    project = tmp_path / "project"
    (project / "policies").mkdir(parents=True)
    for stack in ("prod", "dr"):
        stack_file(project, stack, KEYS)
        (project / "policies" / f"config.{stack}.json").write_text("{}\n")
    monkeypatch.setattr(pulumi_cli, "PROJECT_DIR", project)
    monkeypatch.setattr(drill, "PROJECT_DIR", project)
    return created


def stack_file(project: Path, stack: str, keys: Sequence[str]) -> None:
    clusters = "".join(f"    {key}: {{}}\n" for key in keys)
    (project / f"Pulumi.{stack}.yaml").write_text(
        f"config:\n  aks-postgres-ha:environment: dev\n  aks-postgres-ha:clusters:\n{clusters}"
    )


def run_platform(world: PlatformWorld, tmp_path: Path, *extra: str, stack_named: str | None = None) -> int:
    files = []
    for stack, peer in (("prod", "dr"), ("dr", "prod")):
        (tmp_path / f"{stack}.json").write_text(json.dumps(platform_outputs(stack, peer, stack_named)))
        files.append(str(tmp_path / f"{stack}.json"))
    argv = ["regional", "--stack", "prod", "--to", "dr", "--writes-before", "5", "--timeout", "30"]
    argv += ["--outputs", files[0], "--to-outputs", files[1], *extra]
    return drill.main(argv, kubectl=PlatformKubectl, connect=lambda: FakeConnection(world), pulumi=lambda: PlatformPulumi(world))  # type: ignore[arg-type, return-value]


def pulumi_calls(world: World) -> list[str]:
    return [" ".join(call[1:]) for call in world.calls if call[0] == "pulumi"]


SNAPSHOT = [f"config get --stack {stack} --path {path}" for stack in ("prod", "dr") for path in (PRIMARY, TOKENS)]


def switchover_calls(source: str, target: str, tokens: dict[str, str]) -> list[str]:
    """The config commands of one direction; ``tokens``: each cluster's, in the order the drill sets them."""
    return [
        f"config set --stack {source} --path {PRIMARY} {target} --plaintext",
        f"config get --stack {source} --path {TOKENS}",
        up(source),
        f"config set --stack {target} --path {PRIMARY} {target} --plaintext",
        *(f"config set --stack {target} --path {TOKENS}.{key} {token} --plaintext" for key, token in tokens.items()),
        up(target),
        f"config rm --stack {target} --path {TOKENS}",
        up(target),
    ]


def test_a_platform_pair_promotes_every_cluster_with_its_own_namesakes_token(
    world: PlatformWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_file = tmp_path / "report.json"
    assert run_platform(world, tmp_path, "--cluster", MEASURED, "--report", str(report_file)) == 0
    # prod demoted analytics, billing, orders in that order (tokens 2, 3, 4); billing, measured, is set first.
    tokens = {"billing": make_token(3), "analytics": make_token(2), "orders": make_token(4)}
    assert pulumi_calls(world) == [*SNAPSHOT, *switchover_calls("prod", "dr", tokens), *SNAPSHOT]
    # Each token was read from its own cluster, in its own namespace, on prod's AKS.
    reads = {
        call[3:6] for call in world.calls if call[0] == "kubectl prod" and call[1:3] == ("get", "clusters.postgresql.cnpg.io")
    }
    assert reads == {(key, "-n", key) for key in KEYS}
    for key in KEYS:
        assert world.cluster("dr", key).writable and not world.cluster("prod", key).writable
        assert world.cluster("prod", key).follows == "dr"
    assert world.config == {"prod": {"primary": "dr"}, "dr": {"primary": "dr"}}
    report = json.loads(report_file.read_text())
    assert report["passed"] is True and report["rpoTransactions"] == 0
    assert report["switchedClusters"] == list(KEYS)
    assert report["clusters"] == {name: {"cluster": MEASURED, "namespace": MEASURED} for name in ("prod", "dr")}
    assert report["configFiles"]["Pulumi.dr.yaml"]["before"] == {"primary": "prod", "promotionTokens": None}
    out, err = capsys.readouterr()
    assert "the stack's primary moves analytics, billing, orders together (the writer measured billing)" in out
    for token in tokens.values():  # the report shows at most a token's first characters
        assert token not in out + err + report_file.read_text()


def test_switch_back_returns_every_cluster_and_removes_the_used_tokens(world: PlatformWorld, tmp_path: Path) -> None:
    assert run_platform(world, tmp_path, "--cluster", MEASURED, "--switch-back", "--json") == 0
    forth = {"billing": make_token(3), "analytics": make_token(2), "orders": make_token(4)}
    back = {"billing": make_token(6), "analytics": make_token(5), "orders": make_token(7)}
    expected = [*SNAPSHOT, *switchover_calls("prod", "dr", forth), *switchover_calls("dr", "prod", back), *SNAPSHOT]
    assert pulumi_calls(world) == expected
    assert world.config == {"prod": {"primary": "prod"}, "dr": {"primary": "prod"}}
    assert all(world.cluster("prod", key).writable and world.cluster("dr", key).follows == "prod" for key in KEYS)


@pytest.mark.parametrize("stack_named", [None, MEASURED])
def test_a_platform_pair_needs_the_cluster_to_measure(
    world: PlatformWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str], stack_named: str | None
) -> None:
    # Even when one cluster keeps the one-cluster names: the switchover would measure it silently.
    with pytest.raises(SystemExit) as exit_info:
        run_platform(world, tmp_path, stack_named=stack_named)
    assert exit_info.value.code == 2
    assert (
        capsys.readouterr().err.splitlines()[-1].endswith("error: --cluster is required: 'prod' runs analytics, billing, orders")
    )
    assert world.calls == []


def test_stacks_whose_files_run_other_clusters_are_refused(
    world: PlatformWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_file(drill.PROJECT_DIR, "dr", ("billing", "orders"))
    with pytest.raises(SystemExit) as exit_info:
        run_platform(world, tmp_path, "--cluster", MEASURED)
    assert exit_info.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(
            "error: argument --to: 'dr' runs billing, orders, 'prod' analytics, billing, orders (Pulumi.<stack>.yaml); "
            "a pair runs the same clusters on both stacks"
        )
    )
    assert world.calls == []


def test_an_invalid_token_of_another_cluster_stops_before_the_target_is_touched(world: PlatformWorld, tmp_path: Path) -> None:
    world.token_factory = lambda serial: make_token(serial + 1, without=("databaseSystemIdentifier",) if serial == 3 else ())
    report_file = tmp_path / "report.json"
    assert run_platform(world, tmp_path, "--cluster", MEASURED, "--report", str(report_file)) == 1
    report = json.loads(report_file.read_text())
    assert report["error"].startswith("prod/orders's .status.demotionToken is a demotion token without databaseSystemIdentifier")
    assert not any(call.startswith("config set --stack dr") for call in pulumi_calls(world))
    assert report["recovery"]["commands"][0] == f"pulumi config set --stack prod --path {PRIMARY} prod"


def test_a_platforms_recovery_names_every_clusters_token() -> None:
    def side(name: str) -> Side:
        others = tuple(Side(name, name, Kubectl(key), key, "appdb", key) for key in ("analytics", "orders"))
        return Side(name, name, Kubectl(MEASURED), MEASURED, "appdb", MEASURED, others)

    source, target = side("prod"), side("dr")
    commands = regional.recovery(regional.Progress(source, target, PROMOTING), False)["commands"]
    assert commands[1] == f"pulumi config rm --stack dr --path {TOKENS}"
    token_reads = [command for command in commands if command.startswith("kubectl get clusters.postgresql.cnpg.io")]
    assert [command.split()[3:6] for command in token_reads] == [[key, "-n", key] for key in ("billing", "analytics", "orders")]
    promotions = [command.split("   #")[0] for command in commands if "<that new token>" in command]
    assert promotions == [
        f"pulumi config set --stack prod --path {TOKENS}.{key} <that new token> --plaintext"
        for key in ("billing", "analytics", "orders")
    ]
    promoted = regional.recovery(regional.Progress(source, target, PROMOTED), None)["commands"]
    # Every cluster of prod must follow; dr's other clusters must have promoted before their tokens are removed.
    removal = next(index for index, command in enumerate(promoted) if command.startswith("pulumi config rm"))
    assert promoted[removal].startswith(f"pulumi config rm --stack dr --path {TOKENS} ")
    checks = [command.split(" -n ")[1].split()[0] for command in promoted[:removal] if "pg_is_in_recovery" in command]
    assert checks == ["billing", "analytics", "orders", "analytics", "orders"]
    assert all("before removing the tokens" in command for command in promoted[3:removal])


def test_a_switchover_promoted_on_some_clusters_is_rolled_forward(world: PlatformWorld, tmp_path: Path) -> None:
    world.stuck.add(("dr", MEASURED))
    made = []
    for name in ("prod", "dr"):
        kubeconfig_file = tmp_path / f"{name}.kubeconfig"
        kubeconfig_file.write_text(platform_outputs(name, "")["kubeconfig"])
        kube = PlatformKubectl(MEASURED, str(kubeconfig_file))
        others = tuple(Side(name, name, kube.in_namespace(key), key, "appdb", key) for key in KEYS if key != MEASURED)
        made.append(Side(name, name, kube, MEASURED, "appdb", MEASURED, others))
    options = RegionalOptions(switch_back=False, writes_before=3, timeout=0.2)
    report = run_regional(PlatformPulumi(world), made[0], made[1], lambda: FakeConnection(world), options)  # type: ignore[arg-type, return-value]
    assert report["passed"] is False and "no commit succeeded" in report["error"]
    # analytics and orders promoted: going back would make two primaries; billing keeps its token until it promotes.
    assert report["recovery"]["state"] == "dr was promoted: it is the primary now"
    assert world.config["dr"][f"promotionTokens.{MEASURED}"] == world.cluster("prod", MEASURED).token
