"""The drills' Pulumi layer: the ``pulumi`` CLI as a subprocess, run in the project directory.

The regional drill changes which stack holds the primary the way an operator would: stack config
(``pulumi config set/rm --path``, written to ``Pulumi.<stack>.yaml``) and ``pulumi up`` with the
policy pack, so each stack's state keeps matching its cluster. Every call goes through ``run``,
which the tests replace to see what would be called and to model what ``pulumi up`` does.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

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


def _last_lines(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-STDERR_LINES:])


class PulumiCli:
    def __init__(self, cwd: Path = PROJECT_DIR) -> None:
        self.cwd = cwd

    def run(self, arguments: Sequence[str], timeout: float | None = CALL_TIMEOUT_SECONDS) -> str:
        """stdout of ``pulumi ARGUMENTS``; PulumiCommandError (stderr's last lines) when it fails."""
        command = ["pulumi", *arguments]
        shown = " ".join(arguments[:4])
        try:
            result = subprocess.run(command, cwd=self.cwd, capture_output=True, text=True, check=False, timeout=timeout)
        except FileNotFoundError:
            raise DrillError("the pulumi CLI is not installed (README Operate: set-up)") from None
        except subprocess.TimeoutExpired:
            raise DrillError(f"`pulumi {shown} ...` did not finish within {timeout:.0f} s") from None
        if result.returncode != 0:
            raise PulumiCommandError(
                f"`pulumi {shown} ...` failed (exit {result.returncode}):\n{_last_lines(result.stderr or result.stdout)}",
                result.stderr,
            )
        return result.stdout

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
