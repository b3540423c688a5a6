"""Reusable validation rules: types and checks that several settings sections share."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# CNPG's ScheduledBackup parser (robfig/cron v1) takes six fields, seconds first, or a descriptor.
CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def _fail(rule: str) -> ValueError:
    return ValueError(rule)


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise _fail(f"must be an IPv4/IPv6 address range in CIDR form without host bits ({error})") from None
    if network.prefixlen == 0:
        raise _fail("must not open access to the whole internet (0.0.0.0/0, ::/0)")
    return str(network)


Cidr = Annotated[str, AfterValidator(_cidr)]

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T|m)?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def quantity_bytes(value: str) -> int:
    """Bytes of a Kubernetes memory/storage quantity such as ``8Gi``."""
    match = _QUANTITY.match(value)
    if not match or match.group(2) == "m":
        raise _fail("must be a Kubernetes quantity such as 512Mi, 8Gi or 64Gi")
    return int(float(match.group(1)) * _BINARY.get(match.group(2) or "", 1))


def cpu_millicores(value: str) -> int:
    """Millicores of a Kubernetes CPU quantity such as ``2`` or ``1500m``."""
    match = _QUANTITY.match(value)
    if not match or match.group(2) not in (None, "m"):
        raise _fail("must be a Kubernetes CPU quantity such as 2 or 1500m")
    number = float(match.group(1))
    return int(number if match.group(2) == "m" else number * 1000)


def _memory(value: str) -> str:
    if quantity_bytes(value) < 2**30:
        raise _fail("must be at least 1Gi")
    return value


def _storage(value: str) -> str:
    if quantity_bytes(value) < 2**30:
        raise _fail("must be at least 1Gi")
    return value


def _cpu(value: str) -> str:
    if cpu_millicores(value) < 500:
        raise _fail("must be at least 500m")
    return value


def retention_days(value: str) -> int:
    """Days covered by a Barman retention policy such as ``7d``, ``4w`` or ``3m``."""
    unit_days = {"d": 1, "w": 7, "m": 31}
    return int(value[:-1]) * unit_days[value[-1]]


def _retention(value: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]*[dwm]", value):
        raise _fail("must be a number followed by d, w or m (days, weeks, months), e.g. 7d")
    if retention_days(value) > 365:
        raise _fail("must not exceed 365 days (the longest Azure blob soft-delete window)")
    return value


def _cron(value: str) -> str:
    text = value.strip()
    if text.startswith("@"):
        if text in CRON_DESCRIPTORS or re.fullmatch(r"@every [0-9]+(ms|s|m|h)([0-9]+(ms|s|m|h))*", text):
            return text
        raise _fail(f"descriptor must be one of {', '.join(CRON_DESCRIPTORS)} or '@every <duration>'")
    fields = text.split()
    if len(fields) == 5:
        raise _fail(
            "has 5 fields, but CloudNativePG schedules take 6 fields with seconds first "
            "('0 0 2 * * *' is daily at 02:00); a 5-field string would run at the wrong time"
        )
    if len(fields) != 6:
        raise _fail("must have 6 fields, seconds first: 'second minute hour day-of-month month day-of-week'")
    if not all(re.fullmatch(r"[0-9A-Za-z*?/,\-]+", field) for field in fields):
        raise _fail("fields may contain only digits, names, '*', '?', '/', ',' and '-'")
    return text


def matching(pattern: str, rule: str, flags: int = 0) -> AfterValidator:
    """A validator that accepts values matching ``pattern`` entirely and otherwise states ``rule``."""
    compiled = re.compile(pattern, flags)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise _fail(rule)
        return value

    return AfterValidator(check)


def _image(value: str) -> str:
    match = re.fullmatch(r"[a-z0-9.\-/:]+/postgresql:(?P<tag>[A-Za-z0-9._\-]+)(@sha256:[a-f0-9]{64})?", value)
    if not match:
        raise _fail(
            "must be a CloudNativePG PostgreSQL image pinned by tag, e.g. ghcr.io/cloudnative-pg/postgresql:18.4-standard-trixie"
        )
    tag = match.group("tag")
    if tag == "latest":
        raise _fail("must be pinned to a version tag, never 'latest'")
    if "system" in tag:
        raise _fail(
            "must be a 'standard' or 'minimal' image: the Barman Cloud plugin replaces the in-tree tools of 'system' images"
        )
    return value


def postgres_major(image: str) -> int:
    """PostgreSQL major version from an image tag such as ``18.4-standard-trixie``."""
    tag = image.split("/postgresql:")[1]
    return int(re.match(r"[0-9]+", tag).group(0))  # type: ignore[union-attr]


AzureRegion = Annotated[
    str, matching(r"[a-z][a-z0-9]{2,30}", "must be an Azure region name in lowercase without spaces, e.g. swedencentral")
]
NamePrefix = Annotated[
    str,
    matching(
        r"[a-z][a-z0-9]{1,9}", "must be 2-10 lowercase letters and digits, starting with a letter (it goes into every Azure name)"
    ),
]
CronSchedule = Annotated[str, AfterValidator(_cron)]
Retention = Annotated[str, AfterValidator(_retention)]
VmSize = Annotated[str, matching(r"Standard_[A-Za-z0-9_]+", "must be an Azure VM size such as Standard_D4s_v3", re.IGNORECASE)]
PoolName = Annotated[
    str, matching(r"[a-z][a-z0-9]{0,11}", "Linux node pool names are 1-12 lowercase letters and digits, starting with a letter")
]
Dns1123Label = Annotated[
    str,
    matching(
        r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?",
        "must be a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters",
    ),
]
MemoryQuantity = Annotated[str, AfterValidator(_memory)]
StorageQuantity = Annotated[str, AfterValidator(_storage)]
CpuQuantity = Annotated[str, AfterValidator(_cpu)]
SqlIdentifier = Annotated[
    str,
    matching(r"[a-z_][a-z0-9_]{0,62}", "must be a lowercase PostgreSQL identifier (letters, digits, '_'; at most 63 characters)"),
]
PostgresImage = Annotated[str, AfterValidator(_image)]
ChartVersion = Annotated[str, matching(r"v?[0-9]+\.[0-9]+\.[0-9]+", "must be an exact chart version such as 0.29.0 (no ranges)")]


class SettingsModel(BaseModel):
    """Frozen, camelCase-keyed, no unknown keys."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True, use_attribute_docstrings=True
    )
