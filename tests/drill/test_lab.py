"""The drill lab on real PostgreSQL 18: RPO 0 under quorum commit, and the one summary line."""

from __future__ import annotations

import re

import pytest

from tools.drill import lab
from tools.drill.writer import Commit, DrillError, WriterLog, measure

SUMMARY = re.compile(r"^drill-lab: failover RTO (\d+\.\d\d) s, RPO (\d+) transactions lost$", re.MULTILINE)


def test_synchronous_standby_names_is_cnpgs_rendering_of_the_programs_spec() -> None:
    synchronous = lab.program_synchronous("pg-primary", lab.stack_postgres("dev"))
    names = lab.instance_names("pg-primary", 3)
    assert lab.synchronous_standby_names(synchronous, names, "pg-primary-1", {"pg-primary-3"}) == (
        'ANY 1 ("pg-primary-3","pg-primary-2","pg-primary-1")'
    )
    assert (
        lab.synchronous_standby_names(
            {**synchronous, "standbyNamesPre": ['a"b'], "maxStandbyNamesFromCluster": 1}, names, "pg-primary-2", set(names)
        )
        == 'ANY 1 ("a""b","pg-primary-1")'
    )


def test_measure_takes_the_longest_pause_from_the_fault_and_counts_missing_acknowledged_commits() -> None:
    log = WriterLog("run", commits=[Commit(1, 1.0), Commit(2, 2.0), Commit(3, 2.1), Commit(4, 5.6), Commit(5, 5.7)])
    measured = measure(log, fault_at=2.05, surviving={1, 2, 4, 5})
    assert measured.rto_seconds == pytest.approx(3.5)
    assert measured.lost == (3,)
    with pytest.raises(DrillError, match="after the fault"):
        measure(log, fault_at=9.0, surviving=set())


def test_lab_fails_over_without_losing_an_acknowledged_commit(capsys: pytest.CaptureFixture[str]) -> None:
    assert lab.main(["--writes-before", "40", "--writes-after", "40", "--timeout", "30"]) == 0
    output = capsys.readouterr().out
    summaries = SUMMARY.findall(output)
    assert len(summaries) == 1, output
    rto, rpo = summaries[0]
    assert int(rpo) == 0
    assert 0 < float(rto) < 15, output
    assert 'synchronous_standby_names before: ANY 1 ("pg-primary-2","pg-primary-3","pg-primary-1")' in output


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--writes-before", "0"], "argument --writes-before: '0' is not a whole number from 1 to 100000"),
        (["--timeout", "soon"], "argument --timeout: 'soon' is not a number of seconds from 1 to 600"),
        (["--stack", "nosuch"], "argument --stack: 'nosuch' has no usable stack file"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        lab.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
