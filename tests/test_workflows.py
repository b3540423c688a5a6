"""The GitHub workflows: pinned Pulumi CLI, cloud jobs only inside environments, one Pulumi operation per stack."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.engine import PROJECT_DIR

GITHUB_DIR = PROJECT_DIR / ".github"
PULUMI_ACTION = GITHUB_DIR / "actions" / "pulumi" / "action.yml"
PULUMI_ACTION_REF = "$/.github/actions/pulumi"


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


WORKFLOWS = {path.name: _load(path) for path in sorted((GITHUB_DIR / "workflows").glob("*.yml"))}


def _action_steps() -> list[dict[str, Any]]:
    return list(_load(PULUMI_ACTION)["runs"]["steps"])


def _pulumi_step(job: dict[str, Any]) -> dict[str, Any] | None:
    return next((step for step in job.get("steps", []) if step.get("uses") == PULUMI_ACTION_REF), None)


def _cloud_jobs() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(workflow/job, job, the step running the Pulumi action) for every job that runs Pulumi."""
    return [
        (f"{name}/{job_id}", job, step)
        for name, workflow in WORKFLOWS.items()
        for job_id, job in workflow["jobs"].items()
        if (step := _pulumi_step(job)) is not None
    ]


def _sdk_pin() -> str:
    found = re.search(r"^pulumi==(\S+)$", (PROJECT_DIR / "requirements.txt").read_text(), re.MULTILINE)
    assert found, "requirements.txt pins no pulumi SDK"
    return found.group(1)


def _run_version_step(workdir: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    step = next(step for step in _action_steps() if step.get("id") == "cli-version")
    output = tmp_path / "github-output"
    output.touch()
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        cwd=workdir,
        env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
        check=False,
    )
    return result, output.read_text()


def test_the_pulumi_cli_installed_is_the_sdk_version_pinned_in_requirements(tmp_path: Path) -> None:
    installs = [step for step in _action_steps() if str(step.get("uses", "")).startswith("pulumi/actions@")]
    assert [step["with"] for step in installs] == [{"pulumi-version": "${{ steps.cli-version.outputs.version }}"}]
    result, output = _run_version_step(PROJECT_DIR, tmp_path)
    assert result.returncode == 0, result.stderr
    assert output == f"version={_sdk_pin()}\n"
    # Nothing else installs or runs the CLI through pulumi/actions (it would float to ^3).
    others = [path for path in GITHUB_DIR.rglob("*.yml") if path != PULUMI_ACTION and "pulumi/actions@" in path.read_text()]
    assert others == []


def test_the_version_step_fails_without_a_pin(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("pulumi>=3\n")
    result, output = _run_version_step(tmp_path, tmp_path)
    assert result.returncode == 1
    assert "no 'pulumi==<version>' line" in result.stdout
    assert output == ""


def test_workflows_hold_no_stored_secret() -> None:
    # Pulumi Cloud and Azure are both reached by OIDC: nothing to leak, nothing to rotate.
    assert [path.name for path in GITHUB_DIR.rglob("*.yml") if "secrets." in path.read_text()] == []


@pytest.mark.parametrize(("where", "job", "step"), _cloud_jobs(), ids=[where for where, _, _ in _cloud_jobs()])
def test_cloud_jobs_run_in_an_environment_one_operation_per_stack(where: str, job: dict[str, Any], step: dict[str, Any]) -> None:
    assert job.get("environment"), f"{where}: OIDC credentials outside a GitHub environment"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert job["concurrency"] == {"group": f"pulumi-{step['with']['stack']}", "cancel-in-progress": False}
    assert job["runs-on"] == "${{ vars.DEPLOY_RUNNER || 'ubuntu-latest' }}"


def test_prod_is_deployed_after_a_preview_of_the_same_run_and_an_approval() -> None:
    jobs = WORKFLOWS["deploy.yml"]["jobs"]
    commands = {
        job_id: (step["with"]["command"], step["with"]["stack"]) for job_id, job in jobs.items() if (step := _pulumi_step(job))
    }
    (prod_up,) = [job_id for job_id, command in commands.items() if command == ("up", "prod")]
    (prod_preview,) = [job_id for job_id, command in commands.items() if command == ("preview", "prod")]
    assert jobs[prod_up]["environment"] == "production"
    assert prod_preview in jobs[prod_up]["needs"]
    assert jobs[prod_preview]["environment"] != "production"  # previewed before anyone is asked to approve
