"""Policy strictness follows the stack's environment setting, not its name (findings B7).

The render and the policy client pick ``policies/config.<environment>.json``; a stack whose
environment has no policy configuration does not render at all; a stack named as production cannot
say ``environment: dev``.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
import yaml

from offline import render
from offline.engine import PROJECT_DIR, run_stack, stack_config
from offline.policy_client import POLICY_PACK_DIR, PolicyPackError, PolicyPackSession, load_policy_config, policy_config_path

P = "aks-postgres-ha:"


def test_the_policy_configuration_is_chosen_by_environment() -> None:
    dr = stack_config("dr")
    assert dr[P + "environment"] == "prod"
    assert policy_config_path(dr) == POLICY_PACK_DIR / "config.prod.json"
    assert policy_config_path({**stack_config("prod"), P + "environment": "dev"}) == POLICY_PACK_DIR / "config.dev.json"
    # Each shipped configuration names the environment it is for.
    for environment in ("dev", "prod"):
        shipped = load_policy_config({P + "environment": environment})
        assert shipped["policy-config-environment"] == {"environment": environment}


def test_a_stack_named_configuration_is_its_environments_word_for_word() -> None:
    # CI passes policies/config.<stack>.json (the Pulumi action, tools/drill/pulumi_cli.py); the pack
    # only checks the environment it names, so a stack-named file must not drift from its environment's.
    for path in sorted(POLICY_PACK_DIR.glob("config.*.json")):
        configuration = json.loads(path.read_text())
        environment = configuration["policy-config-environment"]["environment"]
        assert configuration == json.loads((POLICY_PACK_DIR / f"config.{environment}.json").read_text()), path.name


def test_a_missing_policy_configuration_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyPackError, match=r"no policy configuration config.prod.json for aks-postgres-ha:environment 'prod'"):
        load_policy_config({P + "environment": "prod"}, tmp_path)
    with pytest.raises(PolicyPackError, match="aks-postgres-ha:environment is not set"):
        load_policy_config({})


def _pack_without(tmp_path: Path, missing: str) -> Path:
    """A copy of the pack without one configuration file, run with the project's virtualenv."""
    pack = tmp_path / "policies"
    shutil.copytree(POLICY_PACK_DIR, pack, ignore=shutil.ignore_patterns("__pycache__"))
    (pack / missing).unlink()
    definition = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())
    definition["runtime"]["options"]["virtualenv"] = str(PROJECT_DIR / ".venv")
    (pack / "PulumiPolicy.yaml").write_text(yaml.safe_dump(definition))
    return pack


def test_a_stack_without_policy_configuration_does_not_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = _pack_without(tmp_path, "config.prod.json")
    monkeypatch.setattr(render, "PolicyPackSession", functools.partial(PolicyPackSession, pack))
    assert render.main(["--stack", "prod", "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert "PASS" not in captured.out and not (tmp_path / "out").exists()
    assert captured.err.count("\n") == 1 and "no policy configuration config.prod.json" in captured.err, captured.err


def test_a_prod_stack_file_under_another_name_renders_with_the_prod_policies(tmp_path: Path) -> None:
    staging = tmp_path / "Pulumi.staging.yaml"
    shutil.copy(PROJECT_DIR / "Pulumi.prod.yaml", staging)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "offline.render", "--stack", "staging", "--stack-file", str(staging), "--out", str(out)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "policy verdict PASS" in result.stdout
    report = (out / "policy-report.md").read_text()
    # Prod's mandatory rules, by environment: protect is off by default and mandatory only in config.prod.json.
    assert "| `stateful-resources-protected` | mandatory |" in report
    assert "| `policy-config-environment` | mandatory |" in report


@pytest.mark.parametrize("stack", ["prod", "PROD", "prod-westeurope", "eu_production"])
def test_a_production_stack_cannot_say_dev(stack: str) -> None:
    with pytest.raises(pulumi.RunError, match=rf"environment: 'dev', but stack '{stack}' is named as a production stack"):
        run_stack(stack, config={**stack_config("prod"), P + "environment": "dev"})


@pytest.mark.parametrize("stack", ["dev", "staging", "product"])
def test_other_names_may_say_dev(stack: str) -> None:
    run_stack(stack, config=stack_config("dev"))
