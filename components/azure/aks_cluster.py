"""AKS cluster: multi-zone control plane and node pools, Entra ID with Azure RBAC (no local
accounts), workload identity, managed Prometheus, planned-maintenance windows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import authorization, containerservice

from components.azure.network import ClusterNetwork
from components.azure.scope import AzureScope
from components.deployed import own_outputs
from settings import AksSettings, NodePoolSettings
from settings.aks import POSTGRES_POOL_MAX_SURGE, SYSTEM_POOL_MAX_SURGE
from settings.maintenance import MaintenanceWindowSettings

POSTGRES_NODE_LABEL = ("workload", "postgres")
# AKS's convention for keeping application pods off system nodes (use-system-pools.md). Only pods
# that tolerate it run there: AKS add-ons and, by choice, the operators and their monitoring.
SYSTEM_POOL_TAINT = ("CriticalAddonsOnly", "true", "NoSchedule")
SYSTEM_POOL_TOLERATIONS = [
    {"key": SYSTEM_POOL_TAINT[0], "operator": "Equal", "value": SYSTEM_POOL_TAINT[1], "effect": SYSTEM_POOL_TAINT[2]}
]
# AKS reads planned-maintenance schedules only under these configuration names (planned-maintenance.md).
AUTO_UPGRADE_SCHEDULE = "aksManagedAutoUpgradeSchedule"
NODE_OS_UPGRADE_SCHEDULE = "aksManagedNodeOSUpgradeSchedule"


@dataclass(frozen=True)
class ClusterMonitoring:
    """Azure monitoring the cluster reports to (from the observability component)."""

    log_analytics_workspace_id: pulumi.Input[str]


@dataclass(frozen=True)
class AksClusterArgs:
    scope: AzureScope
    cluster_name: pulumi.Input[str]
    dns_prefix: pulumi.Input[str]
    node_resource_group: pulumi.Input[str]
    zones: Sequence[str]
    settings: AksSettings
    network: ClusterNetwork
    control_plane_identity_id: pulumi.Input[str]
    # The control plane must hold its network role (and the subnet must exist) before it attaches
    # nodes to the subnet and the public IP to the load balancer.
    control_plane_ready: Sequence[pulumi.Resource]
    monitoring: ClusterMonitoring | None
    # Prod: replacing or deleting the cluster deletes every PostgreSQL disk with it.
    protect: bool


def _taint(taint: tuple[str, str, str]) -> str:
    return "{}={}:{}".format(*taint)


def _maintenance_window(window: MaintenanceWindowSettings) -> containerservice.MaintenanceWindowArgs:
    return containerservice.MaintenanceWindowArgs(
        schedule=containerservice.ScheduleArgs(
            weekly=containerservice.WeeklyScheduleArgs(day_of_week=window.day_of_week, interval_weeks=window.interval_weeks)
        ),
        start_time=window.start_time,
        duration_hours=window.duration_hours,
        utc_offset=window.utc_offset,
    )


def _autoscaled_pool(
    pool: NodePoolSettings, vm_size: pulumi.Input[str], zones: list[str], version: str, subnet_id: pulumi.Input[str]
) -> dict[str, Any]:
    """Arguments every pool shares: Azure Linux nodes on the node subnet in every zone, scaled between min and max."""
    return {
        "vnet_subnet_id": subnet_id,
        "vm_size": vm_size,
        "os_type": "Linux",
        "os_sku": "AzureLinux",
        "availability_zones": zones,
        "enable_auto_scaling": True,
        "min_count": pool.min_count,
        "max_count": pool.max_count,
        "count": pool.min_count,
        "orchestrator_version": version,
    }


class AksCluster(pulumi.ComponentResource):
    """A zone-redundant AKS cluster with a system pool and a dedicated ``postgres`` pool, both inline
    (created with the cluster): whatever waits for the cluster waits for the PostgreSQL nodes too."""

    cluster_name: pulumi.Output[str]
    cluster_id: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    node_resource_group: pulumi.Output[str]
    postgres_pool_taint: tuple[str, str, str] | None
    # The Entra tenant of the cluster's sign-in (the deploying identity's), exported for a disaster-recovery peer.
    tenant_id: pulumi.Output[str]
    # Each pool's VM size by settings key, exported (DEPLOYED_VM_SIZES_OUTPUT) for the next deployment's check.
    vm_sizes: dict[str, str]

    def __init__(self, name: str, args: AksClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:AksCluster", name, None, opts)
        aks = args.settings
        zones = list(args.zones)
        tenant_id = authorization.get_client_config_output(opts=pulumi.InvokeOptions(parent=self)).tenant_id
        addons = None
        if args.monitoring is not None:
            # Container insights with managed-identity auth (no workspace keys on the nodes).
            addons = {
                "omsagent": containerservice.ManagedClusterAddonProfileArgs(
                    enabled=True,
                    config={
                        "logAnalyticsWorkspaceResourceID": args.monitoring.log_analytics_workspace_id,
                        "useAADAuth": "true",
                    },
                )
            }
        # The VM sizes once checked against this stack's last deployment: the cluster (and so every node pool)
        # is registered only after the check, so a refused resize touches nothing.
        vm_sizes = own_outputs(f"{name}-deployed-vm-sizes", self).apply(lambda deployed: self._checked_vm_sizes(deployed, aks))
        self.vm_sizes = aks.vm_sizes()
        pool = aks.postgres_pool
        self.postgres_pool_taint = (*POSTGRES_NODE_LABEL, "NoSchedule") if pool.dedicated else None
        cluster = containerservice.ManagedCluster(
            f"{name}-cluster",
            resource_group_name=args.scope.resource_group_name,
            resource_name_=args.cluster_name,
            location=args.scope.location,
            dns_prefix=args.dns_prefix,
            kubernetes_version=aks.kubernetes_version,
            sku=containerservice.ManagedClusterSKUArgs(name="Base", tier=aks.sku_tier),
            node_resource_group=args.node_resource_group,
            identity=containerservice.ManagedClusterIdentityArgs(
                type=containerservice.ResourceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[args.control_plane_identity_id],
            ),
            # Both pools are inline, created with the cluster and in parallel with each other: the
            # PostgreSQL nodes belong to the cluster that the Kubernetes provider (and so every in-cluster
            # resource, the database included) waits for. A separate AgentPool would be created only
            # after the cluster (3-6 min more), with nothing making the database wait for it.
            # Inline only, never inline + separate: a change to an inline pool puts every pool,
            # separate AgentPools included, into Scaling (pulumi-azure-native#4264, won't fix).
            # Trade-off: any change to either pool (VM size, counts, labels, taints, surge, version) is
            # an update of this ManagedCluster, a PUT of the whole cluster body during which both pools
            # show Scaling; and AKS refuses to add an inline pool to an existing cluster ("A new agent
            # pool was introduced"), so a further pool would have to be a separate AgentPool. Stacks
            # deployed with the former separate pool: `pulumi state delete` its AgentPool
            # (aks-postgres-pool) before the next `pulumi up`, or the update deletes the nodes.
            # The operators run on the system pool rather than on a third pool: no extra zone-spread
            # nodes, and the taint still keeps application pods off.
            agent_pool_profiles=[
                containerservice.ManagedClusterAgentPoolProfileArgs(
                    name=aks.system_pool.name,
                    mode=containerservice.AgentPoolMode.SYSTEM,
                    **_autoscaled_pool(
                        aks.system_pool,
                        vm_sizes["systemPool"],
                        zones,
                        aks.kubernetes_version,
                        args.network.node_subnet_id,
                    ),
                    node_taints=[_taint(SYSTEM_POOL_TAINT)],
                    upgrade_settings=containerservice.AgentPoolUpgradeSettingsArgs(max_surge=SYSTEM_POOL_MAX_SURGE),
                ),
                containerservice.ManagedClusterAgentPoolProfileArgs(
                    name=pool.name,
                    mode=containerservice.AgentPoolMode.USER,
                    **_autoscaled_pool(
                        pool, vm_sizes["postgresPool"], zones, aks.kubernetes_version, args.network.node_subnet_id
                    ),
                    node_labels=dict([POSTGRES_NODE_LABEL]),
                    node_taints=[_taint(self.postgres_pool_taint)] if self.postgres_pool_taint else [],
                    # One node at a time, a new one added before an old one drains: at most one instance
                    # is moving, the others keep one PostgreSQL node per zone, and the drain waits for
                    # CNPG's switchover under the PodDisruptionBudgets.
                    upgrade_settings=containerservice.AgentPoolUpgradeSettingsArgs(
                        max_surge=POSTGRES_POOL_MAX_SURGE, max_unavailable="0", drain_timeout_in_minutes=60
                    ),
                ),
            ],
            network_profile=containerservice.ContainerServiceNetworkProfileArgs(
                network_plugin=containerservice.NetworkPlugin.AZURE,
                network_plugin_mode=containerservice.NetworkPluginMode.OVERLAY,
                network_dataplane=containerservice.NetworkDataplane.CILIUM,
                # With the Cilium dataplane, Cilium itself enforces NetworkPolicy.
                network_policy=containerservice.NetworkPolicy.CILIUM,
                # Overlay: pods take addresses from pod_cidr, not from the node subnet.
                pod_cidr=args.network.pod_cidr,
                service_cidr=args.network.service_cidr,
                dns_service_ip=args.network.dns_service_ip,
                load_balancer_sku=containerservice.LoadBalancerSku.STANDARD,
                outbound_type=containerservice.OutboundType.LOAD_BALANCER,
            ),
            oidc_issuer_profile=containerservice.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=containerservice.ManagedClusterSecurityProfileArgs(
                workload_identity=containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True)
            ),
            api_server_access_profile=containerservice.ManagedClusterAPIServerAccessProfileArgs(
                authorized_ip_ranges=list(aks.api_server_authorized_ip_ranges)
            ),
            auto_upgrade_profile=containerservice.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel=containerservice.UpgradeChannel.PATCH,
                node_os_upgrade_channel=containerservice.NodeOSUpgradeChannel.NODE_IMAGE,
            ),
            azure_monitor_profile=containerservice.ManagedClusterAzureMonitorProfileArgs(
                metrics=containerservice.ManagedClusterAzureMonitorProfileMetricsArgs(enabled=args.monitoring is not None)
            ),
            addon_profiles=addons,
            enable_rbac=True,
            # Entra ID sign-in, authorized by Azure role assignments (auditable, revocable per principal).
            aad_profile=containerservice.ManagedClusterAADProfileArgs(
                managed=True,
                enable_azure_rbac=True,
                admin_group_object_ids=list(aks.admin_group_object_ids) or None,
                tenant_id=tenant_id,
            ),
            # No certificate-based admin kubeconfig: it bypasses Entra ID and audit (local-accounts.md).
            disable_local_accounts=True,
            tags=dict(args.scope.tags),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                depends_on=list(args.control_plane_ready),
                # The autoscaler owns the node counts (system pool [0], postgres pool [1]).
                ignore_changes=["agentPoolProfiles[0].count", "agentPoolProfiles[1].count"],
            ),
        )
        for config_name, window in (
            (AUTO_UPGRADE_SCHEDULE, aks.maintenance.auto_upgrade),
            (NODE_OS_UPGRADE_SCHEDULE, aks.maintenance.node_os_upgrade),
        ):
            containerservice.MaintenanceConfiguration(
                f"{name}-{config_name}",
                resource_group_name=args.scope.resource_group_name,
                resource_name_=cluster.name,
                config_name=config_name,
                maintenance_window=_maintenance_window(window),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.tenant_id = tenant_id
        self.cluster_name = cluster.name
        self.cluster_id = cluster.id
        self.oidc_issuer_url = cluster.oidc_issuer_profile.apply(lambda profile: profile.issuer_url if profile else "")
        self.node_resource_group = cluster.node_resource_group.apply(lambda group: group or "")
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "oidcIssuerUrl": self.oidc_issuer_url,
                "nodeResourceGroup": self.node_resource_group,
            }
        )

    @staticmethod
    def _checked_vm_sizes(deployed: Mapping[str, Any] | None, aks: AksSettings) -> dict[str, str]:
        problems = aks.vm_size_change_problems(deployed)
        if problems:
            raise pulumi.RunError(
                "this stack cannot change its node pools (fix every line, then run again):\n"
                + "\n".join(f"  - {problem}" for problem in problems)
            )
        return aks.vm_sizes()
