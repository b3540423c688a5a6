"""The drills' Pulumi layer: the ``pulumi`` CLI as a subprocess, run in the project directory.

The regional drill changes which stack holds the primary the way an operator would: stack config
(``pulumi config set/rm --path``, written to ``Pulumi.<stack>.yaml``) and ``pulumi up`` with the
policy pack, so each stack's state keeps matching its cluster. Every call goes through ``run``,
which the tests replace to see what would be called and to model what ``pulumi up`` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from offline.stack_file import read_stack_config
from settings import PROJECT
from tools.drill.cli import last_line, run_tool
from tools.drill.writer import DrillError

PROJECT_DIR = Path(__file__).resolve().parents[2]
CALL_TIMEOUT_SECONDS = 120.0
STDERR_LINES = 15
POLICY_PACK = "policies"


class PulumiCommandError(DrillError):
    """A pulumi command exited non-zero; ``stderr`` holds what it printed there."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


def short_name(stack: str) -> str:
    """``org/project/name`` or ``name`` → ``name`` (the Pulumi.<name>.yaml and policies/config.<name>.json name)."""
    return stack.rsplit("/", 1)[-1]


def policy_config(stack: str) -> str:
    return f"{POLICY_PACK}/config.{short_name(stack)}.json"


def stack_setting(stack: str, key: str) -> Any:
    """A top-level project setting in ``Pulumi.<stack>.yaml``, as the CLI reads it for ``pulumi up``; None when
    unset. StackFileError (one line) when the file is missing or invalid."""
    values = read_stack_config(PROJECT_DIR / f"Pulumi.{short_name(stack)}.yaml", PROJECT)
    return values.get(f"{PROJECT}:{key}")


def _last_lines(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-STDERR_LINES:])


class PulumiCli:
    def __init__(self, cwd: Path = PROJECT_DIR) -> None:
        self.cwd = cwd

    def run(self, arguments: Sequence[str], timeout: float | None = CALL_TIMEOUT_SECONDS) -> str:
        """stdout of ``pulumi ARGUMENTS``; PulumiCommandError (stderr's last lines) when it fails."""
        shown = " ".join(arguments[:4])
        result = run_tool("pulumi", arguments, missing="the pulumi CLI", timeout=timeout, cwd=self.cwd)
        if result.returncode != 0:
            raise PulumiCommandError(
                f"`pulumi {shown} ...` failed (exit {result.returncode}):\n{_last_lines(result.stderr or result.stdout)}",
                result.stderr,
            )
        return result.stdout

    def stack_outputs(self, stack: str) -> dict[str, Any]:
        """The stack's outputs, secrets in clear text (kept in memory, never printed)."""
        try:
            output = self.run(["stack", "output", "--json", "--show-secrets", "--stack", stack])
        except PulumiCommandError as error:  # "error: no stack named 'x' found", a backend not logged in to, ...
            raise DrillError(f"pulumi stack output --stack {stack} failed: {last_line(error.stderr)}") from None
        try:
            outputs: dict[str, Any] = json.loads(output)
        except ValueError as error:
            raise DrillError(f"pulumi stack output --stack {stack} did not print JSON ({error})") from None
        return outputs

    def config_get(self, stack: str, path: str) -> str | None:
        """The value at ``path`` (``section.key``) of the stack's config; None when it is not set."""
        try:
            output = self.run(["config", "get", "--stack", stack, "--path", path])
        except PulumiCommandError as error:
            if "not found" in error.stderr:  # "configuration key '...' not found for stack '...'"
                return None
            raise
        return output.removesuffix("\n")

    def config_set(self, stack: str, path: str, value: str) -> None:
        # --plaintext: the CLI refuses high-entropy values under keys named like "...token" unless told
        # (a demotion token is cluster status, not a secret).
        self.run(["config", "set", "--stack", stack, "--path", path, value, "--plaintext"])

    def config_rm(self, stack: str, path: str) -> None:
        self.run(["config", "rm", "--stack", stack, "--path", path])

    def up(self, stack: str) -> None:
        """``pulumi up`` with the policy pack, as the README deploys. No time bound: killing an update
        midway leaves the stack locked with pending operations; Pulumi's own resource timeouts apply."""
        self.run(
            ["up", "--stack", stack, "--yes", "--non-interactive",
             "--policy-pack", POLICY_PACK, "--policy-pack-config", policy_config(stack)],
            timeout=None,
        )  # fmt: skip
