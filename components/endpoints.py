"""Endpoints: how clients reach the database, inside the cluster and (optionally) publicly.

Public access uses operator-managed LoadBalancer services (``spec.managed.services.additional``)
so their selectors follow every failover; both share the platform's static IP and DNS name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from settings import PublicEndpointSettings

POSTGRES_PORT = 5432


@dataclass(frozen=True)
class PublicAddress:
    """The static public IP the load balancers use (from the PublicIp component)."""

    ip_name: pulumi.Input[str]
    resource_group_name: pulumi.Input[str]
    dns_label: pulumi.Input[str]
    fqdn: pulumi.Output[str]


@dataclass(frozen=True)
class Endpoints:
    """Read-write (primary) and read-only (replicas) endpoints of one CNPG cluster."""

    cluster_name: str
    namespace: str
    settings: PublicEndpointSettings
    public: PublicAddress | None
    # Services in front of the cluster that present its server certificate (the PgBouncer poolers').
    pooler_services: tuple[str, ...] = ()

    def service_name(self, role: str) -> str:
        """The operator's in-cluster service for ``rw``/``ro`` (always port 5432)."""
        return f"{self.cluster_name}-{role}"

    def public_service_name(self, role: str) -> str:
        return f"{self.cluster_name}-public-{role}"

    def _internal_host(self, service: str) -> str:
        return f"{service}.{self.namespace}.svc.cluster.local"

    def host(self, role: str) -> pulumi.Output[str]:
        return self.service_host(self.service_name(role))

    def service_host(self, service: str) -> pulumi.Output[str]:
        """Where clients reach ``service``: the public name when there is one, else its in-cluster name."""
        if self.public is None:
            return pulumi.Output.from_input(self._internal_host(service))
        return self.public.fqdn

    def port(self, role: str) -> int:
        if self.public is None:
            return POSTGRES_PORT
        return self.settings.read_write_port if role == "rw" else self.settings.read_only_port

    def server_alt_dns_names(self) -> list[pulumi.Input[str]]:
        """Names the server certificate must carry so clients can use sslmode=verify-full."""
        # CNPG adds its own services' names; the poolers' in-cluster names are ours to add.
        pooler_names: list[pulumi.Input[str]] = [
            name
            for service in self.pooler_services
            for name in (service, f"{service}.{self.namespace}", f"{service}.{self.namespace}.svc", self._internal_host(service))
        ]
        return pooler_names if self.public is None else [self.public.fqdn, *pooler_names]

    def managed_services(self) -> list[dict[str, Any]]:
        """``spec.managed.services.additional`` entries: one public LoadBalancer per role."""
        if self.public is None:
            return []
        return [self._load_balancer(role) for role in ("rw", "ro")]

    def _load_balancer(self, role: str) -> dict[str, Any]:
        return {
            "selectorType": role,
            "updateStrategy": "patch",
            # The operator keeps a template port named "postgres" as written.
            "serviceTemplate": self.public_service_template(self.public_service_name(role), "postgres", self.port(role)),
        }

    def public_service_template(self, name: str, port_name: str, port: int) -> dict[str, Any]:
        """A LoadBalancer service template on the public IP, open to the allowed client networks only.

        The operators keep a template port named like their own ("postgres" for a Cluster's services,
        "pgbouncer" for a Pooler's) as written; both target 5432 in the pod."""
        assert self.public is not None
        return {
            "metadata": {
                "name": name,
                "annotations": {
                    "service.beta.kubernetes.io/azure-pip-name": self.public.ip_name,
                    "service.beta.kubernetes.io/azure-load-balancer-resource-group": self.public.resource_group_name,
                    "service.beta.kubernetes.io/azure-dns-label-name": self.public.dns_label,
                },
            },
            "spec": {
                "type": "LoadBalancer",
                "loadBalancerSourceRanges": list(self.settings.allowed_client_cidrs),
                # Only nodes running a selected pod take traffic, so the pod sees the client's
                # address (not a node's, after SNAT) and the NetworkPolicy can admit it by network.
                "externalTrafficPolicy": "Local",
                "ports": [{"name": port_name, "port": port, "targetPort": POSTGRES_PORT, "protocol": "TCP"}],
            },
        }
