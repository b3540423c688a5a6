"""Pod Security Admission labels for the namespaces this program creates.

Every namespace enforces the least privileged Pod Security Standard its workloads allow, and
audits and warns at the same level, so a chart upgrade that starts asking for more privileges
fails its install loudly instead of running with them.
"""

from __future__ import annotations

from typing import Literal

from settings import SUPPORTED_KUBERNETES_MINORS

PodSecurityLevel = Literal["restricted", "baseline", "privileged"]

# Pinned to the oldest Kubernetes minor the program supports: every supported API server knows
# this version of the standards, and a cluster upgrade cannot tighten them under running pods.
POD_SECURITY_VERSION = f"v1.{min(SUPPORTED_KUBERNETES_MINORS)}"

PSA_PREFIX = "pod-security.kubernetes.io/"


def pod_security_labels(level: PodSecurityLevel) -> dict[str, str]:
    """``enforce``, ``audit`` and ``warn`` at ``level``, each with its pinned version."""
    labels: dict[str, str] = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"{PSA_PREFIX}{mode}"] = level
        labels[f"{PSA_PREFIX}{mode}-version"] = POD_SECURITY_VERSION
    return labels
