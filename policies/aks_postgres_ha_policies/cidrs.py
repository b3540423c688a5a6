"""Judging allow-lists of address ranges (API server, load balancers)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from .common import PolicyArgs, int_setting, integer_schema

MIN_IPV4_PREFIX = 8
MIN_IPV6_PREFIX = 32

# Shared by every policy that judges ranges: a /0 opens everything, but so do two /1 halves,
# hence a minimum prefix length rather than a ban on 0.0.0.0/0 alone.
RANGE_BREADTH_SCHEMA = {
    "minIpv4PrefixLength": integer_schema(
        MIN_IPV4_PREFIX, 1, 32, "Broadest IPv4 range allowed (prefix length); /0 is always refused."
    ),
    "minIpv6PrefixLength": integer_schema(
        MIN_IPV6_PREFIX, 1, 128, "Broadest IPv6 range allowed (prefix length); ::/0 is always refused."
    ),
}


def range_problems(ranges: Iterable[Any], args: PolicyArgs) -> list[str]:
    """One sentence per entry that is not an address range, opens the internet or is too broad."""
    minimum = {
        4: int_setting(args, "minIpv4PrefixLength", MIN_IPV4_PREFIX),
        6: int_setting(args, "minIpv6PrefixLength", MIN_IPV6_PREFIX),
    }
    problems = []
    for entry in ranges:
        try:
            network = ipaddress.ip_network(str(entry).strip(), strict=False)
        except ValueError:
            problems.append(f"'{entry}' is not an IP address or CIDR range")
            continue
        if network.prefixlen == 0:
            problems.append(f"'{entry}' opens access to the whole internet")
        elif network.prefixlen < minimum[network.version]:
            problems.append(f"'{entry}' is broader than the allowed /{minimum[network.version]}")
    return problems
