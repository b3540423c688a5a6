"""The drills' Kubernetes layer: ``kubectl`` as a subprocess.

kubectl rather than the Python client: the stack's kubeconfig authenticates through kubelogin
(Entra ID, an exec plugin kubectl runs as it is), ``kubectl drain`` implements eviction with
PodDisruptionBudget retries that the client library does not, ``kubectl cnpg promote`` is a
kubectl plugin, and ``kubectl exec`` runs psql inside an instance with no database password.
Every call goes through ``run``, which the tests replace to see what would be called.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

from tools.drill.writer import DrillError

CALL_TIMEOUT_SECONDS = 120


class Kubectl:
    def __init__(self, namespace: str, kubeconfig: str | None = None) -> None:
        self.namespace = namespace
        self._global = ["--kubeconfig", kubeconfig] if kubeconfig else []

    def run(self, arguments: Sequence[str], stdin: str | None = None, timeout: float = CALL_TIMEOUT_SECONDS) -> str:
        command = ["kubectl", *self._global, *arguments]
        try:
            result = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False, timeout=timeout)
        except FileNotFoundError:
            raise DrillError("kubectl is not installed (README Operate: set-up)") from None
        except subprocess.TimeoutExpired:
            raise DrillError(f"`kubectl {' '.join(arguments[:3])} ...` did not finish within {timeout:.0f} s") from None
        if result.returncode != 0:
            raise DrillError(f"`kubectl {' '.join(arguments[:3])} ...` failed: {result.stderr.strip()}")
        return result.stdout

    def get(self, kind: str, name: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.run(["get", kind, name, "-n", self.namespace, "-o", "json"]))
        return document

    def exists(self, kind: str, name: str) -> bool:
        return bool(self.run(["get", kind, name, "-n", self.namespace, "--ignore-not-found", "-o", "name"]).strip())

    def items(self, kind: str, selector: str) -> list[dict[str, Any]]:
        document = json.loads(self.run(["get", kind, "-n", self.namespace, "-l", selector, "-o", "json"]))
        items: list[dict[str, Any]] = document.get("items", [])
        return items

    def create(self, manifest: dict[str, Any]) -> None:
        self.run(["create", "-n", self.namespace, "-f", "-"], stdin=json.dumps(manifest))

    def delete(self, kind: str, name: str) -> None:
        self.run(["delete", kind, name, "-n", self.namespace, "--ignore-not-found", "--wait=false"])

    def psql(self, pod: str, database: str, sql: str) -> list[list[str]]:
        """Rows of ``sql`` run by psql inside the instance's postgres container (local superuser socket)."""
        output = self.run(
            ["exec", "-n", self.namespace, pod, "-c", "postgres", "--",
             "psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
        )  # fmt: skip
        return [line.split("\t") for line in output.splitlines()]

    def cordon(self, node: str) -> None:
        self.run(["cordon", node])

    def drain(self, node: str, timeout_seconds: int) -> None:
        # Evictions honour CNPG's PodDisruptionBudgets: the primary's waits for the operator's switchover.
        self.run(
            ["drain", node, "--ignore-daemonsets", "--delete-emptydir-data", f"--timeout={timeout_seconds}s"],
            timeout=timeout_seconds + 30,
        )

    def uncordon(self, node: str) -> None:
        self.run(["uncordon", node])

    def has_cnpg_plugin(self) -> bool:
        try:
            self.run(["cnpg", "version"])
        except DrillError:
            return False
        return True

    def promote(self, cluster: str, instance: str) -> None:
        self.run(["cnpg", "promote", cluster, instance, "-n", self.namespace])


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll_seconds: float = 5.0) -> float:
    """Poll ``condition`` until it holds; seconds it took. Raises DrillError naming ``what`` after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise DrillError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(poll_seconds)
    return time.monotonic() - started
