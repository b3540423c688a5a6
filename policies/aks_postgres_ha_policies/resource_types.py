"""Type tokens of the resources the policies inspect (as the engine sends them)."""

from typing import Final

RESOURCE_GROUP: Final = "azure-native:resources:ResourceGroup"
STORAGE_ACCOUNT: Final = "azure-native:storage:StorageAccount"
BLOB_SERVICE_PROPERTIES: Final = "azure-native:storage:BlobServiceProperties"
BLOB_CONTAINER: Final = "azure-native:storage:BlobContainer"

MANAGED_CLUSTER: Final = "azure-native:containerservice:ManagedCluster"
AGENT_POOL: Final = "azure-native:containerservice:AgentPool"
MAINTENANCE_CONFIGURATION: Final = "azure-native:containerservice:MaintenanceConfiguration"

USER_ASSIGNED_IDENTITY: Final = "azure-native:managedidentity:UserAssignedIdentity"
FEDERATED_IDENTITY_CREDENTIAL: Final = "azure-native:managedidentity:FederatedIdentityCredential"
ROLE_ASSIGNMENT: Final = "azure-native:authorization:RoleAssignment"

PUBLIC_IP_ADDRESS: Final = "azure-native:network:PublicIPAddress"
PRIVATE_ENDPOINT: Final = "azure-native:network:PrivateEndpoint"

KUBERNETES_PROVIDER: Final = "pulumi:providers:kubernetes"
KUBERNETES_SERVICE: Final = "kubernetes:core/v1:Service"
KUBERNETES_SECRET: Final = "kubernetes:core/v1:Secret"
KUBERNETES_NAMESPACE: Final = "kubernetes:core/v1:Namespace"
NETWORK_POLICY: Final = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
HELM_RELEASE: Final = "kubernetes:helm.sh/v3:Release"
PROMETHEUS_RULE: Final = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"

MANAGED_GRAFANA: Final = "azure-native:dashboard:Grafana"
ACTION_GROUP: Final = "azure-native:monitor:ActionGroup"
PROMETHEUS_RULE_GROUP: Final = "azure-native:alertsmanagement:PrometheusRuleGroup"

CNPG_CLUSTER: Final = "kubernetes:postgresql.cnpg.io/v1:Cluster"
CNPG_IMAGE_CATALOG: Final = "kubernetes:postgresql.cnpg.io/v1:ImageCatalog"
CNPG_CLUSTER_IMAGE_CATALOG: Final = "kubernetes:postgresql.cnpg.io/v1:ClusterImageCatalog"
CNPG_SCHEDULED_BACKUP: Final = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
BARMAN_OBJECT_STORE: Final = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"
CNPG_POOLER: Final = "kubernetes:postgresql.cnpg.io/v1:Pooler"
