"""The README stays true: its configuration reference is the settings model's, and the
commands it names exist."""

from __future__ import annotations

from pathlib import Path

from tools.config_reference import END, START, render_reference

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_configuration_reference_matches_the_settings_model() -> None:
    section = README[README.index(START) : README.index(END) + len(END)]
    assert section == render_reference(), "run: .venv/bin/python tools/config_reference.py --write README.md"


def test_every_stack_file_sets_every_top_level_setting() -> None:
    import yaml

    from settings import PROJECT, Settings

    # A one-time import (migration) is set only for the first deployment of a stack that imports.
    every = {field.alias or name for name, field in Settings.model_fields.items()} - {"migration"}
    # Only a disaster-recovery stack names the primary it follows; only the platform stack lists clusters.
    one_cluster = every - {"clusters"}
    for stack, expected in (
        ("dev", one_cluster - {"disasterRecovery"}),
        ("prod", one_cluster - {"disasterRecovery"}),
        ("dr", one_cluster),
        ("platform", every - {"disasterRecovery"}),
    ):
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        keys = {key.removeprefix(f"{PROJECT}:") for key in config}
        assert keys == expected, (stack, keys ^ expected)


def test_readme_commands_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("render:", "test:", "setup:", "lint:", "bench:"):
        assert f"\n{target}" in makefile
    assert "make render STACK=prod" in README and "make test" in README
    assert "bash .ci/run" not in README or (ROOT / ".ci" / "run").exists()
