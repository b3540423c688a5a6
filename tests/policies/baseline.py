"""A small stack that every policy accepts, shaped like the program's (wire names, as registered)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .synthetic import Resource, Secret, SyntheticStack

SUBSCRIPTION = "/subscriptions/00000000-0000-4000-8000-000000000001"
GROUP = f"{SUBSCRIPTION}/resourceGroups/rg-cnpg"
STORAGE_ACCOUNT_ID = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/cnpgbackups"
ISSUER = "https://swedencentral.oic.prod-aks.azure.com/00000000-0000-4000-8000-000000000002/1234/"
NAMESPACE = "cnpg-database"
CLUSTER = "pg-primary"
OBJECT_STORE = "pg-primary-backups"
BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"
BLOB_DATA_CONTRIBUTOR = f"{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe"
NETWORK_CONTRIBUTOR = f"{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7"
ZONES = ["1", "2", "3"]
EXEC_KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nclusters: [{name: aks, cluster: {server: 'https://aks.hcp.azmk8s.io:443'}}]\n"
    "users:\n- name: entra\n  user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: kubelogin, "
    "args: [get-token, --login, azurecli, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]}}\n"
)
RESTRICTED = {
    f"pod-security.kubernetes.io/{mode}{suffix}": value
    for mode in ("enforce", "audit", "warn")
    for suffix, value in (("", "restricted"), ("-version", "v1.35"))
}
GUARANTEED = {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "1000m", "memory": "4096Mi"}}
# As the program derives them for max_connections 200: 2 poolers x 2 instances x 22 x 2 databases
# = 176, plus superuser_reserved_connections 3 = 179 <= 200.
POOLER_INSTANCES = 2
POOLER_MAX_DB_CONNECTIONS = "22"


def _azure() -> list[Resource]:
    return [
        Resource("azure-native:resources:ResourceGroup", "rg", {"resourceGroupName": "rg-cnpg", "location": "swedencentral"}),
        Resource(
            "azure-native:managedidentity:UserAssignedIdentity",
            "control-plane-identity",
            {"resourceGroupName": "rg-cnpg", "resourceName": "mi-aks"},
            sources={"resourceGroupName": ["rg"]},
        ),
        Resource(
            "azure-native:managedidentity:UserAssignedIdentity",
            "workload-identity",
            {"resourceGroupName": "rg-cnpg", "resourceName": "mi-db"},
            sources={"resourceGroupName": ["rg"]},
        ),
        Resource(
            "azure-native:storage:StorageAccount",
            "storage-account",
            {
                "resourceGroupName": "rg-cnpg",
                "accountName": "cnpgbackups",
                "kind": "StorageV2",
                "sku": {"name": "Standard_ZRS"},
                "enableHttpsTrafficOnly": True,
                "minimumTlsVersion": "TLS1_2",
                "allowBlobPublicAccess": False,
                "allowSharedKeyAccess": False,
                "allowCrossTenantReplication": False,
                "networkRuleSet": {
                    "defaultAction": "Deny",
                    "bypass": "AzureServices",
                    "virtualNetworkRules": [
                        {"virtualNetworkResourceId": f"{GROUP}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/nodes"}
                    ],
                },
            },
        ),
        Resource(
            "azure-native:storage:BlobServiceProperties",
            "blob-service",
            {
                "resourceGroupName": "rg-cnpg",
                "accountName": "cnpgbackups",
                "blobServicesName": "default",
                "deleteRetentionPolicy": {"enabled": True, "days": 14},
                "isVersioningEnabled": True,
            },
            sources={"accountName": ["storage-account"]},
        ),
        Resource(
            "azure-native:storage:BlobContainer",
            "backup-container",
            {"resourceGroupName": "rg-cnpg", "accountName": "cnpgbackups", "containerName": "backups", "publicAccess": "None"},
            sources={"accountName": ["storage-account"]},
        ),
        Resource(
            "azure-native:authorization:RoleAssignment",
            "backup-writer",
            {
                "scope": f"{STORAGE_ACCOUNT_ID}/blobServices/default/containers/backups",
                "principalId": "principal-db",
                "principalType": "ServicePrincipal",
                "roleDefinitionId": BLOB_DATA_CONTRIBUTOR,
            },
            sources={"scope": ["backup-container"], "principalId": ["workload-identity"]},
        ),
        Resource(
            "azure-native:authorization:RoleAssignment",
            "control-plane-network",
            {
                "scope": GROUP,
                "principalId": "principal-aks",
                "principalType": "ServicePrincipal",
                "roleDefinitionId": NETWORK_CONTRIBUTOR,
            },
            sources={"scope": ["rg"], "principalId": ["control-plane-identity"]},
        ),
        Resource(
            "azure-native:containerservice:ManagedCluster",
            "aks",
            {
                "resourceGroupName": "rg-cnpg",
                "resourceName": "aks-cnpg",
                "kubernetesVersion": "1.35",
                "sku": {"name": "Base", "tier": "Standard"},
                "identity": {
                    "type": "UserAssigned",
                    "userAssignedIdentities": [f"{GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi-aks"],
                },
                "oidcIssuerProfile": {"enabled": True},
                "securityProfile": {"workloadIdentity": {"enabled": True}},
                "apiServerAccessProfile": {"authorizedIPRanges": ["203.0.113.0/24"]},
                "aadProfile": {"managed": True, "enableAzureRBAC": True},
                "disableLocalAccounts": True,
                "networkProfile": {"networkPlugin": "azure", "networkDataplane": "cilium", "networkPolicy": "cilium"},
                "agentPoolProfiles": [{"name": "systempool", "mode": "System", "count": 2, "availabilityZones": ZONES}],
            },
            sources={"identity": ["control-plane-identity"]},
        ),
        Resource(
            "azure-native:containerservice:AgentPool",
            "postgres-pool",
            {
                "resourceGroupName": "rg-cnpg",
                "resourceName": "aks-cnpg",
                "agentPoolName": "postgres",
                "mode": "User",
                "count": 3,
                "availabilityZones": ZONES,
                "orchestratorVersion": "1.35",
            },
            sources={"resourceName": ["aks"]},
        ),
        *(
            Resource(
                "azure-native:containerservice:MaintenanceConfiguration",
                schedule,
                {
                    "resourceGroupName": "rg-cnpg",
                    "resourceName": "aks-cnpg",
                    "configName": schedule,
                    "maintenanceWindow": {
                        "schedule": {"weekly": {"dayOfWeek": "Sunday", "intervalWeeks": 1}},
                        "durationHours": 4,
                        "startTime": "02:00",
                        "utcOffset": "+00:00",
                    },
                },
                sources={"resourceName": ["aks"]},
            )
            for schedule in ("aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule")
        ),
        Resource(
            "azure-native:managedidentity:FederatedIdentityCredential",
            "cluster-credential",
            {
                "resourceGroupName": "rg-cnpg",
                "resourceName": "mi-db",
                "subject": f"system:serviceaccount:{NAMESPACE}:{CLUSTER}",
                "audiences": ["api://AzureADTokenExchange"],
                "issuer": ISSUER,
            },
            sources={"resourceName": ["workload-identity"], "issuer": ["aks"]},
        ),
        Resource(
            "azure-native:network:PublicIPAddress",
            "public-ip",
            {
                "resourceGroupName": "rg-cnpg",
                "publicIpAddressName": "pip-pg",
                "publicIPAllocationMethod": "Static",
                "zones": ZONES,
            },
        ),
        Resource(
            "azure-native:dashboard:Grafana",
            "grafana",
            {"resourceGroupName": "rg-cnpg", "workspaceName": "gf-cnpg", "properties": {"apiKey": "Disabled"}},
        ),
    ]


def _cluster_spec() -> dict[str, object]:
    return {
        "instances": 3,
        "imageName": "ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-standard-trixie@sha256:" + "7" * 64,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"cnpg.io/cluster": CLUSTER, "cnpg.io/podRole": "instance"}},
            }
        ],
        "primaryUpdateMethod": "switchover",
        "postgresql": {
            "parameters": {"max_connections": "200"},
            "synchronous": {"method": "any", "number": 1},
            "pg_hba": [
                "hostssl all all 0.0.0.0/0 scram-sha-256",
                "hostnossl all all 0.0.0.0/0 reject",
                "hostnossl all all ::/0 reject",
            ],
        },
        "bootstrap": {
            "initdb": {"database": "app", "owner": "app", "dataChecksums": True, "secret": {"name": "app-credentials"}}
        },
        "resources": GUARANTEED,
        "plugins": [
            {
                "name": BARMAN_PLUGIN,
                "isWALArchiver": True,
                "parameters": {"barmanObjectName": OBJECT_STORE, "serverName": CLUSTER},
            }
        ],
        "managed": {
            "services": {
                "additional": [
                    {
                        "selectorType": "rw",
                        "serviceTemplate": {
                            "metadata": {
                                "name": f"{CLUSTER}-public-rw",
                                "annotations": {"service.beta.kubernetes.io/azure-pip-name": "pip-pg"},
                            },
                            "spec": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["203.0.113.0/24"]},
                        },
                    }
                ]
            }
        },
    }


def _on_cluster(resource_type: str, name: str, inputs: dict[str, Any], **options: Any) -> Resource:
    """A Kubernetes object of the database component, deployed through the explicit provider."""
    return Resource(resource_type, name, inputs, parent="database", provider="kubernetes", **options)


def _kubernetes() -> list[Resource]:
    return [
        Resource(
            "pulumi:providers:kubernetes",
            "kubernetes",
            {"kubeconfig": Secret(EXEC_KUBECONFIG)},
            sources={"kubeconfig": ["aks"]},
        ),
        Resource("aks-postgres-ha:components:PostgresCluster", "database", {}, custom=False),
        _on_cluster("kubernetes:core/v1:Namespace", "namespace", {"metadata": {"name": NAMESPACE, "labels": RESTRICTED}}),
        _on_cluster(
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "default-deny",
            {
                "metadata": {"name": "default-deny-ingress", "namespace": NAMESPACE},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
            },
        ),
        _on_cluster(
            "kubernetes:core/v1:Secret",
            "app-credentials",
            {
                "metadata": {"name": "app-credentials", "namespace": NAMESPACE},
                "type": "kubernetes.io/basic-auth",
                "stringData": Secret({"username": "app", "password": "s3cret-Passw0rd"}),
            },
        ),
        _on_cluster(
            "kubernetes:helm.sh/v3:Release",
            "monitoring",
            {
                "chart": "kube-prometheus-stack",
                "values": {"grafana": {"admin": {"existingSecret": "grafana-admin", "passwordKey": "pw"}}},
            },
        ),
        _on_cluster(
            "kubernetes:barmancloud.cnpg.io/v1:ObjectStore",
            "object-store",
            {
                "metadata": {"name": OBJECT_STORE, "namespace": NAMESPACE},
                "spec": {
                    "configuration": {
                        "destinationPath": "https://cnpgbackups.blob.core.windows.net/backups",
                        "azureCredentials": {"inheritFromAzureAD": True},
                    },
                    "retentionPolicy": "30d",
                    "instanceSidecarConfiguration": {"resources": GUARANTEED},
                },
            },
        ),
        _on_cluster(
            "kubernetes:postgresql.cnpg.io/v1:Cluster",
            "cluster",
            {"metadata": {"name": CLUSTER, "namespace": NAMESPACE}, "spec": _cluster_spec()},
            sources={"spec": ["workload-identity", "public-ip"]},
        ),
        _on_cluster(
            "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup",
            "scheduled-backup",
            {
                "metadata": {"name": f"{CLUSTER}-daily", "namespace": NAMESPACE},
                "spec": {
                    "schedule": "0 0 2 * * *",
                    "cluster": {"name": CLUSTER},
                    "method": "plugin",
                    "pluginConfiguration": {"name": BARMAN_PLUGIN},
                },
            },
        ),
        _on_cluster(
            "kubernetes:core/v1:Service",
            "internal-lb",
            {
                "metadata": {
                    "name": "pg-internal",
                    "annotations": {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"},
                },
                "spec": {"type": "LoadBalancer", "ports": [{"port": 5432}]},
            },
        ),
    ]


def _pooler(pooler_type: str) -> Resource:
    return _on_cluster(
        "kubernetes:postgresql.cnpg.io/v1:Pooler",
        f"pooler-{pooler_type}",
        {
            "metadata": {"name": f"{CLUSTER}-pooler-{pooler_type}", "namespace": NAMESPACE},
            "spec": {
                "cluster": {"name": CLUSTER},
                "instances": POOLER_INSTANCES,
                "type": pooler_type,
                "pgbouncer": {
                    "poolMode": "transaction",
                    "parameters": {
                        "max_db_connections": POOLER_MAX_DB_CONNECTIONS,
                        "default_pool_size": POOLER_MAX_DB_CONNECTIONS,
                        "max_client_conn": "1000",
                        "reserve_pool_size": "0",
                        "client_tls_sslmode": "require",
                        "server_tls_sslmode": "verify-full",
                    },
                    "pg_hba": [
                        "hostssl app all 0.0.0.0/0 scram-sha-256",
                        "host all all 0.0.0.0/0 reject",
                        "host all all ::/0 reject",
                    ],
                },
            },
        },
    )


# What prod protects (stateful-resources-protected): the cluster, the backups, the identities, the database.
PROTECTED_IN_PROD = {
    "azure-native:containerservice:ManagedCluster",
    "azure-native:storage:StorageAccount",
    "azure-native:storage:BlobContainer",
    "azure-native:managedidentity:UserAssignedIdentity",
    "kubernetes:postgresql.cnpg.io/v1:Cluster",
}


def compliant_stack(stack: str = "dev") -> SyntheticStack:
    resources = [*_azure(), *_kubernetes(), _pooler("rw"), _pooler("ro")]
    if stack == "prod":
        database_namespaces = {
            r.inputs["metadata"]["namespace"] for r in resources if r.type == "kubernetes:postgresql.cnpg.io/v1:Cluster"
        }
        resources = [
            replace(r, protect=True)
            if r.type in PROTECTED_IN_PROD
            or (r.type == "kubernetes:core/v1:Namespace" and r.inputs["metadata"]["name"] in database_namespaces)
            else r
            for r in resources
        ]
    return SyntheticStack(resources, stack)


IMAGE_CATALOG = "image-catalog"


def on_image_catalog(stack: SyntheticStack, image: str) -> SyntheticStack:
    """``stack`` with its Cluster taking ``image`` (major 18) from an ImageCatalog, as the program registers them."""
    catalog = _on_cluster(
        "kubernetes:postgresql.cnpg.io/v1:ImageCatalog",
        IMAGE_CATALOG,
        {
            "metadata": {"name": f"{CLUSTER}-postgresql", "namespace": NAMESPACE},
            "spec": {"images": [{"major": 18, "image": image}]},
        },
    )
    reference = {"apiGroup": "postgresql.cnpg.io", "kind": "ImageCatalog", "name": f"{CLUSTER}-postgresql", "major": 18}
    return stack.without("cluster", "spec.imageName").with_value("cluster", "spec.imageCatalogRef", reference).plus(catalog)
