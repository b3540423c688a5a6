"""Endpoints: how clients reach the database, inside the cluster and (optionally) publicly.

Public access uses operator-managed LoadBalancer services (``spec.managed.services.additional``)
so their selectors follow every failover; both share the platform's static IP and DNS name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from settings import PublicEndpointSettings, Settings
from settings.pooler import POOLER_TYPES
from settings.rules import ROLES

POSTGRES_PORT = 5432
INTERNAL_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal"


def pooler_name(cluster_name: str, pooler_type: str) -> str:
    """The Pooler and its Service (a Pooler must not share a name with a Cluster in its namespace)."""
    return f"{cluster_name}-pooler-{pooler_type}"


def pooler_names(cluster_name: str) -> tuple[str, ...]:
    return tuple(pooler_name(cluster_name, pooler_type) for pooler_type in POOLER_TYPES)


@dataclass(frozen=True)
class PublicAddress:
    """The static public IP the load balancers use (from the PublicIp component)."""

    ip_name: pulumi.Input[str]
    resource_group_name: pulumi.Input[str]
    dns_label: pulumi.Input[str]
    fqdn: pulumi.Output[str]


@dataclass(frozen=True)
class InternalAddress:
    """Static private addresses of the internal load balancers, named in the private DNS zone."""

    ips: Mapping[str, str]
    # The node subnet (the cluster's virtual network): where the load balancer takes its addresses.
    subnet_name: str
    allowed_client_cidrs: Sequence[str]
    dns_zone: str
    # Pooler service name -> its own static address (network.internalEndpoint.pooler*Ip); empty without pooling.
    pooler_ips: Mapping[str, str] = field(default_factory=dict)

    def ip(self, role: str) -> str:
        return self.ips[role]


@dataclass(frozen=True)
class Endpoints:
    """Read-write (primary) and read-only (replicas) endpoints of one CNPG cluster."""

    cluster_name: str
    namespace: str
    settings: PublicEndpointSettings
    public: PublicAddress | None
    internal: InternalAddress | None = None
    # Services in front of the cluster that present its server certificate (the PgBouncer poolers').
    pooler_services: tuple[str, ...] = ()

    def service_name(self, role: str) -> str:
        """The operator's in-cluster service for ``rw``/``ro`` (always port 5432)."""
        return f"{self.cluster_name}-{role}"

    def public_service_name(self, role: str) -> str:
        return f"{self.cluster_name}-public-{role}"

    def _internal_host(self, service: str) -> str:
        return f"{service}.{self.namespace}.svc.cluster.local"

    def internal_service_name(self, role: str) -> str:
        return f"{self.cluster_name}-internal-{role}"

    def private_host(self, role: str) -> str:
        """The internal endpoint's name in the private DNS zone."""
        assert self.internal is not None
        return f"{self.service_name(role)}.{self.internal.dns_zone}"

    def private_dns_records(self) -> dict[str, str]:
        """A records of the private DNS zone: one name per internal endpoint, the poolers' included."""
        assert self.internal is not None
        return {**{self.service_name(role): self.internal.ip(role) for role in ROLES}, **self.internal.pooler_ips}

    def _pooler_private_host(self, service: str) -> str:
        assert self.internal is not None
        return f"{service}.{self.internal.dns_zone}"

    def host(self, role: str) -> pulumi.Output[str]:
        # Private first: where an internal endpoint exists, clients in the network should use it.
        if self.internal is not None:
            return pulumi.Output.from_input(self.private_host(role))
        return self.service_host(self.service_name(role))

    def service_host(self, service: str) -> pulumi.Output[str]:
        """Where clients reach ``service``: the public name when there is one, else its in-cluster name."""
        if self.public is None:
            return pulumi.Output.from_input(self._internal_host(service))
        return self.public.fqdn

    def port(self, role: str) -> int:
        """The port of ``host(role)``: 5432 on the internal endpoint or in the cluster, else the public one."""
        if self.internal is not None or self.public is None:
            return POSTGRES_PORT
        return self.public_port(role)

    def public_port(self, role: str) -> int:
        """The public load balancer's port for ``role``: both share the static IP, so each has its own."""
        return self.settings.port(role)

    def server_alt_dns_names(self) -> list[pulumi.Input[str]]:
        """Names the server certificate must carry so clients can use sslmode=verify-full."""
        return self._private_hosts() + ([] if self.public is None else [self.public.fqdn]) + self._pooler_hosts()

    def _private_hosts(self) -> list[pulumi.Input[str]]:
        return [] if self.internal is None else [self.private_host(role) for role in ROLES]

    def _pooler_hosts(self) -> list[pulumi.Input[str]]:
        # CNPG adds its own services' names; the poolers' in-cluster names (and, on the internal
        # endpoint, their names in the private DNS zone) are ours to add.
        private: list[pulumi.Input[str]] = (
            [] if self.internal is None else [self._pooler_private_host(service) for service in self.pooler_services]
        )
        return private + [
            name
            for service in self.pooler_services
            for name in (service, f"{service}.{self.namespace}", f"{service}.{self.namespace}.svc", self._internal_host(service))
        ]

    # A Service has exactly one type and one set of load-balancer annotations, so a pooler gets one
    # endpoint: with the internal endpoint on it is internal (even when the public endpoint is on too:
    # the private stacks' clients are in the network, and a pooler is no reason to open it publicly);
    # else, with the public endpoint, public; else in-cluster only.
    def pooler_service_template(self, service: str, port_name: str, public_port: int) -> dict[str, Any] | None:
        """The Pooler's ``spec.serviceTemplate``, or None to keep CNPG's in-cluster ClusterIP service."""
        if self.internal is not None:
            return self.internal_service_template(service, port_name, self.internal.pooler_ips[service])
        if self.public is not None:
            return self.public_service_template(service, port_name, public_port)
        return None

    def pooler_host(self, service: str) -> pulumi.Output[str]:
        """Where clients reach the pooler ``service``: its private name, the public name or its in-cluster name."""
        if self.internal is not None:
            return pulumi.Output.from_input(self._pooler_private_host(service))
        return self.service_host(service)

    def pooler_port(self, public_port: int) -> int:
        """The public port on the public load balancer (the Service carries only that port), else PgBouncer's 5432."""
        return public_port if self.internal is None and self.public is not None else POSTGRES_PORT

    def pooler_client_cidrs(self) -> list[str]:
        """The client networks the poolers' load balancer admits; none when they are in-cluster only."""
        if self.internal is not None:
            return list(self.internal.allowed_client_cidrs)
        if self.public is not None:
            return list(self.settings.allowed_client_cidrs)
        return []

    def client_cidrs(self) -> list[str]:
        """Every network a load balancer of the cluster admits: the public clients' and the internal endpoint's."""
        return _together(
            self.settings.allowed_client_cidrs if self.public is not None else [],
            self.internal.allowed_client_cidrs if self.internal is not None else [],
        )

    def managed_services(self) -> list[dict[str, Any]]:
        """``spec.managed.services.additional`` entries: one public LoadBalancer per role."""
        services = [] if self.public is None else [self._load_balancer(role) for role in ROLES]
        if self.internal is not None:
            services += [self._internal_load_balancer(role) for role in ROLES]
        return services

    def _internal_load_balancer(self, role: str) -> dict[str, Any]:
        assert self.internal is not None
        return {
            "selectorType": role,
            "updateStrategy": "patch",
            "serviceTemplate": self.internal_service_template(
                self.internal_service_name(role), "postgres", self.internal.ip(role)
            ),
        }

    def internal_service_template(self, name: str, port_name: str, ip: str) -> dict[str, Any]:
        """An internal LoadBalancer on a static address of the node subnet, admitting the client networks (port 5432)."""
        assert self.internal is not None
        return {
            "metadata": {
                "name": name,
                "annotations": {
                    INTERNAL_ANNOTATION: "true",
                    "service.beta.kubernetes.io/azure-load-balancer-ipv4": ip,
                    "service.beta.kubernetes.io/azure-load-balancer-internal-subnet": self.internal.subnet_name,
                },
            },
            "spec": {
                "type": "LoadBalancer",
                "loadBalancerSourceRanges": list(self.internal.allowed_client_cidrs),
                # As for the public ones: the pod sees the client's address, which the NetworkPolicy admits.
                "externalTrafficPolicy": "Local",
                "ports": [{"name": port_name, "port": POSTGRES_PORT, "targetPort": POSTGRES_PORT, "protocol": "TCP"}],
            },
        }

    def _load_balancer(self, role: str) -> dict[str, Any]:
        return {
            "selectorType": role,
            "updateStrategy": "patch",
            # The operator keeps a template port named "postgres" as written.
            "serviceTemplate": self.public_service_template(self.public_service_name(role), "postgres", self.public_port(role)),
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


def exposed_endpoints(settings: Settings, public: PublicAddress | None, node_subnet_name: str) -> Endpoints:
    """How clients reach the cluster: on the public address when there is one, on the internal load
    balancer's static addresses when network.internalEndpoint is on, each pooler on its own address.
    Each load balancer admits its own client networks and the cluster's (clients.cidrs)."""
    cluster_name, namespace = settings.postgres.cluster_name, settings.postgres.namespace
    network, poolers, clients = settings.network, settings.pooler.enabled, settings.clients.cidrs
    internal = network.internal_endpoint
    public_clients = _together(settings.public_endpoint.allowed_client_cidrs, clients)
    return Endpoints(
        cluster_name=cluster_name,
        namespace=namespace,
        settings=settings.public_endpoint.model_copy(update={"allowed_client_cidrs": public_clients}),
        public=public,
        internal=InternalAddress(
            ips={role: internal.ip(role) for role in ROLES},
            subnet_name=node_subnet_name,
            allowed_client_cidrs=_together(network.client_cidrs, clients),
            dns_zone=network.private_dns_zone,
            pooler_ips={pooler_name(cluster_name, kind): internal.pooler_ip(kind) for kind in POOLER_TYPES} if poolers else {},
        )
        if internal.enabled
        else None,
        pooler_services=pooler_names(cluster_name) if poolers else (),
    )


def _together(first: Sequence[str], second: Sequence[str]) -> list[str]:
    """Both lists of networks in order, each network once (a NetworkPolicy or load balancer names it once)."""
    return list(dict.fromkeys([*first, *second]))
