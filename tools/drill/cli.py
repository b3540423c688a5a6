"""The one way the drills run a command-line tool (kubectl, pulumi, az): captured, bounded, one-line errors."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from tools.drill.writer import DrillError


def last_line(text: str) -> str:
    """The last non-empty line of a tool's output: where kubectl, pulumi and az put the error itself
    (kubectl prints retries before "Unable to connect to the server: ...")."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_tool(
    tool: str,
    arguments: Sequence[str],
    *,
    missing: str,
    stdin: str | None = None,
    timeout: float | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``tool ARGUMENTS``; DrillError when the tool is not installed (``missing`` names it) or exceeds ``timeout``."""
    try:
        return subprocess.run(
            [tool, *arguments], input=stdin, capture_output=True, text=True, check=False, timeout=timeout, cwd=cwd
        )
    except FileNotFoundError:
        raise DrillError(f"{missing} is not installed (README Operate: set-up)") from None
    except subprocess.TimeoutExpired:
        raise DrillError(f"`{tool} {' '.join(arguments[:3])} ...` did not finish within {timeout:.0f} s") from None
