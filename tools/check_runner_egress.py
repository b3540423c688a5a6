"""Fail early when this machine cannot reach the stack's AKS API server.

AKS accepts API calls only from ``aks.apiServerAuthorizedIpRanges``; ``pulumi preview``/``up`` of the
Kubernetes half would otherwise time out deep into the run. CI runs this before every Pulumi command:

    .venv/bin/python tools/check_runner_egress.py --stack prod [--egress-ip 198.51.100.7]

Without ``--egress-ip`` the public egress address is asked of https://api.ipify.org.
Exit codes: 0 authorized, 1 not authorized, 2 the stack file or an address cannot be read.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
EGRESS_LOOKUP_URL = "https://api.ipify.org"
_KEY = "aks.apiServerAuthorizedIpRanges"


class CheckError(Exception):
    """Input this check cannot work with (exit code 2)."""


def _mapping(path: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping (empty when the file holds something else)."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise CheckError(f"{path}: cannot be read as YAML ({error})") from None
    return document if isinstance(document, dict) else {}


def authorized_ranges(stack_file: Path, project: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The stack's ``aks.apiServerAuthorizedIpRanges``, as networks."""
    config = _mapping(stack_file).get("config")
    aks: Any = config.get(f"{project}:aks") if isinstance(config, dict) else None
    ranges: Any = aks.get("apiServerAuthorizedIpRanges") if isinstance(aks, dict) else None
    if not isinstance(ranges, list) or not ranges:
        raise CheckError(f"{stack_file}: {_KEY} is {ranges!r}; it must list the networks allowed to reach the AKS API")
    networks = []
    for index, value in enumerate(ranges):
        try:
            networks.append(ipaddress.ip_network(str(value), strict=False))
        except ValueError:
            raise CheckError(f"{stack_file}: {_KEY}[{index}] is {value!r}, which is not an IP address or CIDR range") from None
    return networks


def project_name(project_dir: Path) -> str:
    path = project_dir / "Pulumi.yaml"
    name = _mapping(path).get("name")
    if not isinstance(name, str):
        raise CheckError(f"{path}: name is {name!r}; expected the project name")
    return name


def public_egress_ip() -> str:
    try:
        with urllib.request.urlopen(EGRESS_LOOKUP_URL, timeout=15) as response:
            return response.read().decode().strip()
    except OSError as error:
        raise CheckError(
            f"cannot learn this runner's egress address from {EGRESS_LOOKUP_URL} ({error}); pass --egress-ip"
        ) from None


def verdict(egress: str, stack: str, stack_file: Path, project: str) -> tuple[bool, str]:
    """Whether ``egress`` may call the stack's AKS API, and the sentence that says so."""
    try:
        address = ipaddress.ip_address(egress)
    except ValueError:
        raise CheckError(f"egress address {egress!r} is not an IP address") from None
    networks = authorized_ranges(stack_file, project)
    listed = ", ".join(str(network) for network in networks)
    if any(address in network for network in networks):
        return True, f"egress {address} is inside {_KEY} of stack {stack!r} ({listed})"
    single = f"{address}/{address.max_prefixlen}"
    return False, (
        f"egress {address} is outside {_KEY} of stack {stack!r} ({listed}), so Pulumi cannot reach the AKS API "
        f"server from this runner. Add this runner's egress range to {stack_file.name}, e.g. "
        f"pulumi config set --stack {stack} --path '{_KEY}[{len(networks)}]' {single} "
        "(a GitHub-hosted runner's address changes every run: use a larger runner with static egress ranges "
        "or a self-hosted runner in an authorized network, selected by the repository variables DEV_RUNNER and PROD_RUNNER)"
    )


def main(argv: Sequence[str] | None = None, project_dir: Path = PROJECT_DIR) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--egress-ip", help="this machine's public egress address (default: looked up)")
    args = parser.parse_args(argv)
    stack_file = project_dir / f"Pulumi.{args.stack}.yaml"
    try:
        project = project_name(project_dir)
        allowed, sentence = verdict(args.egress_ip or public_egress_ip(), args.stack, stack_file, project)
    except CheckError as error:
        print(f"check_runner_egress: {error}", file=sys.stderr)
        return 2
    print(f"check_runner_egress: {sentence}", file=sys.stdout if allowed else sys.stderr)
    return 0 if allowed else 1


if __name__ == "__main__":
    sys.exit(main())
