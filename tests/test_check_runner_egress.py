"""tools/check_runner_egress.py: the runner's egress address against aks.apiServerAuthorizedIpRanges (no network)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from offline.engine import PROJECT_DIR
from tools import check_runner_egress


def _project(tmp_path: Path, stack_text: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: aks-postgres-ha\nruntime: python\n")
    (tmp_path / "Pulumi.ci.yaml").write_text(stack_text)
    return tmp_path


def _stack(ranges: str) -> str:
    return f"config:\n  aks-postgres-ha:aks:\n    apiServerAuthorizedIpRanges: {ranges}\n"


@pytest.mark.parametrize(("stack", "inside"), [("dev", "203.0.113.77"), ("prod", "198.51.100.200")])
def test_shipped_stacks_admit_an_address_inside_their_ranges(stack: str, inside: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_runner_egress.main(["--stack", stack, "--egress-ip", inside], PROJECT_DIR) == 0
    assert f"egress {inside} is inside aks.apiServerAuthorizedIpRanges of stack '{stack}'" in capsys.readouterr().out


def test_outside_address_fails_naming_the_key_the_ranges_and_what_to_add(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, _stack('["203.0.113.0/24", "198.51.100.7/32"]'))
    assert check_runner_egress.main(["--stack", "ci", "--egress-ip", "192.0.2.10"], project) == 1
    error = capsys.readouterr().err
    assert "egress 192.0.2.10 is outside aks.apiServerAuthorizedIpRanges of stack 'ci' (203.0.113.0/24, 198.51.100.7/32)" in error
    assert "pulumi config set --stack ci --path 'aks.apiServerAuthorizedIpRanges[2]' 192.0.2.10/32" in error
    assert "DEV_RUNNER and PROD_RUNNER" in error


def test_single_addresses_and_host_bits_count_as_ranges(tmp_path: Path) -> None:
    project = _project(tmp_path, _stack('["198.51.100.7", "203.0.113.9/24"]'))
    assert check_runner_egress.main(["--stack", "ci", "--egress-ip", "198.51.100.7"], project) == 0
    assert check_runner_egress.main(["--stack", "ci", "--egress-ip", "203.0.113.200"], project) == 0
    assert check_runner_egress.main(["--stack", "ci", "--egress-ip", "198.51.100.8"], project) == 1


@pytest.mark.parametrize(
    ("stack_text", "egress", "expected"),
    [
        (_stack("[]"), "192.0.2.1", "aks.apiServerAuthorizedIpRanges is []; it must list the networks"),
        ("config:\n  aks-postgres-ha:location: x\n", "192.0.2.1", "aks.apiServerAuthorizedIpRanges is None"),
        (_stack('["10.0.0.0/33"]'), "192.0.2.1", "aks.apiServerAuthorizedIpRanges[0] is '10.0.0.0/33', which is not"),
        ("config: [unclosed\n", "192.0.2.1", "Pulumi.ci.yaml: cannot be read as YAML"),
        (_stack('["203.0.113.0/24"]'), "not-an-ip", "egress address 'not-an-ip' is not an IP address"),
    ],
)
def test_unreadable_input_is_exit_2_with_a_sentence(
    tmp_path: Path, stack_text: str, egress: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, stack_text)
    assert check_runner_egress.main(["--stack", "ci", "--egress-ip", egress], project) == 2
    assert expected in capsys.readouterr().err


def test_missing_stack_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path, _stack('["203.0.113.0/24"]'))
    assert check_runner_egress.main(["--stack", "staging", "--egress-ip", "203.0.113.1"], project) == 2
    assert "Pulumi.staging.yaml: cannot be read as YAML ([Errno 2]" in capsys.readouterr().err


def test_lookup_failure_asks_for_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    project = _project(tmp_path, _stack('["203.0.113.0/24"]'))
    assert check_runner_egress.main(["--stack", "ci"], project) == 2
    assert "cannot learn this runner's egress address from https://api.ipify.org" in capsys.readouterr().err
