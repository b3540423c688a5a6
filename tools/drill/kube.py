"""The drills' Kubernetes layer: ``kubectl`` as a subprocess.

kubectl rather than the Python client: the stack's kubeconfig authenticates through kubelogin
(Entra ID, an exec plugin kubectl runs as it is), ``kubectl drain`` implements eviction with
PodDisruptionBudget retries that the client library does not, ``kubectl cnpg promote`` is a
kubectl plugin, and ``kubectl exec`` runs psql inside an instance with no database password.
Every call goes through ``run``, which the tests replace to see what would be called.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import yaml

from tools.drill.cli import last_line, run_tool
from tools.drill.writer import DrillError

CALL_TIMEOUT_SECONDS = 120
# The server URL in the kubeconfig kubectl uses: its current context's cluster (--minify keeps only that one).
SERVER_JSONPATH = "jsonpath={.clusters[0].cluster.server}"


class Kubectl:
    def __init__(self, namespace: str, kubeconfig: str | None = None) -> None:
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self._global = ["--kubeconfig", kubeconfig] if kubeconfig else []

    def in_namespace(self, namespace: str) -> Kubectl:
        """kubectl on the same cluster (same kubeconfig), in another namespace: a platform's other database cluster."""
        return type(self)(namespace, self.kubeconfig)

    def run(self, arguments: Sequence[str], stdin: str | None = None, timeout: float = CALL_TIMEOUT_SECONDS) -> str:
        result = run_tool("kubectl", [*self._global, *arguments], missing="kubectl", stdin=stdin, timeout=timeout)
        if result.returncode != 0:
            raise DrillError(f"`kubectl {' '.join(arguments[:3])} ...` failed: {last_line(result.stderr)}")
        return result.stdout

    def api_server(self) -> str:
        """The API server URL of the context kubectl uses (this kubeconfig's current context)."""
        return self.run(["config", "view", "--minify", "-o", SERVER_JSONPATH]).strip()

    def get(self, kind: str, name: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.run(["get", kind, name, "-n", self.namespace, "-o", "json"]))
        return document

    def exists(self, kind: str, name: str) -> bool:
        return bool(self.run(["get", kind, name, "-n", self.namespace, "--ignore-not-found", "-o", "name"]).strip())

    def items(self, kind: str, selector: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Objects of ``kind`` matching ``selector`` in ``namespace`` (default: the drill's; ignored for nodes)."""
        document = json.loads(self.run(["get", kind, "-n", namespace or self.namespace, "-l", selector, "-o", "json"]))
        items: list[dict[str, Any]] = document.get("items", [])
        return items

    def create(self, manifest: dict[str, Any]) -> None:
        self.run(["create", "-n", self.namespace, "-f", "-"], stdin=json.dumps(manifest))

    def delete(self, kind: str, name: str) -> None:
        self.run(["delete", kind, name, "-n", self.namespace, "--ignore-not-found", "--wait=false"])

    def exec(self, pod: str, container: str, command: Sequence[str]) -> str:
        """stdout of ``command`` run in ``container`` of ``pod`` (no shell: the plugin's sidecar has none)."""
        return self.run(["exec", "-n", self.namespace, pod, "-c", container, "--", *command])

    def psql(self, pod: str, database: str, sql: str) -> list[list[str]]:
        """Rows of ``sql`` run by psql inside the instance's postgres container (local superuser socket)."""
        output = self.exec(
            pod, "postgres", ["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql]
        )
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


def cluster_ca(kube: Kubectl, cluster: str) -> bytes:
    """The cluster's CA certificate (PEM), from the <cluster>-ca secret: what verify-full checks servers against."""
    secret = kube.get("secret", f"{cluster}-ca")
    return base64.b64decode(secret["data"]["ca.crt"])


def kubeconfig_server(kubeconfig: str) -> str:
    """The API server URL of ``kubeconfig``'s current context (a stack's ``kubeconfig`` output)."""
    try:
        config = yaml.safe_load(kubeconfig)
        context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
        server: str = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])["server"]
    except (yaml.YAMLError, TypeError, KeyError, StopIteration):
        raise DrillError("the stack's kubeconfig output names no API server for its current context") from None
    return server


def same_server(first: str, second: str) -> bool:
    """Whether two API server URLs name one server (case of the host, default port and a trailing / aside)."""

    def key(url: str) -> tuple[str, str, int | None, str]:
        parts = urlsplit(url.strip())
        default = {"https": 443, "http": 80}.get(parts.scheme.lower())
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default, parts.path.rstrip("/")

    return key(first) == key(second)


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll_seconds: float = 5.0) -> float:
    """Poll ``condition`` until it holds; seconds it took. Raises DrillError naming ``what`` after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise DrillError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(poll_seconds)
    return time.monotonic() - started
