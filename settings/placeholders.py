"""Placeholders in the shipped stack files: values no real deployment can use.

The shipped files must render offline as they are, so they hold reserved values where only the
user knows the real one: documentation address ranges (RFC 5737, RFC 3849), the nil GUID for
Entra object IDs and reserved example mail domains (RFC 2606). A real engine refuses them with
what belongs there; the offline render only flags them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# RFC 5737 (IPv4) and RFC 3849 (IPv6) documentation ranges.
DOCUMENTATION_RANGES = tuple(
    ipaddress.ip_network(cidr) for cidr in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
NIL_GUID = "00000000-0000-0000-0000-000000000000"
# RFC 2606 / RFC 6761 reserved names: mail to them never reaches anyone.
_EXAMPLE_MAIL = re.compile(r".*@(.+\.)?(example\.(com|net|org)|example|test|invalid)$", re.IGNORECASE)


def _documentation_ranges(value: Any) -> list[str]:
    found = []
    for text in value if isinstance(value, list) else []:
        try:
            network = ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            continue  # reported by validation
        if any(network.version == doc.version and network.subnet_of(doc) for doc in DOCUMENTATION_RANGES):  # type: ignore[arg-type]
            found.append(str(text))
    return found


def _nil_guids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else []
    ids = [item.get("objectId") if isinstance(item, dict) else item for item in items]
    return [str(guid) for guid in ids if str(guid) == NIL_GUID]


def _example_mail(value: Any) -> list[str]:
    return [str(address) for address in (value if isinstance(value, list) else []) if _EXAMPLE_MAIL.match(str(address))]


@dataclass(frozen=True)
class Placeholder:
    path: tuple[str, str]
    find: Callable[[Any], list[str]]
    what: str
    needed: str
    example: str


PLACEHOLDERS = (
    Placeholder(
        ("aks", "apiServerAuthorizedIpRanges"),
        _documentation_ranges,
        "documentation ranges (RFC 5737/3849), placeholders no real network uses",
        "your workstation or VPN egress and the deployment runner's egress",
        "'aks.apiServerAuthorizedIpRanges[0]' <egress-ip>/32",
    ),
    Placeholder(
        ("publicEndpoint", "allowedClientCidrs"),
        _documentation_ranges,
        "documentation ranges (RFC 5737/3849), placeholders no real network uses",
        "the client networks that connect to PostgreSQL (application and VPN egress)",
        "'publicEndpoint.allowedClientCidrs[0]' <client-cidr>",
    ),
    Placeholder(
        ("network", "clientCidrs"),
        _documentation_ranges,
        "documentation ranges (RFC 5737/3849), placeholders no real network uses",
        "the private client networks that reach the internal endpoint (peered networks, VPN)",
        "'network.clientCidrs[0]' <client-cidr>",
    ),
    Placeholder(
        ("aks", "adminGroupObjectIds"),
        _nil_guids,
        "the nil GUID, a placeholder no Entra group has",
        "the object ID of the Entra group that administers the cluster (az ad group show -g <name> --query id)",
        "'aks.adminGroupObjectIds[0]' <group-object-id>",
    ),
    Placeholder(
        ("observability", "grafanaAdmins"),
        _nil_guids,
        "the nil GUID, a placeholder no Entra principal has",
        "the object ID of the user, group or service principal that administers Grafana",
        "'observability.grafanaAdmins[0].objectId' <object-id>",
    ),
    Placeholder(
        ("alerting", "emails"),
        _example_mail,
        "reserved example addresses (RFC 2606) that deliver to no one",
        "the on-call mailbox or distribution list",
        "'alerting.emails[0]' <on-call@your-domain>",
    ),
)


def _lookup(values: Mapping[str, Any], section: str, key: str) -> Any:
    block = values.get(section)
    return block.get(key) if isinstance(block, dict) else None


def placeholder_problems(values: Mapping[str, Any], project: str) -> list[str]:
    """One line per setting still holding a shipped placeholder, with what belongs there."""
    problems = []
    for placeholder in PLACEHOLDERS:
        section, key = placeholder.path
        found = placeholder.find(_lookup(values, section, key))
        if not found or _lookup(values, section, "enabled") is False:
            continue
        problems.append(
            f"{project}:{section}.{key}: {', '.join(map(repr, found))} — {placeholder.what}; put {placeholder.needed} "
            f"there, e.g. pulumi config set --path {placeholder.example}"
        )
    return problems
