"""The pack starts under the Pulumi CLI's contract: PulumiPolicy.yaml picks the interpreter, cwd is the pack.

What the CLI does is read from pulumi/pulumi (``offline/policy_launch.py`` says where); these tests hold
the project to it, so ``pulumi preview --policy-pack policies`` after ``make setup`` starts the pack.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import pytest
import yaml

from offline.engine import PROJECT_DIR
from offline.policy_client import POLICY_PACK_DIR, PolicyPackError, PolicyPackSession
from offline.policy_launch import PACK_FILE, PolicyPackLaunchError, launch


def _pack_copy(tmp_path: Path, runtime: object) -> Path:
    """The project's pack in a scratch folder, with ``runtime`` in its PulumiPolicy.yaml."""
    pack = tmp_path / "pack"
    shutil.copytree(POLICY_PACK_DIR, pack, ignore=shutil.ignore_patterns("__pycache__"))
    project = yaml.safe_load((pack / PACK_FILE).read_text())
    project["runtime"] = runtime
    (pack / PACK_FILE).write_text(yaml.safe_dump(project))
    return pack


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_shipped_pack_runs_with_the_project_virtualenv_that_make_setup_creates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the CLI resolves against the pack folder, not wherever it was started
    start = launch(POLICY_PACK_DIR, "127.0.0.1:12345")
    assert start.argv == (
        str(PROJECT_DIR / ".venv" / "bin" / "python"),
        "-u",
        "-m",
        "pulumi.policy",
        "127.0.0.1:12345",
        str(POLICY_PACK_DIR),
    )
    assert start.cwd == POLICY_PACK_DIR
    assert start.env["VIRTUAL_ENV"] == str(PROJECT_DIR / ".venv")
    assert start.env["PATH"].split(os.pathsep)[0] == str(PROJECT_DIR / ".venv" / "bin")


def test_shipped_pack_starts_and_answers_the_engine_handshake() -> None:
    # PolicyPackSession starts the pack through launch(), reads the port it prints, then calls
    # Handshake (unimplemented by Python packs, tolerated like the engine does) and GetAnalyzerInfo.
    with PolicyPackSession(POLICY_PACK_DIR) as session:
        report = session.analyze([], "dev")
    assert len(report.policies) > 20
    assert report.violations == ()


def test_relative_virtualenv_is_taken_from_the_pack_folder_with_the_cli_argv_and_environment(tmp_path: Path) -> None:
    # A stand-in interpreter that records how it was started, then runs the real pack.
    record = tmp_path / "launched"
    _executable(
        tmp_path / "other-venv" / "bin" / "python",
        f'#!/bin/sh\nprintf "%s\\n" "$(pwd -P)" "$VIRTUAL_ENV" "$@" > "{record}"\nexec "{sys.executable}" "$@"\n',
    )
    pack = _pack_copy(tmp_path, {"name": "python", "options": {"toolchain": "pip", "virtualenv": "../other-venv"}})
    with PolicyPackSession(pack) as session:
        assert session.running
    cwd, virtual_env, *argv = record.read_text().splitlines()
    assert Path(cwd) == pack.resolve()
    assert virtual_env == str(tmp_path / "other-venv")
    assert argv == ["-u", "-m", "pulumi.policy", "127.0.0.1:0", str(pack.resolve())]


@pytest.mark.parametrize(
    ("make_folder", "state"), [(False, "doesn't exist"), (True, "doesn't appear to be a virtual environment")]
)
def test_missing_virtualenv_stops_the_start_with_the_key_the_value_and_the_fix(
    tmp_path: Path, make_folder: bool, state: str
) -> None:
    pack = _pack_copy(tmp_path, {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}})
    if make_folder:
        (pack / "venv").mkdir()
    with pytest.raises(PolicyPackError) as raised:
        PolicyPackSession(pack).start()
    message = str(raised.value)
    assert f"runtime.options.virtualenv is 'venv', but {pack / 'venv'} {state}" in message
    assert "run: make setup" in message


def test_without_virtualenv_the_cli_takes_python3_from_path(tmp_path: Path) -> None:
    pack = _pack_copy(tmp_path, "python")
    bin_dir = tmp_path / "bin"
    python3 = _executable(bin_dir / "python3", "#!/bin/sh\n")
    python = _executable(bin_dir / "python", "#!/bin/sh\n")
    environ = {"PATH": str(bin_dir), "PYTHONHOME": "/kept"}
    start = launch(pack, "127.0.0.1:0", environ)
    assert start.interpreter == str(python3)
    assert start.env == environ  # nothing activated
    assert launch(pack, "127.0.0.1:0", {**environ, "PULUMI_PYTHON_CMD": "python"}).interpreter == str(python)
    with pytest.raises(PolicyPackLaunchError, match=r"none of \['python3', 'python'\] is on PATH"):
        launch(pack, "127.0.0.1:0", {"PATH": str(tmp_path / "empty")})


@pytest.mark.parametrize(
    ("runtime", "expected"),
    [
        ({"name": "python", "options": {"toolchain": "uv"}}, "runtime.options.toolchain is 'uv'"),
        ({"name": "python", "options": {"virtualenv": ""}}, "runtime.options.virtualenv is ''; it must be a non-empty path"),
        ({"name": "nodejs"}, "runtime is {'name': 'nodejs'}; this pack must use runtime 'python'"),
    ],
)
def test_unusable_runtime_is_refused_naming_the_key(tmp_path: Path, runtime: object, expected: str) -> None:
    with pytest.raises(PolicyPackLaunchError, match=expected.replace("{", r"\{").replace("}", r"\}")):
        launch(_pack_copy(tmp_path, runtime), "127.0.0.1:0")
