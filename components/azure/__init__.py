"""Azure resources: the platform (resource group, identities, network, storage, monitoring, AKS, access)."""
