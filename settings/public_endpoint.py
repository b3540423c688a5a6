"""Public database endpoint settings."""

from __future__ import annotations

from pydantic import Field, model_validator

from settings.rules import Cidr, SettingsModel, by_role


class PublicEndpointSettings(SettingsModel):
    enabled: bool = True
    """Public load balancers on the static IP; false for internal-only stacks."""
    allowed_client_cidrs: list[Cidr] = []
    """Required when enabled. Client CIDRs allowed to connect (loadBalancerSourceRanges); never 0.0.0.0/0."""
    read_write_port: int = Field(default=5432, ge=1024, le=65535)
    """Public port of the read-write (primary) endpoint."""
    read_only_port: int = Field(default=5433, ge=1024, le=65535)
    """Public port of the read-only (replicas) endpoint."""

    @model_validator(mode="after")
    def _ranges_when_public(self) -> PublicEndpointSettings:
        if self.enabled and not self.allowed_client_cidrs:
            raise ValueError("allowedClientCidrs must list the client ranges allowed to connect when enabled is true")
        if self.read_write_port == self.read_only_port:
            raise ValueError("readWritePort and readOnlyPort must differ (they share one IP address)")
        return self

    def port(self, role: str) -> int:
        return by_role(role, self.read_write_port, self.read_only_port)
