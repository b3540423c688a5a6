"""Pod priorities: what the scheduler keeps, and what it preempts, when capacity runs short (a lost
node, a zone down, an autoscaler at its maximum).

PostgreSQL instances outrank their PgBouncer poolers, which outrank monitoring; the operators the
database needs (CloudNativePG, which promotes on failover, the Barman Cloud plugin, called for every
new instance pod, and cert-manager, which issues the plugin's certificates) rank at the top. All stay
below Kubernetes' own system classes (2 000 000 000 and up) that AKS add-ons use. Monitoring preempts
nothing: it waits for room rather than evicting anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Priority:
    name: str
    value: int
    description: str
    preemption_policy: Literal["PreemptLowerPriority", "Never"] = "PreemptLowerPriority"


OPERATORS = Priority(
    "postgres-operators", 1_000_000, "Operators the PostgreSQL clusters need: CloudNativePG, Barman Cloud, cert-manager."
)
INSTANCES = Priority("postgres-instances", 900_000, "CloudNativePG PostgreSQL instances.")
POOLERS = Priority("postgres-poolers", 800_000, "CloudNativePG PgBouncer poolers.")
MONITORING = Priority("postgres-monitoring", 100_000, "In-cluster monitoring (kube-prometheus-stack).", "Never")
PRIORITIES = (OPERATORS, INSTANCES, POOLERS, MONITORING)
