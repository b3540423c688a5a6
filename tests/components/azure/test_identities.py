from offline.engine import StackRun
from tests.components.helpers import children

IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"


def test_two_separate_identities(prod: StackRun) -> None:
    identities = {r.name: r for r in prod.of_type(IDENTITY)}
    assert set(identities) == {"identities-control-plane", "identities-workload"}
    names = {r.inputs["resourceName"] for r in identities.values()}
    assert len(names) == 2


def test_control_plane_is_network_contributor_on_its_group_only(prod: StackRun) -> None:
    roles = [r for r in children(prod, "identities") if r.type == "azure-native:authorization:RoleAssignment"]
    assert len(roles) == 1
    role = roles[0].inputs
    assert role["roleDefinitionId"].endswith(NETWORK_CONTRIBUTOR)
    group = prod.one("azure-native:resources:ResourceGroup")
    assert role["scope"].endswith("/resourceGroups/" + group.inputs["resourceGroupName"])
    assert role["principalType"] == "ServicePrincipal"
    control_plane = prod.one(IDENTITY, "identities-control-plane")
    assert control_plane.urn in roles[0].property_dependencies["principalId"]


def test_the_cluster_runs_as_the_control_plane_identity_not_the_workload(prod: StackRun) -> None:
    cluster = prod.one("azure-native:containerservice:ManagedCluster")
    assigned = cluster.inputs["identity"]["userAssignedIdentities"]
    assert len(assigned) == 1 and "mi-aks-" in assigned[0]
    assert prod.one(IDENTITY, "identities-control-plane").urn in cluster.dependencies
    assert prod.one(IDENTITY, "identities-workload").urn not in cluster.dependencies


def test_workload_identity_has_no_role_beyond_backup_storage(prod: StackRun) -> None:
    workload = prod.one(IDENTITY, "identities-workload")
    granted = [
        r
        for r in prod.of_type("azure-native:authorization:RoleAssignment")
        if workload.urn in r.property_dependencies["principalId"]
    ]
    assert [r.name for r in granted] == ["backup-storage-writer"]


def test_federated_credential_per_cluster_service_account(prod: StackRun) -> None:
    credentials = {r.inputs["subject"]: r for r in prod.of_type("azure-native:managedidentity:FederatedIdentityCredential")}
    # The cluster's own service account, and the restore drill's throwaway cluster (tools/drill).
    assert set(credentials) == {
        "system:serviceaccount:cnpg-database:pg-primary",
        "system:serviceaccount:cnpg-database:pg-primary-drill",
    }
    credential = credentials["system:serviceaccount:cnpg-database:pg-primary"]
    # Azure refuses concurrent federated-credential writes on one identity: one after the other.
    assert credential.urn in credentials["system:serviceaccount:cnpg-database:pg-primary-drill"].dependencies
    assert credential.inputs["audiences"] == ["api://AzureADTokenExchange"]
    assert credential.inputs["issuer"] == prod.outputs["oidcIssuerUrl"]
    aks = prod.one("azure-native:containerservice:ManagedCluster")
    assert aks.urn in credential.property_dependencies["issuer"]
    assert prod.one(IDENTITY, "identities-workload").urn in credential.property_dependencies["resourceName"]
