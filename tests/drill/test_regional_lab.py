"""The regional drill lab on real PostgreSQL 18: CNPG's controlled switchover through the WAL archives only."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tools.drill import regional_lab

SUMMARY = re.compile(r"^drill-lab-regional: switchover RTO (\d+\.\d\d) s, RPO (\d+) transactions lost$", re.MULTILINE)
SEGMENT = re.compile(r"[0-9A-F]{24}")


def test_controldata_parsing_keeps_values_with_colons_and_lsns_compare_as_numbers() -> None:
    fields = regional_lab.parse_controldata(
        "Database system identifier:           7713712707492730698\n"
        "Latest checkpoint's REDO location:    0/4000028\n"
        "Time of latest checkpoint:            Sun Nov 29 21:44:55 2026\n"
    )
    assert fields["Time of latest checkpoint"] == "Sun Nov 29 21:44:55 2026"
    assert fields["Latest checkpoint's REDO location"] == "0/4000028"
    assert regional_lab.lsn("1/0") > regional_lab.lsn("0/FFFFFFFF") > regional_lab.lsn("0/4000028")
    with pytest.raises(regional_lab.DrillError, match="TimeLineID"):
        regional_lab.DemotionToken.from_controldata(fields)


def test_switchover_loses_nothing_and_the_old_primary_follows_the_new_timeline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    results: list[regional_lab.RegionalResult] = []
    run = regional_lab.run_regional_lab

    def recording(*args: Any, **kwargs: Any) -> regional_lab.RegionalResult:
        results.append(run(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(regional_lab, "run_regional_lab", recording)
    assert regional_lab.main(["--writes-before", "30", "--writes-after", "30", "--timeout", "30"]) == 0
    output = capsys.readouterr().out
    summaries = SUMMARY.findall(output)
    assert len(summaries) == 1, output
    (result,) = results
    measured, demotion, promotion, token = result.measurement, result.demotion, result.promotion, result.demotion.token

    # RPO 0 and a pause that the switchover, not the bounds, explains.
    assert int(summaries[0][1]) == measured.rpo_transactions == 0
    assert measured.acknowledged >= 60 and measured.acknowledged_after_fault >= 30
    assert 0 < measured.rto_seconds < 15, output

    # The demotion token: every field present, the REDO WAL file names the archived .partial.
    assert all(vars(token).values()), token
    assert SEGMENT.fullmatch(token.redo_wal_file)
    assert demotion.partial_archived == f"{token.redo_wal_file}.partial"
    assert token.timeline_id == "1"
    # T replayed the shutdown checkpoint out of the .partial, and CNPG's check held: same system, timeline and REDO.
    assert promotion.restored_from_partial == (token.redo_wal_file,)
    assert promotion.check["Database system identifier"] == token.system_identifier
    assert promotion.check["Latest checkpoint's TimeLineID"] == token.timeline_id
    assert promotion.check["Latest checkpoint's REDO location"] == token.redo_location
    assert 0 <= promotion.replay_wait_seconds < 15

    # T is primary on a new timeline; S (same data directory, same system) follows it as a standby.
    assert promotion.timeline == int(token.timeline_id) + 1
    assert result.follower_in_recovery
    assert result.followed_timeline == promotion.timeline
    assert result.follower["Database system identifier"] == token.system_identifier
    assert 0 < result.follow_seconds < 20
    assert result.follows
    assert f"timeline 1 -> {promotion.timeline}" in output


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--archive-timeout", "0"], "argument --archive-timeout: '0' is not a whole number of seconds from 1 to 300"),
        (["--stack", "nosuch"], "argument --stack: 'nosuch' has no usable stack file"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        regional_lab.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
