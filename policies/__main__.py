"""The aks-postgres-ha policy pack: the Pulumi CLI runs this file (``--policy-pack policies``)."""

from aks_postgres_ha_policies.aks import AKS_POLICIES
from aks_postgres_ha_policies.alert_routing import ALERT_ROUTING_POLICIES
from aks_postgres_ha_policies.archive_isolation import ARCHIVE_ISOLATION_POLICIES
from aks_postgres_ha_policies.backups import BACKUP_POLICIES
from aks_postgres_ha_policies.cluster_access import CLUSTER_ACCESS_POLICIES
from aks_postgres_ha_policies.cnpg import CNPG_POLICIES
from aks_postgres_ha_policies.credentials import CREDENTIAL_POLICIES
from aks_postgres_ha_policies.environment import ENVIRONMENT_POLICIES
from aks_postgres_ha_policies.federation import FEDERATION_POLICIES
from aks_postgres_ha_policies.grafana import GRAFANA_POLICIES
from aks_postgres_ha_policies.identity import IDENTITY_POLICIES
from aks_postgres_ha_policies.images import IMAGE_POLICIES
from aks_postgres_ha_policies.network import NETWORK_POLICIES
from aks_postgres_ha_policies.operations import OPERATIONS_POLICIES
from aks_postgres_ha_policies.pgbouncer import PGBOUNCER_POLICIES
from aks_postgres_ha_policies.poolers import POOLER_POLICIES
from aks_postgres_ha_policies.private_network import PRIVATE_NETWORK_POLICIES
from aks_postgres_ha_policies.qos import QOS_POLICIES
from aks_postgres_ha_policies.storage import STORAGE_POLICIES
from aks_postgres_ha_policies.storage_network import STORAGE_NETWORK_POLICIES
from aks_postgres_ha_policies.workload_isolation import WORKLOAD_ISOLATION_POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="aks-postgres-ha-policies",
    description="Guardrails for highly available PostgreSQL (CloudNativePG) on AKS.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        *ENVIRONMENT_POLICIES,
        *STORAGE_POLICIES,
        *STORAGE_NETWORK_POLICIES,
        *AKS_POLICIES,
        *CLUSTER_ACCESS_POLICIES,
        *IDENTITY_POLICIES,
        *ARCHIVE_ISOLATION_POLICIES,
        *NETWORK_POLICIES,
        *OPERATIONS_POLICIES,
        *PRIVATE_NETWORK_POLICIES,
        *WORKLOAD_ISOLATION_POLICIES,
        *ALERT_ROUTING_POLICIES,
        *CNPG_POLICIES,
        *QOS_POLICIES,
        *POOLER_POLICIES,
        *PGBOUNCER_POLICIES,
        *BACKUP_POLICIES,
        *FEDERATION_POLICIES,
        *CREDENTIAL_POLICIES,
        *GRAFANA_POLICIES,
        *IMAGE_POLICIES,
    ],
)
