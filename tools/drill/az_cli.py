"""The verify drill's Azure layer: the ``az`` CLI as a subprocess (the operator's ``az login``).

Every call goes through ``run``, which the tests replace to see what would be called.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tools.drill.cli import last_line, run_tool
from tools.drill.writer import DrillError

CALL_TIMEOUT_SECONDS = 120.0


class AzCli:
    def run(self, arguments: Sequence[str], timeout: float = CALL_TIMEOUT_SECONDS) -> str:
        """stdout (JSON) of ``az ARGUMENTS``; DrillError with the error's last line when it fails."""
        result = run_tool("az", [*arguments, "--only-show-errors", "--output", "json"], missing="the az CLI", timeout=timeout)
        if result.returncode != 0:
            raise DrillError(f"`az {' '.join(arguments[:3])} ...` failed: {last_line(result.stderr)}")
        return result.stdout

    def json(self, arguments: Sequence[str], timeout: float = CALL_TIMEOUT_SECONDS) -> Any:
        return json.loads(self.run(arguments, timeout) or "null")
