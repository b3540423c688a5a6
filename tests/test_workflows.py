"""The GitHub workflows, as read: who can reach which credential, on which runner, installing what.

README "CI" holds the environment table (who approves what before it runs, which token, identity and runner);
these tests hold the workflows to it.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.azure.roles import BuiltInRole
from offline.engine import PROJECT_DIR, StackRun

GITHUB_DIR = PROJECT_DIR / ".github"
PULUMI_ACTION = GITHUB_DIR / "actions" / "pulumi" / "action.yml"
# GitHub's self-repository syntax for a local action (zizmor's self-repository audit asks for it).
PULUMI_ACTION_REF = "$/.github/actions/pulumi"
README = (PROJECT_DIR / "README.md").read_text()
RUNNERS = {"dev": "${{ vars.DEV_RUNNER || 'ubuntu-latest' }}", "prod": "${{ vars.PROD_RUNNER || 'ubuntu-latest' }}"}


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


WORKFLOWS = {path.name: _load(path) for path in sorted((GITHUB_DIR / "workflows").glob("*.yml"))}


def _texts() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted((GITHUB_DIR / "workflows").glob("*.yml"))}


def _action_steps() -> list[dict[str, Any]]:
    return list(_load(PULUMI_ACTION)["runs"]["steps"])


def _action_step(name_start: str) -> dict[str, Any]:
    (step,) = [step for step in _action_steps() if str(step.get("name", "")).startswith(name_start)]
    return step


def _expand(value: Any, entry: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {key: _expand(item, entry) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, entry) for item in value]
    if isinstance(value, str):
        for key, replacement in entry.items():
            value = value.replace(f"${{{{ matrix.{key} }}}}", str(replacement))
    return value


def _instances(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job once per matrix entry, `${{ matrix.<key> }}` replaced by the entry's values."""
    entries = job.get("strategy", {}).get("matrix", {}).get("include")
    return [_expand(job, entry) for entry in entries] if entries else [job]


def _pulumi_step(job: dict[str, Any]) -> dict[str, Any] | None:
    return next((step for step in job.get("steps", []) if step.get("uses") == PULUMI_ACTION_REF), None)


def _cloud_jobs() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(workflow/job/stack, job, the step running the Pulumi action) for every job instance that runs Pulumi."""
    return [
        (f"{name}/{job_id}/{step['with']['stack']}", instance, step)
        for name, workflow in WORKFLOWS.items()
        for job_id, job in workflow["jobs"].items()
        for instance in _instances(job)
        if (step := _pulumi_step(instance)) is not None
    ]


CLOUD_JOBS = _cloud_jobs()
CLOUD_IDS = [where for where, _, _ in CLOUD_JOBS]


def _environment_table() -> dict[str, dict[str, str]]:
    """README "CI": environment -> its row, keyed by the header's first word (environment, job, a, Pulumi, ...)."""
    section = README[README.index("### CI\n") : README.index("## Configuration reference")]
    lines = [line for line in section.splitlines() if line.startswith("| ")]  # not the |---| line
    header = [cell.strip().split()[0].lower() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]
    return {row[0].strip("`"): dict(zip(header, row, strict=True)) for row in rows}


ENVIRONMENTS = _environment_table()


def _reviewed(environment: str) -> bool:
    return not ENVIRONMENTS[environment]["a"].startswith("none")


def _definition(environment: str, column: str) -> str:
    """What the environment's team or identity ("prod preview", ...) is given, from the row that defines it."""
    name = re.match(r"\w+ \w+", ENVIRONMENTS[environment][column])
    assert name, f"README CI table: {environment} names no team or identity in column {column!r}"
    prefix = f"{name.group(0)}{' team' if column == 'pulumi' else ''}:"
    (definition,) = [row[column].removeprefix(prefix).strip() for row in ENVIRONMENTS.values() if row[column].startswith(prefix)]
    return definition


def _sdk_pin() -> str:
    found = re.search(r"^pulumi==(\S+)$", (PROJECT_DIR / "requirements.txt").read_text(), re.MULTILINE)
    assert found, "requirements.txt pins no pulumi SDK"
    return found.group(1)


def _run(script: str, workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=workdir,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )


def _run_version_step(workdir: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    step = next(step for step in _action_steps() if step.get("id") == "cli-version")
    output = tmp_path / "github-output"
    output.touch()
    result = _run(step["run"], workdir, {"GITHUB_OUTPUT": str(output)})
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


# --- Pulumi Cloud: team tokens only ------------------------------------------------------------------


def test_only_team_tokens_are_requested() -> None:
    login = _action_step("Log in to Pulumi Cloud")
    assert login["uses"].startswith("pulumi/auth-actions@")
    assert login["with"]["requested-token-type"] == "urn:pulumi:token-type:access_token:team"
    assert login["with"]["scope"] == "team:${{ inputs.pulumi-team }}"
    # No other token type anywhere: an organization token reads, decrypts and deletes every stack.
    texts = {path.name: path.read_text() for path in GITHUB_DIR.rglob("*.yml")}
    assert [name for name, text in texts.items() if re.search(r"access_token:(organization|personal)", text)] == []


def test_a_missing_team_stops_the_job_before_the_login(tmp_path: Path) -> None:
    spec = _load(PULUMI_ACTION)["inputs"]["pulumi-team"]
    assert spec["required"] is True and "default" not in spec
    guard = _action_step("Refuse to run without a Pulumi team")
    steps = _action_steps()
    assert steps.index(guard) < steps.index(_action_step("Log in to Pulumi Cloud"))
    assert guard["env"] == {"TEAM": "${{ inputs.pulumi-team }}"}
    refused = _run(guard["run"], tmp_path, {"TEAM": ""})
    assert refused.returncode == 1
    assert "::error::pulumi-team is empty: set the variable PULUMI_TEAM" in refused.stdout
    assert _run(guard["run"], tmp_path, {"TEAM": "aks-postgres-ha-dev-preview"}).returncode == 0


@pytest.mark.parametrize(("where", "job", "step"), CLOUD_JOBS, ids=CLOUD_IDS)
def test_cloud_jobs_run_in_an_environment_with_its_own_team(where: str, job: dict[str, Any], step: dict[str, Any]) -> None:
    assert job.get("environment") in ENVIRONMENTS, f"{where}: OIDC credentials outside an environment of README's table"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    # Environment variables: the team (and the identity) follow the environment, not the workflow file.
    assert step["with"]["pulumi-team"] == "${{ vars.PULUMI_TEAM }}"
    assert job["env"]["ARM_CLIENT_ID"] == "${{ vars.AZURE_CLIENT_ID }}"


# --- Who approves what before it runs -------------------------------------------------------------------


@pytest.mark.parametrize(("where", "job", "step"), CLOUD_JOBS, ids=CLOUD_IDS)
def test_no_prod_credential_without_a_reviewer(where: str, job: dict[str, Any], step: dict[str, Any]) -> None:
    environment = job["environment"]
    row = ENVIRONMENTS[environment]
    stack = step["with"]["stack"]
    assert _reviewed(environment) == (stack == "prod"), f"{where}: {environment} {row['a']!r}"
    # The team token reaches this stack only, and writes only where the job deploys.
    permission = "Stack Read" if step["with"]["command"] == "preview" else "Stack Write"
    assert _definition(environment, "pulumi") == f"{permission} on {stack}"


@pytest.mark.parametrize(("where", "job", "step"), CLOUD_JOBS, ids=CLOUD_IDS)
def test_previews_hold_no_write_identity(where: str, job: dict[str, Any], step: dict[str, Any]) -> None:
    row = ENVIRONMENTS[job["environment"]]
    if step["with"]["command"] != "preview":
        assert _definition(job["environment"], "azure").startswith("Contributor and the restricted Role Based Access")
        return
    assert "preview" in row["azure"] and "preview" in row["pulumi"], where
    # The preview identities' roles: reads, the kubeconfig listing, AKS RBAC Reader (no Secrets).
    roles = _definition(job["environment"], "azure")
    assert "RBAC Reader" in roles and not re.search(r"Contributor|Owner|Administrator|Admin\b|Writer", roles)


def test_prod_is_deployed_after_a_preview_of_the_same_run_and_an_approval() -> None:
    jobs = WORKFLOWS["deploy.yml"]["jobs"]
    commands = {
        job_id: (step["with"]["command"], step["with"]["stack"]) for job_id, job in jobs.items() if (step := _pulumi_step(job))
    }
    (prod_up,) = [job_id for job_id, command in commands.items() if command == ("up", "prod")]
    (prod_preview,) = [job_id for job_id, command in commands.items() if command == ("preview", "prod")]
    assert jobs[prod_up]["environment"] == "production"
    assert prod_preview in jobs[prod_up]["needs"]
    # Its own environment: approving the preview (which reads prod) does not approve the deploy.
    assert jobs[prod_preview]["environment"] != "production"
    assert _reviewed(jobs[prod_preview]["environment"]) and _reviewed("production")


def test_every_environment_in_the_table_is_used() -> None:
    assert sorted({job["environment"] for _, job, _ in CLOUD_JOBS}) == sorted(ENVIRONMENTS)


# --- Runners and tool caches ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("where", "job", "step"), CLOUD_JOBS, ids=CLOUD_IDS)
def test_a_stack_runs_on_its_own_runners(where: str, job: dict[str, Any], step: dict[str, Any]) -> None:
    stack = step["with"]["stack"]
    assert job["runs-on"] == RUNNERS[stack], where
    assert ENVIRONMENTS[job["environment"]]["runner"] == f"`{stack.upper()}_RUNNER`"


def test_no_job_restores_a_cache_or_uses_a_cached_tool() -> None:
    uses = [
        str(step.get("uses", ""))
        for workflow in WORKFLOWS.values()
        for job in workflow["jobs"].values()
        for step in job.get("steps", [])
    ] + [str(step.get("uses", "")) for step in _action_steps()]
    assert [use for use in uses if use.startswith(("actions/cache", "azure/use-kubelogin"))] == []
    cached = [step for step in _action_steps() if "cache" in step.get("with", {})]
    assert cached == []


def _kubelogin_zip(path: Path, content: bytes) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("bin/linux_amd64/kubelogin", content)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_kubelogin_step(tmp_path: Path, served: Path, sha256: str | None = None) -> subprocess.CompletedProcess[str]:
    step = _action_step("Install kubelogin")
    # curl replaced by a stand-in that serves `served` (no network in tests); the script runs as written.
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir(exist_ok=True)
    curl = fake_bin / "curl"
    curl.write_text(f'#!/bin/sh\nwhile [ "$1" != --output ]; do shift; done\ncp "{served}" "$2"\n')
    curl.chmod(0o755)
    workdir = tmp_path / "checkout"
    workdir.mkdir(exist_ok=True)
    (workdir / ".venv").unlink(missing_ok=True)
    (workdir / ".venv").symlink_to(PROJECT_DIR / ".venv")
    env = {**step["env"], "RUNNER_TEMP": str(tmp_path / "runner-temp"), "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    if sha256 is not None:
        env["KUBELOGIN_SHA256"] = sha256
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]], cwd=workdir, env=env, capture_output=True, text=True, check=False
    )


def test_kubelogin_comes_from_its_release_checked_against_the_pinned_checksum(tmp_path: Path) -> None:
    step = _action_step("Install kubelogin")
    assert step["env"]["KUBELOGIN_VERSION"] == "v0.2.19"
    assert re.fullmatch(r"[0-9a-f]{64}", step["env"]["KUBELOGIN_SHA256"])
    assert "https://github.com/Azure/kubelogin/releases/download/$KUBELOGIN_VERSION/kubelogin-linux-amd64.zip" in step["run"]
    # A download that is not the pinned file (here: anything built locally) installs nothing.
    tampered = tmp_path / "tampered.zip"
    _kubelogin_zip(tampered, b"#!/bin/sh\necho pwned\n")
    result = _run_kubelogin_step(tmp_path, tampered)
    assert result.returncode != 0
    assert not (tmp_path / "runner-temp" / "kubelogin" / "bin").exists()


def test_kubelogin_is_installed_into_the_jobs_temporary_directory(tmp_path: Path) -> None:
    archive = tmp_path / "kubelogin.zip"
    digest = _kubelogin_zip(archive, b"#!/bin/sh\necho kubelogin\n")
    result = _run_kubelogin_step(tmp_path, archive, sha256=digest)
    assert result.returncode == 0, result.stderr
    binary = tmp_path / "runner-temp" / "kubelogin" / "bin" / "linux_amd64" / "kubelogin"
    assert subprocess.run([binary], capture_output=True, text=True, check=True).stdout == "kubelogin\n"
    # ... and the Pulumi step puts exactly that directory first on its PATH.
    pulumi = _action_step("pulumi ${{ inputs.command }}")
    assert 'export PATH="$RUNNER_TEMP/kubelogin/bin/linux_amd64:$PATH"' in pulumi["run"].splitlines()[0]


# --- Python packages --------------------------------------------------------------------------------------------


def test_credentialed_jobs_install_python_packages_only_from_the_hashed_lock() -> None:
    installs = [
        line.strip()
        for path in GITHUB_DIR.rglob("*.yml")
        for line in path.read_text().splitlines()
        if re.search(r"\bpip3? install\b|\bpip install\b", line)
    ]
    assert installs == [
        ".venv/bin/pip install --quiet --disable-pip-version-check"
        " --only-binary :all: --require-hashes --no-deps -r requirements.lock"
    ]
    venv_step = _action_step("Install the program's and the policy pack's dependencies")
    assert venv_step["run"].splitlines()[-1] == ".venv/bin/pip check"


# --- Concurrency ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("where", "job", "step"), CLOUD_JOBS, ids=CLOUD_IDS)
def test_previews_never_share_a_group_with_a_deploy(where: str, job: dict[str, Any], step: dict[str, Any]) -> None:
    group, cancel = job["concurrency"]["group"], job["concurrency"]["cancel-in-progress"]
    stack = step["with"]["stack"]
    if step["with"]["command"] == "up":
        assert (group, cancel) == (f"deploy-{stack}", False)
    elif where.startswith("pull-request.yml/"):
        # Per PR and stack: a newer push cancels only this PR's previews.
        assert (group, cancel) == (f"pr-preview-${{{{ github.event.pull_request.number }}}}-{stack}", True)
    else:
        assert not group.startswith("deploy-") and cancel is False


def test_the_pull_request_workflow_runs_only_for_pull_requests() -> None:
    # Its previews are the ones the test above lets cancel each other.
    triggers = {name: yaml.load(workflow_text, Loader=yaml.BaseLoader)["on"] for name, workflow_text in _texts().items()}
    assert triggers == {"deploy.yml": {"push": {"branches": ["main"]}}, "pull-request.yml": {"pull_request": ""}}


def test_nothing_else_joins_a_deploy_group_or_cancels() -> None:
    groups = [
        (job_id, instance.get("concurrency", {}))
        for workflow in WORKFLOWS.values()
        for job_id, job in workflow["jobs"].items()
        for instance in _instances(job)
    ]
    deploy_groups = [group["group"] for _, group in groups if str(group.get("group", "")).startswith("deploy-")]
    assert sorted(deploy_groups) == ["deploy-dev", "deploy-prod"]
    cancelling = [job_id for job_id, group in groups if group.get("cancel-in-progress")]
    assert cancelling == ["checks", "preview", "preview"]


# --- Deploy identities: least privilege ---------------------------------------------------------------------------


def test_the_readme_restricts_the_deployers_role_administration_to_the_programs_roles(shipped: StackRun) -> None:
    found = re.search(r'^\s+roles="([^"]+)"$', README, re.MULTILINE)
    assert found, 'README Deploy step 2 has no roles="..." line'
    listed = [guid.strip() for guid in found.group(1).split(",")]
    assert sorted(listed) == sorted(role.value for role in BuiltInRole)
    # And every role the program really assigns is in it (assign_role takes only a BuiltInRole).
    assignments = shipped.of_type("azure-native:authorization:RoleAssignment")
    assigned = {r.inputs["roleDefinitionId"].rsplit("/", 1)[1] for r in assignments}
    assert assigned and assigned <= set(listed)
    # Both the write and the delete clauses of the condition name that list.
    step = README[README.index("2. **Azure rights**") : README.index("3. **Resource providers**")]
    assert step.count("ForAnyOfAnyValues:GuidEquals {$roles}") == 2
    assert "Owner on the subscription" not in step
