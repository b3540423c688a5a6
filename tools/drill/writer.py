"""The failover measurement shared by the drill lab and the drill against a deployed stack.

``NumberedWriter`` commits numbered rows, one transaction each, through a read-write endpoint
(a ``connect`` callable: the lab asks which instance is primary, the stack drill dials the -rw
Service) and records the moment every commit is acknowledged. After the fault the same
endpoint is asked for the rows that exist; ``measure`` turns both into RTO and RPO:

- RTO: the longest pause in acknowledged commits from the fault on, from the last commit
  acknowledged before the pause to the first after it (a commit or two may still be
  acknowledged between injecting the fault and the primary going down).
- RPO: acknowledged commits missing on the new primary. A commit whose outcome the writer
  never learnt (the connection broke during it) was never acknowledged, so it counts neither way.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

TABLE = "drill_failover_writes"
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    "run_id text NOT NULL, number integer NOT NULL, committed_at timestamptz NOT NULL DEFAULT clock_timestamp(), "
    "PRIMARY KEY (run_id, number))"
)
# libpq options that make a dead server show as an error within seconds instead of a hang:
# a connection that cannot be made, or data the server never acknowledges (a vanished node).
FAIL_FAST_OPTIONS: dict[str, Any] = {"connect_timeout": 3, "tcp_user_timeout": 5000, "keepalives_idle": 5}

Connect = Callable[[], psycopg.Connection[Any]]


class DrillError(RuntimeError):
    """A drill could not run or could not measure; ``str()`` says what happened."""


def database_error(error: psycopg.Error) -> str:
    """One line for a database error: libpq's first line names the host and the cause (refused, no such
    host, timeout, certificate); the hints after it do not."""
    text = str(error).strip()
    return text.splitlines()[0].strip() if text else type(error).__name__


@dataclass(frozen=True)
class Commit:
    number: int
    acknowledged_at: float  # time.monotonic()


@dataclass
class WriterLog:
    """What the writer saw: acknowledged commits in order, and errors with their time."""

    run_id: str
    commits: list[Commit] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)
    unknown_outcome: list[int] = field(default_factory=list)


class NumberedWriter:
    """Commits rows 1, 2, 3 ... of one run in a background thread, bounded in count and time.

    Any error drops the connection; the writer then asks ``connect`` again every
    ``retry_interval`` seconds, as a client behind a switching Service endpoint would.
    """

    def __init__(
        self,
        connect: Connect,
        *,
        max_writes: int,
        max_seconds: float,
        pace_seconds: float = 0.005,
        retry_interval: float = 0.05,
    ) -> None:
        self._connect = connect
        self._max_writes = max_writes
        self._max_seconds = max_seconds
        self._pace_seconds = pace_seconds
        self._retry_interval = retry_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="numbered-writer", daemon=True)
        self.log = WriterLog(run_id=f"drill-{secrets.token_hex(4)}")

    def prepare(self) -> None:
        with self._connect() as connection:
            connection.execute(CREATE_TABLE)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._max_seconds + 30)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def acknowledged_since(self, moment: float) -> int:
        return sum(1 for commit in self.log.commits if commit.acknowledged_at > moment)

    def wait_for_commits(self, count: int, *, after: float, timeout: float) -> bool:
        """Wait until ``count`` commits were acknowledged after ``after``; False when the writer stops or time runs out first."""
        deadline = time.monotonic() + timeout
        while self.acknowledged_since(after) < count:
            if not self.running or time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _run(self) -> None:
        deadline = time.monotonic() + self._max_seconds
        connection: psycopg.Connection[Any] | None = None
        number = 0
        try:
            while not self._stop.is_set() and number < self._max_writes and time.monotonic() < deadline:
                if connection is None:
                    try:
                        connection = self._connect()
                    except psycopg.Error as error:
                        self._failed(error)
                        continue
                number += 1
                try:
                    connection.execute(f"INSERT INTO {TABLE} (run_id, number) VALUES (%s, %s)", (self.log.run_id, number))
                except psycopg.Error as error:
                    self.log.unknown_outcome.append(number)
                    self._failed(error)
                    connection.close()
                    connection = None
                    continue
                self.log.commits.append(Commit(number, time.monotonic()))
                self._stop.wait(self._pace_seconds)
        finally:
            if connection is not None:
                connection.close()

    def _failed(self, error: psycopg.Error) -> None:
        self.log.errors.append((time.monotonic(), database_error(error)))
        self._stop.wait(self._retry_interval)


def committed_numbers(connect: Connect, run_id: str) -> set[int]:
    """The numbers of ``run_id`` that exist on whatever ``connect`` reaches (the new primary)."""
    with connect() as connection:
        rows = connection.execute(f"SELECT number FROM {TABLE} WHERE run_id = %s", (run_id,)).fetchall()
    return {row[0] for row in rows}


def forget_run(connect: Connect, run_id: str) -> None:
    """Delete the run's rows once measured, so repeated drills leave the table small."""
    with connect() as connection:
        connection.execute(f"DELETE FROM {TABLE} WHERE run_id = %s", (run_id,))


@dataclass(frozen=True)
class FailoverMeasurement:
    rto_seconds: float
    lost: tuple[int, ...]  # acknowledged numbers missing afterwards
    acknowledged: int
    acknowledged_after_fault: int
    unknown_outcome: int
    errors: int

    @property
    def rpo_transactions(self) -> int:
        return len(self.lost)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rtoSeconds": round(self.rto_seconds, 3),
            "rpoTransactions": self.rpo_transactions,
            "lostNumbers": list(self.lost),
            "acknowledgedCommits": self.acknowledged,
            "acknowledgedAfterFault": self.acknowledged_after_fault,
            "unknownOutcomeCommits": self.unknown_outcome,
            "writerErrors": self.errors,
        }


def measure(log: WriterLog, fault_at: float, surviving: Collection[int]) -> FailoverMeasurement:
    """RTO and RPO of one failover from the writer's log, the fault's moment and the rows that survived."""
    before: Sequence[Commit] = [commit for commit in log.commits if commit.acknowledged_at <= fault_at]
    after: Sequence[Commit] = [commit for commit in log.commits if commit.acknowledged_at > fault_at]
    if not before:
        raise DrillError("the writer had no acknowledged commit before the fault; nothing to measure from")
    if not after:
        raise DrillError("the writer had no acknowledged commit after the fault: the read-write endpoint did not recover in time")
    around_fault = [before[-1], *after]
    pauses = (later.acknowledged_at - earlier.acknowledged_at for earlier, later in itertools.pairwise(around_fault))
    return FailoverMeasurement(
        rto_seconds=max(pauses),
        lost=tuple(commit.number for commit in log.commits if commit.number not in surviving),
        acknowledged=len(log.commits),
        acknowledged_after_fault=len(after),
        unknown_outcome=len(log.unknown_outcome),
        errors=len(log.errors),
    )


def summary_line(prefix: str, measurement: FailoverMeasurement) -> str:
    return f"{prefix}: failover RTO {measurement.rto_seconds:.2f} s, RPO {measurement.rpo_transactions} transactions lost"
