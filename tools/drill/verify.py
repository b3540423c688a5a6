"""Verify a deployed stack end to end: ``python -m tools.drill verify --stack NAME`` after ``pulumi up``.

Each check gives one line: passed, failed (what is wrong) or skipped (what the stack does not have).

- nodes: Ready nodes of the postgres pool in every zone of the stack (``zones``, ``location``).
- operator <release>: the Deployments of the CloudNativePG, Barman Cloud plugin and cert-manager releases Available.
- sidecar identity: in each instance pod the plugin's sidecar holds the four workload-identity variables
  azure-identity needs to exchange the federated token instead of falling back to IMDS.
- archiving: the Cluster's ``ContinuousArchiving`` condition is True.
- backup: an on-demand plugin Backup completes (the only object the check creates; it stays as a backup).
- tls <output>: every endpoint and pooler URI accepts a ``verify-full`` connection against the <cluster>-ca.
- dns <host>: each internal endpoint name resolves, from this machine, to its Service's internal load balancer.
- peer archive: with ``disasterRecovery``, the plugin's sidecar lists the peer's base backups with this
  stack's identity, as a restore or WAL replay from the peer would read them (``barman-cloud-backup-list``).
- test alert: Azure Monitor sends a test notification to every email and webhook receiver of the
  on-call action group (``az monitor action-group test-notifications create``).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from components.azure.aks_cluster import POSTGRES_NODE_LABEL
from components.azure.observability import ON_CALL_ACTION_GROUP_SUFFIX
from components.cluster.operators import (
    BARMAN_CLOUD_RELEASE,
    CERT_MANAGER_NAMESPACE,
    CERT_MANAGER_RELEASE,
    CNPG_RELEASE,
    OPERATOR_NAMESPACE,
)
from tools.drill.az_cli import AzCli
from tools.drill.failover import primary_pod
from tools.drill.kube import Kubectl, cluster_ca
from tools.drill.restore import take_backup
from tools.drill.writer import FAIL_FAST_OPTIONS, DrillError, database_error

CLUSTER_KIND = "clusters.postgresql.cnpg.io"
OBJECT_STORE_KIND = "objectstores.barmancloud.cnpg.io"
# The container the Barman Cloud plugin adds to every instance pod, as a restartable init container
# (plugin-barman-cloud v0.14.0 internal/cnpgi/operator/lifecycle.go, reconcilePodSpec).
SIDECAR_CONTAINER = "plugin-barman-cloud"
# What the AKS workload-identity webhook injects into each container, init containers included. azure-identity
# (1.25.3, _constants.py WORKLOAD_IDENTITY_VARS) exchanges the federated token only when the last three are set,
# and ManagedIdentityCredential needs the client ID; without them barman's managed-identity credential asks IMDS.
WORKLOAD_IDENTITY_ENV = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST")
ZONE_LABEL = "topology.kubernetes.io/zone"
OPERATORS = (
    (OPERATOR_NAMESPACE, CNPG_RELEASE),
    (OPERATOR_NAMESPACE, BARMAN_CLOUD_RELEASE),
    (CERT_MANAGER_NAMESPACE, CERT_MANAGER_RELEASE),
)
# Stack outputs: the secret URIs every client uses (endpoints, then poolers) and the host of each.
ENDPOINT_URIS = ("readWriteUri", "readOnlyUri", "pooledReadWriteUri", "pooledReadOnlyUri")
ENDPOINT_HOSTS = ("readWriteHost", "readOnlyHost", "pooledReadWriteHost", "pooledReadOnlyHost")
# The test notification's alert type: the program's alerts are metric (Prometheus) rules.
TEST_ALERT_TYPE = "metricstaticthreshold"
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


def check_line(check: Mapping[str, str]) -> str:
    """One line of the summary: status, check, what was found (or what is wrong)."""
    return f"{check['status'].upper():7} {check['name']}: {check['detail']}"


@dataclass(frozen=True)
class VerifyOptions:
    stack: str
    zones: tuple[str, ...]
    timeout: float
    workdir: Path  # private (0700): the CA file and the webhook URL handed to az
    poll_seconds: float = 10.0


def _connect(uri: str, ca_file: str) -> psycopg.Connection[Any]:
    return psycopg.connect(uri, sslmode="verify-full", sslrootcert=ca_file, autocommit=True, **FAIL_FAST_OPTIONS)


def _resolve(host: str) -> set[str]:
    return {str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}


@dataclass(frozen=True)
class Probes:
    """How the checks reach the network from this machine (the tests replace both)."""

    connect: Callable[[str, str], psycopg.Connection[Any]] = _connect
    resolve: Callable[[str], set[str]] = _resolve


class _Skip(Exception):  # noqa: N818 - a check's outcome, not an error
    """The stack has nothing for this check to verify; ``str()`` says what."""


def _true(document: Mapping[str, Any], condition: str) -> bool:
    conditions = document.get("status", {}).get("conditions") or []
    return any(item.get("type") == condition and item.get("status") == "True" for item in conditions)


def check_nodes(kube: Kubectl, location: str, zones: Sequence[str]) -> str:
    selector = "=".join(POSTGRES_NODE_LABEL)
    ready: dict[str, list[str]] = {}
    not_ready = []
    for node in kube.items("nodes", selector):
        name = node["metadata"]["name"]
        if _true(node, "Ready"):
            ready.setdefault(node["metadata"].get("labels", {}).get(ZONE_LABEL, "no zone"), []).append(name)
        else:
            not_ready.append(name)
    missing = [zone for zone in (f"{location}-{zone}" for zone in zones) if zone not in ready]
    spread = ", ".join(f"{zone}: {len(names)}" for zone, names in sorted(ready.items())) or "none"
    if missing or not_ready:
        problems = [f"no Ready node in {', '.join(missing)}"] if missing else []
        problems += [f"not Ready: {', '.join(sorted(not_ready))}"] if not_ready else []
        raise DrillError(f"postgres pool ({selector}): {'; '.join(problems)} (Ready per zone: {spread})")
    return f"Ready postgres pool nodes per zone: {spread}"


def check_operator(kube: Kubectl, namespace: str, release: str) -> str:
    deployments = kube.items("deployments", f"app.kubernetes.io/instance={release}", namespace)
    if not deployments:
        raise DrillError(f"no Deployment of Helm release {release} in {namespace}")
    names = sorted(deployment["metadata"]["name"] for deployment in deployments)
    unavailable = sorted(d["metadata"]["name"] for d in deployments if not _true(d, "Available"))
    if unavailable:
        raise DrillError(f"Deployment {', '.join(unavailable)} in {namespace} not Available")
    return f"{', '.join(names)} Available in {namespace}"


def check_sidecar_identity(kube: Kubectl, cluster: str) -> str:
    pods = kube.items("pods", f"cnpg.io/cluster={cluster},cnpg.io/podRole=instance")
    if not pods:
        raise DrillError(f"no instance pod of Cluster {cluster}")
    problems = []
    for pod in pods:
        spec, name = pod["spec"], pod["metadata"]["name"]
        containers = [*spec.get("initContainers", []), *spec.get("containers", [])]
        sidecar = next((container for container in containers if container["name"] == SIDECAR_CONTAINER), None)
        if sidecar is None:
            problems.append(f"{name} has no {SIDECAR_CONTAINER} container")
            continue
        present = {variable["name"] for variable in sidecar.get("env", [])}
        missing = [variable for variable in WORKLOAD_IDENTITY_ENV if variable not in present]
        if missing:
            problems.append(f"{name}'s {SIDECAR_CONTAINER} lacks {', '.join(missing)}")
    if problems:
        raise DrillError("; ".join(problems) + " (backups and WAL archiving cannot use the workload identity)")
    return f"{len(pods)} instance pods: {SIDECAR_CONTAINER} holds {', '.join(WORKLOAD_IDENTITY_ENV)}"


def check_archiving(kube: Kubectl, cluster: str) -> str:
    conditions = kube.get(CLUSTER_KIND, cluster).get("status", {}).get("conditions") or []
    condition = next((item for item in conditions if item.get("type") == "ContinuousArchiving"), None)
    if condition is None:
        raise DrillError(f"Cluster {cluster} has no ContinuousArchiving condition: no WAL segment archived yet")
    message = ((condition.get("message") or "").strip().splitlines() or [""])[0]
    if condition.get("status") != "True":
        raise DrillError(f"ContinuousArchiving is {condition.get('status')} ({condition.get('reason')}): {message}")
    return message or "ContinuousArchiving True"


def check_backup(kube: Kubectl, cluster: str, options: VerifyOptions) -> str:
    name = f"{cluster}-verify-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"
    backup_id, seconds = take_backup(kube, cluster, name, "verify", options.timeout, options.poll_seconds)
    return f"Backup {name} completed in {seconds:.0f} s (backupId {backup_id})"


def check_endpoint(uri: str, ca_file: Path, probes: Probes) -> str:
    parts = conninfo_to_dict(uri)
    where = f"{parts.get('host')}:{parts.get('port') or 5432}"
    password = str(parts.get("password") or "")
    try:
        with probes.connect(uri, str(ca_file)) as connection:
            row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.Error as error:
        line = database_error(error)
        raise DrillError(f"{where}: {line.replace(password, '***') if password else line}") from None
    role = "a replica" if row and row[0] else "the primary"
    return f"{where}: TLS verify-full against the cluster CA, reached {role}"


def check_private_name(kube: Kubectl, host: str, services: Mapping[str, str], probes: Probes) -> str:
    try:
        addresses = probes.resolve(host)
    except OSError as error:  # socket.gaierror: no such name, no resolver
        raise DrillError(f"does not resolve from this machine ({error}); run from a network linked to the zone") from None
    label = host.split(".", 1)[0]
    # Endpoint names carry the in-cluster service's name; the internal load balancer is another Service.
    internal = {services.get(role): services.get(f"internal{role[0].upper()}{role[1:]}") for role in ("readWrite", "readOnly")}
    service = internal.get(label) or label
    ingress = kube.get("service", service).get("status", {}).get("loadBalancer", {}).get("ingress") or []
    balancer = {item["ip"] for item in ingress if item.get("ip")}
    if not addresses & balancer:
        raise DrillError(f"resolves to {', '.join(sorted(addresses))}, but Service {service}'s load balancer has "
                         f"{', '.join(sorted(balancer)) or 'no address'}")  # fmt: skip
    return f"{', '.join(sorted(addresses))}: Service {service}'s internal load balancer"


def backup_list_command(configuration: Mapping[str, Any], server_name: str) -> list[str]:
    """``barman-cloud-backup-list`` as the plugin runs it for an ObjectStore's configuration
    (cloudnative-pg/barman-cloud pkg/command/backuplist.go and commandbuilder.go)."""
    command = ["barman-cloud-backup-list", "--format", "json"]
    if configuration.get("endpointURL"):
        command += ["--endpoint-url", configuration["endpointURL"]]
    credentials = configuration.get("azureCredentials") or {}
    if credentials.get("useDefaultAzureCredentials"):
        credential = "default"
    elif credentials.get("inheritFromAzureAD"):
        credential = "managed-identity"
    else:
        raise DrillError("the ObjectStore's azureCredentials are neither inheritFromAzureAD nor useDefaultAzureCredentials")
    return [*command, "--cloud-provider", "azure-blob-storage", "--credential", credential,
            configuration["destinationPath"], server_name]  # fmt: skip


def check_peer_archive(kube: Kubectl, cluster: str, peer: str) -> str:
    spec = kube.get(CLUSTER_KIND, cluster)["spec"]
    source = next((entry for entry in spec.get("externalClusters", []) if entry.get("name") == peer), None)
    if source is None:
        raise DrillError(f"Cluster {cluster} has no externalClusters entry {peer!r} (the peer's archive)")
    parameters = source["plugin"]["parameters"]
    store = kube.get(OBJECT_STORE_KIND, parameters["barmanObjectName"])
    configuration = store["spec"]["configuration"]
    server = parameters.get("serverName") or cluster
    pod = primary_pod(kube, cluster)["metadata"]["name"]
    listing = json.loads(kube.exec(pod, SIDECAR_CONTAINER, backup_list_command(configuration, server)))
    backups = listing.get("backups_list") or []
    where = f"{configuration['destinationPath']} (server {server}, ObjectStore {parameters['barmanObjectName']})"
    if not backups:
        raise DrillError(f"{pod} reads {where}, but it holds no base backup: nothing to restore or rebuild from")
    return f"{pod} lists {len(backups)} base backups in {where}"


def _receiver_actions(group: Mapping[str, Any], workdir: Path) -> tuple[list[str], int]:
    """``--add-action`` arguments for the group's email and webhook receivers, and how many receivers that is.
    A webhook URL often holds a credential: az reads it from a private file (``@file``), never from the command line."""
    arguments: list[str] = []
    count = 0
    for receiver in group.get("emailReceivers") or []:
        schema = ["usecommonalertschema"] if receiver.get("useCommonAlertSchema") else []
        arguments += ["--add-action", "email", receiver["name"], receiver["emailAddress"], *schema]
        count += 1
    for index, receiver in enumerate(group.get("webhookReceivers") or []):
        uri_file = workdir / f"webhook-{index}"
        uri_file.write_text(receiver["serviceUri"])
        uri_file.chmod(0o600)
        schema = ["usecommonalertschema"] if receiver.get("useCommonAlertSchema") else []
        arguments += ["--add-action", "webhook", receiver["name"], f"@{uri_file}", *schema]
        count += 1
    return arguments, count


def _lower_keys(value: Any) -> Any:
    """The notification status with lower-case keys (the service answers ``MechanismType``, ``Status``, ...)."""
    if isinstance(value, dict):
        return {str(key).lower(): _lower_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_lower_keys(item) for item in value]
    return value


def check_test_alert(az: AzCli, resource_group: str, workdir: Path, timeout: float) -> str:
    groups = az.json(["monitor", "action-group", "list", "--resource-group", resource_group]) or []
    on_call = [group for group in groups if str(group.get("name", "")).endswith(ON_CALL_ACTION_GROUP_SUFFIX)]
    if not on_call:
        raise _Skip(f"no action group *{ON_CALL_ACTION_GROUP_SUFFIX} in {resource_group} "
                    "(observability.azureMonitoring off, or no alerting.emails/webhookUrl)")  # fmt: skip
    group = on_call[0]
    actions, receivers = _receiver_actions(group, workdir)
    if not receivers:
        raise DrillError(f"action group {group['name']} has no email or webhook receiver")
    answer = _lower_keys(
        az.json(["monitor", "action-group", "test-notifications", "create", "--action-group", group["name"],
                 "--resource-group", resource_group, "--alert-type", TEST_ALERT_TYPE, *actions], timeout=timeout)
    )  # fmt: skip
    details = answer.get("actiondetails") or []
    failed = [f"{d.get('name')} ({d.get('mechanismtype')}): {d.get('status')} {d.get('detail') or ''}".strip()
              for d in details if str(d.get("status", "")).lower() != "succeeded"]  # fmt: skip
    if failed or len(details) < receivers or str(answer.get("state", "")).lower() != "complete":
        raise DrillError(f"test notification of {group['name']}: state {answer.get('state')!r}, "
                         f"{len(details)} of {receivers} receivers answered; failed: {'; '.join(failed) or 'none'}")  # fmt: skip
    return f"test notification ({TEST_ALERT_TYPE}) delivered to {receivers} receivers of {group['name']}"


def _checks(
    kube: Kubectl, az: AzCli, outputs: Mapping[str, Any], cluster: str, options: VerifyOptions, probes: Probes
) -> Iterator[tuple[str, Callable[[], str]]]:
    """Every check as (name, callable); a callable returns its line, or raises DrillError / _Skip."""
    yield "nodes", lambda: check_nodes(kube, outputs["location"], options.zones)
    for namespace, release in OPERATORS:
        yield f"operator {release}", lambda n=namespace, r=release: check_operator(kube, n, r)  # type: ignore[misc]
    yield "sidecar identity", lambda: check_sidecar_identity(kube, cluster)
    yield "archiving", lambda: check_archiving(kube, cluster)
    yield "backup", lambda: check_backup(kube, cluster, options)
    ca_file = options.workdir / "ca.crt"
    for output in ENDPOINT_URIS:
        if outputs.get(output):

            def endpoint(uri: str = outputs[output]) -> str:
                if not ca_file.exists():
                    ca_file.write_bytes(cluster_ca(kube, cluster))
                return check_endpoint(uri, ca_file, probes)

            yield f"tls {output}", endpoint
    zone = outputs.get("privateDnsZone")
    private = [str(outputs[key]) for key in ENDPOINT_HOSTS if zone and str(outputs.get(key, "")).endswith(f".{zone}")]
    for host in private:
        yield f"dns {host}", lambda h=host: check_private_name(kube, h, outputs.get("cnpgServices") or {}, probes)  # type: ignore[misc]
    if not private:
        yield "dns", _skipped("no endpoint in the private DNS zone (network.internalEndpoint off)")
    peer = str(outputs.get("disasterRecoveryPeerStack") or "").rsplit("/", 1)[-1]
    yield "peer archive", (lambda: check_peer_archive(kube, cluster, peer)) if peer else _skipped("no disasterRecovery peer")
    yield "test alert", lambda: check_test_alert(az, outputs["resourceGroupName"], options.workdir, options.timeout)


def _skipped(why: str) -> Callable[[], str]:
    def skip() -> str:
        raise _Skip(why)

    return skip


def run_check(name: str, check: Callable[[], str]) -> Check:
    try:
        return Check(name, PASSED, check())
    except _Skip as skip:
        return Check(name, SKIPPED, str(skip))
    except DrillError as error:
        return Check(name, FAILED, str(error))
    except (KeyError, TypeError, ValueError) as error:  # an answer without the field the check reads
        return Check(name, FAILED, f"unexpected answer ({type(error).__name__}: {error})")


def run_verify(
    kube: Kubectl, az: AzCli, outputs: Mapping[str, Any], cluster: str, options: VerifyOptions, probes: Probes | None = None
) -> dict[str, Any]:
    """The report: every check's outcome; ``passed`` when none failed."""
    checks = [run_check(name, check) for name, check in _checks(kube, az, outputs, cluster, options, probes or Probes())]
    counts = {status: sum(1 for check in checks if check.status == status) for status in (PASSED, FAILED, SKIPPED)}
    return {
        "drill": "verify",
        "checks": [{"name": check.name, "status": check.status, "detail": check.detail} for check in checks],
        "passed": counts[FAILED] == 0,
        "summary": f"verify {options.stack}: {counts[PASSED]} passed, {counts[FAILED]} failed, {counts[SKIPPED]} skipped",
    }
