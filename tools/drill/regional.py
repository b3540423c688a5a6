"""Regional switchover drill: move the primary from stack S to stack T through Pulumi, under a writer.

The two stacks run one CNPG distributed topology (``disasterRecovery`` config; README "Disaster
recovery"). The drill drives CNPG's controlled switchover the way an operator would, through stack
config and ``pulumi up`` so each stack's state keeps matching its Cluster:

1. Demote S: ``disasterRecovery.primary: T`` on S (any old ``promotionToken`` removed), ``pulumi up``
   on S. CNPG stops writes, archives the shutdown checkpoint's WAL as ``.partial`` and writes
   ``.status.demotionToken`` on S's Cluster.
2. Wait for a demotion token different from any seen before, and check it as CNPG's webhook would.
3. Promote T: ``disasterRecovery.primary: T`` and ``promotionToken: <token>`` on T (both in one
   ``pulumi up``: a promotion without the token would be a failover). CNPG waits until T replayed
   the WAL up to the token's LSN, then promotes T.
4. S follows T from T's archive: its designated primary stays in recovery and receives T's writes.
5. The used token is removed from T's config (``pulumi up`` again; CNPG only reads it while promoting).

A ``NumberedWriter`` commits through S's and T's read-write endpoints (libpq tries S, then T, and
keeps the one that accepts writes). RTO: the pause in acknowledged commits around the switchover;
RPO: acknowledged commits missing on T. ``switch_back`` repeats everything with the roles reversed.

A pair of platform stacks (``clusters``) has one ``primary`` per stack, so a switchover moves every
cluster: each demoted cluster writes its own token, and T is promoted with all of them at once, under
``promotionTokens.<cluster>`` (settings refuse a platform's promotion lacking one). The writer measures
one cluster (``Side``); the others (``Side.others``) are checked promoted and demoted alongside it.

Nothing is reverted automatically when a step fails: until T's promotion is confirmed, CNPG may
still promote T once it has replayed up to the token, so the report lists the commands that make
the recovery safe, in order, and why (``recovery``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from settings.disaster_recovery import (
    CONFIG_KEY,
    demotion_token_content,
    demotion_token_problem,
)
from tools.drill.failover import primary_pod, primary_selector
from tools.drill.kube import Kubectl, wait_until
from tools.drill.pulumi_cli import POLICY_PACK, PulumiCli, policy_config
from tools.drill.writer import (
    TABLE,
    Connect,
    DrillError,
    NumberedWriter,
    committed_numbers,
    database_error,
    forget_run,
    measure,
    summary_line,
)

PRIMARY_PATH = f"{CONFIG_KEY}.primary"
TOKEN_PATH = f"{CONFIG_KEY}.promotionToken"
TOKENS_PATH = f"{CONFIG_KEY}.promotionTokens"
CLUSTER_KIND = "clusters.postgresql.cnpg.io"
TOKEN_REPORTED = ("redoWalFile", "latestCheckpointREDOLocation", "latestCheckpointTimelineID", "timeOfLatestCheckpoint")
POLL_SECONDS = 10.0  # read when the options are built; the tests set it to 0
WRITER_MAX_SECONDS = 6 * 3600.0  # a bound for the writer thread; the drill stops it long before
WRITER_PACE_SECONDS = 0.02

# Where a direction stopped; decides the recovery.
NOT_STARTED, DEMOTING, PROMOTING, PROMOTED = "not-started", "demoting", "promoting", "promoted"


class RefusedError(DrillError):
    """A precondition found before anything was changed (the command exits 2)."""


@dataclass(frozen=True)
class Side:
    """One stack of the pair: its name as given, its short name, its cluster."""

    stack: str
    name: str
    kube: Kubectl
    cluster: str
    database: str
    platform_key: str | None = None
    """The cluster's name in a platform stack's ``clusters`` (None: a one-cluster stack)."""
    others: tuple[Side, ...] = ()
    """A platform's other clusters: ``primary`` is the stack's, so a switchover moves them too."""

    @property
    def clusters(self) -> tuple[Side, ...]:
        return (self, *self.others)

    @property
    def token_path(self) -> str:
        """Where the promotion config takes this cluster's namesake's demotion token."""
        return TOKEN_PATH if self.platform_key is None else f"{TOKENS_PATH}.{self.platform_key}"

    @property
    def tokens_path(self) -> str:
        """The stack's promotion token config, all of it: what demoting removes."""
        return TOKEN_PATH if self.platform_key is None else TOKENS_PATH

    def where(self) -> str:
        """``name``, or ``name/key`` for a platform's cluster (for messages)."""
        return self.name if self.platform_key is None else f"{self.name}/{self.platform_key}"


@dataclass(frozen=True)
class RegionalOptions:
    switch_back: bool
    writes_before: int
    timeout: float
    poll_seconds: float = field(default_factory=lambda: POLL_SECONDS)


@dataclass
class Progress:
    """What one direction changed so far (for the recovery if a later step fails)."""

    source: Side
    target: Side
    stage: str = NOT_STARTED


def demotion_token(side: Side) -> str | None:
    token = side.kube.get(CLUSTER_KIND, side.cluster).get("status", {}).get("demotionToken")
    return token if isinstance(token, str) and token else None


def _primary_pod(side: Side) -> str:
    try:
        name: str = primary_pod(side.kube, side.cluster)["metadata"]["name"]
    except DrillError as error:
        raise DrillError(f"{side.name}: {error}") from None
    return name


def in_recovery(side: Side) -> bool:
    """Whether the (designated) primary instance of ``side``'s Cluster is in recovery: a replica cluster."""
    rows = side.kube.psql(_primary_pod(side), side.database, "SELECT pg_is_in_recovery()")
    return rows == [["t"]]


def following(side: Side, run_id: str, number: int) -> bool:
    """``side`` is a replica cluster that has replayed the writer's row ``number`` (written on its peer)."""
    sql = (
        f"SELECT pg_is_in_recovery(), EXISTS (SELECT 1 FROM {TABLE} "
        f"WHERE run_id = '{run_id.replace(chr(39), '')}' AND number = {int(number)})"
    )
    try:
        rows = side.kube.psql(_primary_pod(side), side.database, sql)
    except DrillError:  # the instance restarts while it turns into a replica
        return False
    return rows == [["t", "t"]]


def config_snapshot(pulumi: PulumiCli, sides: tuple[Side, Side]) -> dict[str, dict[str, str | None]]:
    return {
        side.name: {path.rsplit(".", 1)[-1]: pulumi.config_get(side.stack, path) for path in (PRIMARY_PATH, side.tokens_path)}
        for side in sides
    }


def _shown(value: str | None) -> str | None:
    return value if value is None or len(value) <= 24 else value[:20] + "..."


def _config_report(before: dict[str, dict[str, str | None]], after: dict[str, dict[str, str | None]] | None) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for name, values in before.items():
        now = None if after is None else after[name]
        files[f"Pulumi.{name}.yaml"] = {
            "before": {key: _shown(value) for key, value in values.items()},
            "after": None if now is None else {key: _shown(value) for key, value in now.items()},
            "changed": None if now is None else now != values,
        }
    return files


@contextmanager
def _database(what: str) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as error:
        raise DrillError(f"{what}: {database_error(error)}") from None


def _wait_for_new_token(side: Side, previous: str | None, options: RegionalOptions) -> str:
    found: list[str] = []

    def new_token() -> bool:
        token = demotion_token(side)
        if token is not None and token != previous:
            found.append(token)
            return True
        return False

    what = f"a new .status.demotionToken on {side.name}'s Cluster {side.cluster}"
    if side.platform_key is not None:
        what += f" (namespace {side.kube.namespace})"
    wait_until(new_token, options.timeout, what, options.poll_seconds)
    return found[-1]


def _wait_for_role(side: Side, promoted: bool, what: str, options: RegionalOptions) -> None:
    """Wait until a platform's other cluster ``side`` is primary (``promoted``) or a replica cluster."""
    wait_until(lambda: _promoted(side) is promoted, options.timeout, f"{side.where()}'s primary {what}", options.poll_seconds)


def switchover(
    pulumi: PulumiCli, source: Side, target: Side, connect: Connect, options: RegionalOptions, progress: Progress
) -> dict[str, Any]:
    """One controlled switchover source → target under a writer; its figures. Raises DrillError."""
    for cluster in source.clusters:
        if in_recovery(cluster):
            raise DrillError(f"{cluster.name}'s Cluster {cluster.cluster} is in recovery: not the primary to switch over from")
    for cluster in target.clusters:
        if not in_recovery(cluster):
            raise DrillError(f"{cluster.name}'s Cluster {cluster.cluster} accepts writes: it must be a replica cluster first")
    # One left by an earlier demotion is not this one's.
    previous_tokens = {cluster.token_path: demotion_token(cluster) for cluster in source.clusters}
    writer = NumberedWriter(connect, max_writes=100_000_000, max_seconds=WRITER_MAX_SECONDS, pace_seconds=WRITER_PACE_SECONDS)
    with _database("the writer could not create its table through the read-write endpoints"):
        writer.prepare()
    writer.start()
    try:
        if not writer.wait_for_commits(options.writes_before, after=0.0, timeout=options.timeout):
            raise DrillError(f"the writer did not commit {options.writes_before} rows on {source.name} before the switchover")
        started = time.monotonic()
        progress.stage = DEMOTING
        pulumi.config_set(source.stack, PRIMARY_PATH, target.name)
        if pulumi.config_get(source.stack, source.tokens_path) is not None:
            pulumi.config_rm(source.stack, source.tokens_path)  # it promoted this stack once; a replica must not carry one
        pulumi.up(source.stack)
        # Every demoted cluster's token: a platform's target is promoted with all of them in one pulumi up.
        tokens = {cluster.token_path: _wait_for_new_token(cluster, previous_tokens[cluster.token_path], options)
                  for cluster in source.clusters}  # fmt: skip
        token = tokens[source.token_path]
        token_seconds = time.monotonic() - started
        for cluster in source.clusters:
            problem = demotion_token_problem(tokens[cluster.token_path])
            if problem:
                raise DrillError(f"{cluster.where()}'s .status.demotionToken {problem}; {target.name} was not promoted")
        progress.stage = PROMOTING
        promotion_started = time.monotonic()
        pulumi.config_set(target.stack, PRIMARY_PATH, target.name)
        for path, demoted in tokens.items():  # the namesakes share the key
            pulumi.config_set(target.stack, path, demoted)
        pulumi.up(target.stack)
        if not writer.wait_for_commits(1, after=promotion_started, timeout=options.timeout):
            raise DrillError(f"no commit succeeded through the read-write endpoints after promoting {target.name}")
        if in_recovery(target):
            raise DrillError(f"a commit succeeded, but {target.name}'s primary is still in recovery: it went elsewhere")
        for cluster in target.others:
            _wait_for_role(cluster, True, "accepting writes (promoted with its token)", options)
        progress.stage = PROMOTED
        writable_seconds = next(c.acknowledged_at for c in writer.log.commits if c.acknowledged_at > promotion_started) - started
    finally:
        writer.stop()
    with _database(f"reading the writer's rows on {target.name}"):
        measurement = measure(writer.log, started, committed_numbers(connect, writer.log.run_id))
    last = writer.log.commits[-1].number
    wait_until(
        lambda: following(source, writer.log.run_id, last), options.timeout,
        f"{source.name} following {target.name} (in recovery, with the writer's last row {last})", options.poll_seconds,
    )  # fmt: skip
    following_seconds = time.monotonic() - started
    with _database(f"deleting the writer's rows on {target.name}"):
        forget_run(connect, writer.log.run_id)
    for cluster in source.others:
        _wait_for_role(cluster, False, f"in recovery, following {target.name}", options)
    pulumi.config_rm(target.stack, target.tokens_path)  # used; CNPG reads it only while promoting
    pulumi.up(target.stack)
    return {
        "from": source.name,
        "to": target.name,
        **measurement.as_dict(),
        "demotionTokenSeconds": round(token_seconds, 1),
        "targetWritableSeconds": round(writable_seconds, 1),
        "sourceFollowingSeconds": round(following_seconds, 1),
        "demotionToken": {key: demotion_token_content(token).get(key) for key in TOKEN_REPORTED},
        "summary": (
            summary_line(f"{source.name} -> {target.name}", measurement) + f" (demotion token after {token_seconds:.0f} s, "
            f"{target.name} writable after {writable_seconds:.0f} s, {source.name} following after {following_seconds:.0f} s)"
        ),
    }  # fmt: skip


def _command(*words: str) -> str:
    return " ".join(words)


def _set_primary(side: Side, primary: str) -> str:
    return _command("pulumi config set --stack", side.stack, "--path", PRIMARY_PATH, primary)


def _up(side: Side) -> str:
    return _command(
        "pulumi up --stack", side.stack, "--yes --policy-pack", POLICY_PACK, "--policy-pack-config", policy_config(side.stack)
    )


def _check_recovery(side: Side) -> str:
    pod = f"$(kubectl get pods -n {side.kube.namespace} -l {primary_selector(side.cluster)} -o name)"
    return _command("kubectl exec -n", side.kube.namespace, pod, "-c postgres -- psql -XAt -d", side.database,
                    "-c 'SELECT pg_is_in_recovery()'")  # fmt: skip


def recovery(progress: Progress, target_promoted: bool | None) -> dict[str, Any]:
    """How to get back to one primary after a direction failed at ``progress.stage``; ``target_promoted``:
    whether the target's primary accepted writes when the drill stopped (None: could not tell)."""
    source, target = progress.source, progress.target
    if progress.stage == NOT_STARTED:
        return {"state": "nothing was changed", "commands": []}
    if progress.stage == PROMOTED or target_promoted:
        return {
            "state": f"{target.name} was promoted: it is the primary now",
            "why": (
                f"{target.name} accepts writes, so re-promoting {source.name} would create a second primary. The switchover "
                f"itself happened; {source.name} should follow {target.name} from its archive (its primary in recovery)."
            ),
            "commands": [
                *(_check_recovery(side) + f"   # on {source.name}'s cluster: t once it follows" for side in source.clusters),
                # A platform's other clusters promote once each replayed up to its token: keep the tokens until then.
                *(
                    _check_recovery(side) + f"   # on {target.name}'s cluster: f once promoted, before removing the tokens"
                    for side in target.others
                ),
                _command(
                    "pulumi config rm --stack",
                    target.stack,
                    "--path",
                    target.tokens_path,
                    f"   # if Pulumi.{target.name}.yaml still holds the used token, then:",
                ),
                _up(target),
                f"git add Pulumi.{source.name}.yaml Pulumi.{target.name}.yaml   # the stacks' config now names {target.name}",
            ],
        }
    if progress.stage == DEMOTING:
        return {
            "state": f"{source.name} was (being) demoted; {target.name} was not touched",
            "why": (
                f"{target.name} never got a promotion token nor primary: {target.name}, so it is still a replica of "
                f"{source.name}'s timeline and has replayed at most up to {source.name}'s shutdown checkpoint. "
                f"{source.name}'s demoted primary holds every acknowledged commit: making {source.name} primary again "
                f"without a token (CNPG promotes it at once, on a new timeline) loses nothing, and {target.name} follows "
                "the new timeline from its archive."
            ),
            "commands": [_set_primary(source, source.name), _up(source)],
        }
    return {
        "state": f"{source.name} was demoted; {target.name} got the promotion token but its promotion was not confirmed",
        "why": (
            f"CNPG may still promote {target.name} once it has replayed up to the token's LSN, so {target.name} is first "
            f"told to stay a replica of {source.name} (primary: {source.name}, no token). If it had promoted meanwhile, "
            f"that demotes it again and it writes a new .status.demotionToken: then {source.name} must be promoted with "
            f"that token (a controlled switchover back, nothing lost). If {target.name} never promoted, {source.name} "
            "holds every acknowledged commit and is promoted without a token, as after a failed demotion."
        ),
        "commands": [
            _set_primary(target, source.name),
            _command("pulumi config rm --stack", target.stack, "--path", target.tokens_path),
            _up(target),
            *(_check_recovery(cluster) + f"   # on {target.name}'s cluster: must print t" for cluster in target.clusters),
            *(_command("kubectl get", CLUSTER_KIND, cluster.cluster, "-n", cluster.kube.namespace,
                       "-o jsonpath='{.status.demotionToken}'", f"   # on {target.name}'s cluster: new since the drill?")
              for cluster in target.clusters),
            _set_primary(source, source.name),
            *(_command("pulumi config set --stack", source.stack, "--path", cluster.token_path, "<that new token>",
                       f"--plaintext   # only if {cluster.where()} wrote a new token above")
              for cluster in target.clusters),
            _up(source),
        ],
    }  # fmt: skip


def _target_promoted(target: Side) -> bool | None:
    """Whether one of ``target``'s clusters was promoted (then the switchover goes forward: the others hold their
    tokens); None when one could not be asked."""
    states = [_promoted(cluster) for cluster in target.clusters]
    return True if True in states else None if None in states else False


def _promoted(side: Side) -> bool | None:
    """Whether ``side``'s primary accepts writes; None while it cannot be asked (an instance restarting)."""
    try:
        return not in_recovery(side)
    except DrillError:
        return None


def run_regional(pulumi: PulumiCli, source: Side, target: Side, connect: Connect, options: RegionalOptions) -> dict[str, Any]:
    """The drill's report. Raises RefusedError before changing anything, DrillError when it failed before any change;
    after a change, a failure is reported (``passed`` false, ``error``, ``recovery``)."""
    before = config_snapshot(pulumi, (source, target))
    for side in (source, target):
        if before[side.name]["primary"] != source.name:
            raise RefusedError(
                f"Pulumi.{side.name}.yaml has {PRIMARY_PATH}: {before[side.name]['primary']!r}, but the deployed stacks say "
                f"{source.name!r}: deploy or revert that config change first (the drill must start from the deployed state)"
            )
    directions = [(source, target), (target, source)] if options.switch_back else [(source, target)]
    report: dict[str, Any] = {"drill": "regional"}
    results: list[dict[str, Any]] = []
    failure: tuple[DrillError, Progress] | None = None
    for from_side, to_side in directions:
        progress = Progress(from_side, to_side)
        try:
            results.append(switchover(pulumi, from_side, to_side, connect, options, progress))
        except DrillError as error:
            if progress.stage == NOT_STARTED and not results:
                raise
            failure = (error, progress)
            break
    try:
        after: dict[str, dict[str, str | None]] | None = config_snapshot(pulumi, (source, target))
    except DrillError:
        after = None
    files = _config_report(before, after)
    changed = [name for name, entry in files.items() if entry["changed"] is not False]
    if results:
        report.update({key: value for key, value in results[0].items() if key != "summary"})
    if len(results) > 1:
        report["switchBack"] = {key: value for key, value in results[1].items() if key != "summary"}
    report["configFiles"] = files
    report["configFilesToCommit"] = changed
    summary = "drill: regional switchover " + ("; ".join(result["summary"] for result in results) or "not completed")
    if failure is not None:
        problem, stopped = failure
        report["error"] = str(problem)
        report["recovery"] = recovery(stopped, None if stopped.stage == PROMOTED else _target_promoted(stopped.target))
        summary += f"; stopped during {stopped.source.name} -> {stopped.target.name} ({stopped.stage}): {problem}"
    if changed:
        summary += f"; stack config changed: commit {', '.join(changed)}"
    report["summary"] = summary
    report["passed"] = failure is None and all(result["rpoTransactions"] == 0 for result in results)
    return report
