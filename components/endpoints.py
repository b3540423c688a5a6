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

    def service_name(self, role: str) -> str:
        """The operator's in-cluster service for ``rw``/``ro`` (always port 5432)."""
        return f"{self.cluster_name}-{role}"

    def public_service_name(self, role: str) -> str:
        return f"{self.cluster_name}-public-{role}"

    def _internal_host(self, role: str) -> str:
        return f"{self.service_name(role)}.{self.namespace}.svc.cluster.local"

    def host(self, role: str) -> pulumi.Output[str]:
        if self.public is None:
            return pulumi.Output.from_input(self._internal_host(role))
        return self.public.fqdn

    def port(self, role: str) -> int:
        if self.public is None:
            return POSTGRES_PORT
        return self.settings.read_write_port if role == "rw" else self.settings.read_only_port

    def server_alt_dns_names(self) -> list[pulumi.Input[str]]:
        """Names the server certificate must carry so clients can use sslmode=verify-full."""
        return [] if self.public is None else [self.public.fqdn]

    def managed_services(self) -> list[dict[str, Any]]:
        """``spec.managed.services.additional`` entries: one public LoadBalancer per role."""
        if self.public is None:
            return []
        return [self._load_balancer(role) for role in ("rw", "ro")]

    def _load_balancer(self, role: str) -> dict[str, Any]:
        assert self.public is not None
        return {
            "selectorType": role,
            "updateStrategy": "patch",
            "serviceTemplate": {
                "metadata": {
                    "name": self.public_service_name(role),
                    "annotations": {
                        "service.beta.kubernetes.io/azure-pip-name": self.public.ip_name,
                        "service.beta.kubernetes.io/azure-load-balancer-resource-group": self.public.resource_group_name,
                        "service.beta.kubernetes.io/azure-dns-label-name": self.public.dns_label,
                    },
                },
                "spec": {
                    "type": "LoadBalancer",
                    "loadBalancerSourceRanges": list(self.settings.allowed_client_cidrs),
                    # Only nodes running the selected instance take traffic, so the pod sees the client's
                    # address (not a node's, after SNAT) and the NetworkPolicy can admit it by network.
                    "externalTrafficPolicy": "Local",
                    # The operator keeps a template port named "postgres" as written.
                    "ports": [{"name": "postgres", "port": self.port(role), "targetPort": POSTGRES_PORT, "protocol": "TCP"}],
                },
            },
        }
