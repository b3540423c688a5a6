"""Platform monitoring: what a platform of database clusters has once, owned by no cluster of it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.cluster.database_monitoring import stack_wide_objects
from components.cluster.operators import Scrapers

# The dashboard's ConfigMap on a platform (the one-cluster stack's is named after its cluster).
PLATFORM_DASHBOARD = "cloudnative-pg-grafana-dashboard"


@dataclass(frozen=True)
class PlatformMonitoringArgs:
    provider: pulumi.ProviderResource
    scrapers: Scrapers


class PlatformMonitoring(pulumi.ComponentResource):
    """The CNPG Grafana dashboard and the Azure metrics add-on's settings of a platform whose clusters all
    have their own names: adding, removing or renaming a cluster never moves them (their Kubernetes names
    are fixed, so two owners in turn would collide)."""

    def __init__(self, name: str, args: PlatformMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:PlatformMonitoring", name, None, opts)
        stack_wide_objects(name, PLATFORM_DASHBOARD, args.scrapers, args.provider, self)
        self.register_outputs({})
