"""The hashed locks every install uses (`make setup`, the checkov venv, CI) agree with the requirements files.

The requirements files hold the pins a person edits; the locks (`make lock`, uv) hold the whole closure with a
hash for every file. A pin changed in one but not the other fails here, so the two cannot drift.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from offline.engine import PROJECT_DIR

# (lock, the requirements file it was compiled from)
LOCKS = [
    ("requirements.lock", "requirements.txt"),
    ("requirements-dev.lock", "requirements-dev.txt"),
    ("tools/requirements-checkov.lock", "tools/requirements-checkov.txt"),
]
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")
_INCLUDE = re.compile(r"^-r\s+(\S+)$")


def _name(raw: str) -> str:
    """PEP 503 normalised name: `PyYAML`, `pyyaml` and `py_yaml` are one package."""
    return re.sub(r"[-_.]+", "-", raw).lower()


def _requirements(path: Path) -> dict[str, str]:
    """name -> version of every pin in a requirements file and the files it includes (-r)."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if include := _INCLUDE.match(line):
            pins |= _requirements(path.parent / include.group(1))
            continue
        pin = _PIN.match(line)
        assert pin, f"{path.name}: {line!r} is not an exact pin (name==version)"
        pins[_name(pin.group("name"))] = pin.group("version")
    return pins


def _lock(path: Path) -> dict[str, tuple[str, set[str], int]]:
    """name -> (version, what it is required by (uv's `# via` lines), number of hashes) for each entry."""
    entries: dict[str, tuple[str, set[str], int]] = {}
    current = ""
    for line in path.read_text().splitlines():
        if pin := _PIN.match(line):
            current = _name(pin.group("name"))
            assert current not in entries, f"{path.name}: {current} listed twice"
            entries[current] = (pin.group("version"), set(), 0)
        elif current and (found := re.search(r"--hash=sha256:[0-9a-f]{64}", line)):
            version, via, hashes = entries[current]
            entries[current] = (version, via, hashes + bool(found))
        elif current and (via_line := re.match(r"^\s+#\s+(?:via\s+)?(\S.*)$", line)) and via_line.group(1) != "via":
            entries[current][1].add(via_line.group(1).strip())
    return entries


@pytest.mark.parametrize(("lock", "source"), LOCKS)
def test_the_lock_pins_exactly_what_its_requirements_pin(lock: str, source: str) -> None:
    requirements = _requirements(PROJECT_DIR / source)
    entries = _lock(PROJECT_DIR / lock)
    # Top-level entries: those a requirements file asks for (uv annotates them "-r <file>").
    top_level = {name: version for name, (version, via, _) in entries.items() if any(v.startswith("-r ") for v in via)}
    assert top_level == requirements, f"{lock} is stale against {source}: run `make lock`"


@pytest.mark.parametrize(("lock", "source"), LOCKS)
def test_every_locked_package_has_hashes(lock: str, source: str) -> None:
    entries = _lock(PROJECT_DIR / lock)
    assert len(entries) > len(_requirements(PROJECT_DIR / source))  # the closure, not just the pins
    assert [name for name, (_, _, hashes) in entries.items() if hashes == 0] == []


def test_the_policy_packs_pins_are_in_the_runtime_lock() -> None:
    # The pack runs in .venv (PulumiPolicy.yaml), which the locks fill: its own file is documentation only.
    runtime = {name: version for name, (version, _, _) in _lock(PROJECT_DIR / "requirements.lock").items()}
    pack = _requirements(PROJECT_DIR / "policies" / "requirements.txt")
    assert {name: runtime.get(name) for name in pack} == pack


def test_the_dev_lock_holds_the_runtime_lock() -> None:
    # `make setup` installs requirements-dev.lock only: the program must get the versions CI deploys with.
    runtime = {name: version for name, (version, _, _) in _lock(PROJECT_DIR / "requirements.lock").items()}
    dev = {name: version for name, (version, _, _) in _lock(PROJECT_DIR / "requirements-dev.lock").items()}
    assert {name: dev.get(name) for name in runtime} == runtime


def test_make_installs_only_from_hashed_locks() -> None:
    makefile = (PROJECT_DIR / "Makefile").read_text()
    installs = re.findall(r"^PIP_INSTALL_LOCK := (.*)$", makefile, re.MULTILINE)
    assert installs == ["pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r"]
    # Every recipe line that installs goes through it, with a lock.
    recipe_installs = [line.strip() for line in makefile.splitlines() if line.startswith("\t") and "pip install" in line]
    assert recipe_installs == []
    locks = re.findall(r"\$\(PIP_INSTALL_LOCK\) (\S+)", makefile)
    assert sorted(locks) == ["requirements-dev.lock", "tools/requirements-checkov.lock"]
