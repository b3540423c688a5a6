"""Workload identity for every CNPG Cluster: a federated credential for its service account.

The Barman Cloud sidecar runs as the Cluster's service account and exchanges that account's token
for an Entra token; Entra accepts it only from a credential with the account as subject, the token
exchange audience and the AKS cluster's OIDC issuer.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from .cnpg_objects import named_clusters
from .common import UNKNOWN, as_list, depends_on_type, label, lookup, of_type, plain, stack_policy, text
from .resource_types import CNPG_CLUSTER, FEDERATED_IDENTITY_CREDENTIAL, MANAGED_CLUSTER

TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
# The restore drill's throwaway recovery cluster, whose service account the program also trusts
# (settings/names.py drill_cluster_name): the prod render passes only while both agree
# (tests/policies/test_policy_weakenings.py).
DRILL_SUFFIX = "-drill"


def _issuer_problem(credential: PolicyResource, issuer: Any, cluster_issuers: set[str]) -> str | None:
    # The issuer is an output of the ManagedCluster: a first preview cannot know its value, but the
    # property dependency shows where it comes from. A known value may also match a cluster's output.
    if depends_on_type(credential, "issuer", MANAGED_CLUSTER):
        return None
    if isinstance(issuer, str) and issuer.rstrip("/") in cluster_issuers:
        return None
    shown = "not known yet" if issuer is UNKNOWN else repr(issuer)
    return (
        f"issuer ({shown}) is not taken from an AKS cluster of this stack; set issuer to the ManagedCluster's "
        "oidc_issuer_profile.issuer_url, or Entra rejects the service account's tokens"
    )


def _validate_federation(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    props = {resource.urn: plain(resource.props) for resource in args.resources}
    credentials = of_type(args.resources, FEDERATED_IDENTITY_CREDENTIAL)
    cluster_issuers = {
        issuer.rstrip("/")
        for cluster in of_type(args.resources, MANAGED_CLUSTER)
        if (issuer := text(lookup(props[cluster.urn], "oidcIssuerProfile", "issuerURL")))
    }
    for cluster in of_type(args.resources, CNPG_CLUSTER):
        if lookup(props[cluster.urn], "metadata", "name") is None:
            report_violation(
                f"{label(cluster.resource_type, cluster.name)}: metadata.name is not set, so Kubernetes gets a generated "
                "name that federated credentials, ScheduledBackups and ObjectStores cannot refer to; name it explicitly.",
                cluster.urn,
            )
    subjects: set[str] = set()
    for cluster, name, namespace in named_clusters(args.resources, props):
        account = text(lookup(props[cluster.urn], "spec", "serviceAccountName")) or name
        subject = f"system:serviceaccount:{namespace}:{account}"
        subjects |= {subject, f"system:serviceaccount:{namespace}:{name}{DRILL_SUFFIX}"}
        if not any(props[credential.urn].get("subject") == subject for credential in credentials):
            report_violation(
                f"{label(cluster.resource_type, cluster.name)} runs as service account {namespace}/{account}, but no "
                f"FederatedIdentityCredential has subject '{subject}', so its Barman Cloud sidecar cannot reach Blob "
                f"Storage and WAL archiving fails. Add one on the workload identity with that subject, audiences "
                f"['{TOKEN_EXCHANGE_AUDIENCE}'] and the AKS cluster's OIDC issuer.",
                cluster.urn,
            )
    for credential in credentials:
        where = label(credential.resource_type, credential.name)
        subject = props[credential.urn].get("subject")
        if subject is not UNKNOWN and subject not in subjects:
            report_violation(
                f"{where}: subject {subject!r} is not the service account of a CNPG Cluster of this stack (nor of its "
                f"restore drill, '<cluster>{DRILL_SUFFIX}'), so whoever runs pods as it gets the database identity's "
                f"access to the backups; trust only {sorted(subjects) or 'the Clusters service accounts'}.",
                credential.urn,
            )
        audiences = as_list(props[credential.urn].get("audiences"))
        if audiences != [TOKEN_EXCHANGE_AUDIENCE] and UNKNOWN not in audiences:
            report_violation(
                f"{where}: audiences {audiences} are not exactly ['{TOKEN_EXCHANGE_AUDIENCE}'], the audience of AKS "
                f"workload identity tokens; set audiences=['{TOKEN_EXCHANGE_AUDIENCE}'].",
                credential.urn,
            )
        problem = _issuer_problem(credential, props[credential.urn].get("issuer"), cluster_issuers)
        if problem:
            report_violation(f"{where} (subject '{subject}'): {problem}.", credential.urn)

FEDERATION_POLICIES = [
    stack_policy(
        "cnpg-federated-credentials",
        "Federated credentials trust exactly the CNPG Clusters' service accounts, from the AKS OIDC issuer.",
        _validate_federation,
    ),
]
