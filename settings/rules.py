"""Reusable validation rules: types and checks that several settings sections share."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

T = TypeVar("T")

# CNPG's read-write (primary) and read-only (replicas) services, and the pooler types in front of them.
ROLES: tuple[str, ...] = ("rw", "ro")


def by_role(role: str, read_write: T, read_only: T) -> T:
    """The rw/ro choice, made here only: the value of the settings key pair for ``role``."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {ROLES}")
    return read_write if role == "rw" else read_only


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
    for (name, low, high, names), field in zip(_CRON_FIELDS, fields, strict=True):
        for part in field.split(","):
            problem = _cron_part_problem(part, low, high, names)
            if problem:
                raise _fail(f"{name} field '{field}': {problem} (allowed {low}-{high})")
    return text


# robfig/cron v3 (CNPG's ScheduledBackup parser): field, range, names (index + low = value).
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _WEEKDAYS),
)


def _cron_value(token: str, low: int, names: tuple[str, ...]) -> int | None:
    if token.isdigit():
        return int(token)
    upper = token.upper()
    return names.index(upper) + low if upper in names else None


def _cron_part_problem(part: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    """What robfig/cron would refuse in one comma-separated part (``*``, ``a``, ``a-b``, each ``/step``)."""
    span, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        return f"step '{step}' must be a positive number"
    if span in ("*", "?"):
        return None
    bounds = [_cron_value(token, low, names) for token in span.split("-")]
    if len(bounds) > 2 or any(bound is None for bound in bounds):
        return f"'{part}' is not a number, a name or a range"
    if any(not low <= bound <= high for bound in bounds if bound is not None):
        return f"'{part}' is out of range"
    if len(bounds) == 2 and bounds[0] > bounds[1]:  # type: ignore[operator]
        return f"range '{span}' runs backwards"
    return None


def matching(pattern: str, rule: str, flags: int = 0) -> AfterValidator:
    """A validator that accepts values matching ``pattern`` entirely and otherwise states ``rule``."""
    compiled = re.compile(pattern, flags)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise _fail(rule)
        return value

    return AfterValidator(check)


# CNPG's immutable image tags: <major>.<minor>-<build timestamp>-<flavour>-<debian>; the plain
# <major>.<minor>-<flavour>-<debian> tags are rebuilt weekly under the same name
# (cloudnative-pg/postgres-containers README, "Image tags").
_IMAGE = re.compile(r"(?P<repository>[a-z0-9.\-/:]+/postgresql):(?P<tag>[A-Za-z0-9._\-]+)(?P<digest>@sha256:[a-f0-9]{64})?")
IMMUTABLE_IMAGE_EXAMPLE = "ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-standard-trixie@sha256:<digest>"
_TIMESTAMPED_TAG = re.compile(r"[0-9]+\.[0-9]+-[0-9]{12}-(standard|minimal)-[a-z]+")
_VERSION_TAG = re.compile(r"[0-9]+(\.[0-9]+)?([-_.][A-Za-z0-9._\-]*)?")


def _image(value: str) -> str:
    match = _IMAGE.fullmatch(value)
    if not match:
        raise _fail(f"must be a CloudNativePG PostgreSQL image pinned immutably, e.g. {IMMUTABLE_IMAGE_EXAMPLE}")
    tag = match.group("tag")
    if not _VERSION_TAG.fullmatch(tag):
        raise _fail("must carry a PostgreSQL version tag such as 18.6-...: CloudNativePG reads the major version from it")
    if "system" in tag:
        raise _fail(
            "must be a 'standard' or 'minimal' image: the Barman Cloud plugin replaces the in-tree tools of 'system' images"
        )
    if not (_TIMESTAMPED_TAG.fullmatch(tag) or match.group("digest")):
        raise _fail(
            f"tag '{tag}' is rebuilt weekly under the same name; pin a timestamped tag and/or a digest, "
            f"e.g. {IMMUTABLE_IMAGE_EXAMPLE}"
        )
    if not match.group("digest"):
        # Every image the platform runs is pinned by digest (policy images-pinned-by-digest).
        raise _fail(f"must carry the image's digest (@sha256:...), e.g. {IMMUTABLE_IMAGE_EXAMPLE}")
    return value


def postgres_major(image: str) -> int:
    """PostgreSQL major version from an image tag such as ``18.4-standard-trixie``."""
    tag = image.split("/postgresql:")[1]
    return int(re.match(r"[0-9]+", tag).group(0))  # type: ignore[union-attr]


# Public Azure regions with availability zones (programmatic names), from "Azure regions list"
# (MicrosoftDocs/reliability-docs articles/reliability/regions-list.md @ 01021ab8, ms.date 2025-09-23);
# "coming soon" regions are left out. Every node pool, disk and the public IP are zonal here.
REGIONS_WITH_ZONES: frozenset[str] = frozenset(
    {
        "australiaeast", "austriaeast", "belgiumcentral", "brazilsouth", "canadacentral", "centralindia",
        "centralus", "chilecentral", "eastasia", "eastus", "eastus2", "francecentral", "germanywestcentral",
        "indonesiacentral", "israelcentral", "italynorth", "japaneast", "japanwest", "koreacentral",
        "malaysiawest", "mexicocentral", "newzealandnorth", "northeurope", "norwayeast", "polandcentral",
        "qatarcentral", "southafricanorth", "southcentralus", "southeastasia", "spaincentral", "swedencentral",
        "switzerlandnorth", "uaenorth", "uksouth", "westeurope", "westus2", "westus3",
    }
)  # fmt: skip


def _region(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9]{2,30}", value):
        raise _fail("must be an Azure region name in lowercase without spaces, e.g. swedencentral")
    if value not in REGIONS_WITH_ZONES:
        raise _fail(
            "is not an Azure region with availability zones (the cluster spreads over zones); "
            "see README 'Regions' for the list, e.g. swedencentral, westeurope, eastus2"
        )
    return value


# Role names CNPG reserves (pkg/postgres/roles.go IsRoleReserved @ v1.30.0): its own roles, the cnpg_
# prefix, and PostgreSQL's pg_ prefix.
RESERVED_ROLES = ("postgres", "streaming_replica")
RESERVED_ROLE_PREFIXES = ("cnpg_", "pg_")
# Databases every instance already has (the Database CRD refuses them too).
RESERVED_DATABASES = ("postgres", "template0", "template1")


def _role(value: str) -> str:
    if value in RESERVED_ROLES or value.startswith(RESERVED_ROLE_PREFIXES):
        raise _fail(
            f"is reserved: CloudNativePG owns {', '.join(RESERVED_ROLES)} and roles starting with "
            f"{' or '.join(RESERVED_ROLE_PREFIXES)}; choose an application role name such as 'app'"
        )
    return value


def _database(value: str) -> str:
    if value in RESERVED_DATABASES:
        raise _fail(f"is reserved: every instance already has {', '.join(RESERVED_DATABASES)}; choose an application name")
    return value


AzureRegion = Annotated[str, AfterValidator(_region)]
NamePrefix = Annotated[
    str,
    matching(
        r"[a-z][a-z0-9]{1,9}", "must be 2-10 lowercase letters and digits, starting with a letter (it goes into every Azure name)"
    ),
]
CronSchedule = Annotated[str, AfterValidator(_cron)]
Retention = Annotated[str, AfterValidator(_retention)]
VmSize = Annotated[str, matching(r"Standard_[A-Za-z0-9_]+", "must be an Azure VM size such as Standard_D4s_v3", re.IGNORECASE)]
EntraObjectId = Annotated[
    str,
    matching(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", "must be an Entra object ID (a GUID such as 4d3c2b1a-...)"),
]
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
# CNPG's webhook (validateName): a Cluster name is a DNS-1035 label of at most 50 characters,
# leaving room for the suffixes of its pods, services and jobs.
CnpgClusterName = Annotated[
    str,
    matching(
        r"[a-z]([-a-z0-9]{0,48}[a-z0-9])?",
        "must be a CloudNativePG cluster name: a DNS-1035 label of at most 50 characters "
        "(lowercase letters, digits and '-', starting with a letter, not ending with '-')",
    ),
]
MemoryQuantity = Annotated[str, AfterValidator(_memory)]
StorageQuantity = Annotated[str, AfterValidator(_storage)]
CpuQuantity = Annotated[str, AfterValidator(_cpu)]
_SQL_IDENTIFIER = matching(
    r"[a-z_][a-z0-9_]{0,62}", "must be a lowercase PostgreSQL identifier (letters, digits, '_'; at most 63 characters)"
)
SqlIdentifier = Annotated[str, _SQL_IDENTIFIER]
RoleName = Annotated[str, _SQL_IDENTIFIER, AfterValidator(_role)]
DatabaseName = Annotated[str, _SQL_IDENTIFIER, AfterValidator(_database)]
PostgresImage = Annotated[str, AfterValidator(_image)]
ChartVersion = Annotated[str, matching(r"v?[0-9]+\.[0-9]+\.[0-9]+", "must be an exact chart version such as 0.29.0 (no ranges)")]


class SettingsModel(BaseModel):
    """Frozen, camelCase-keyed, no unknown keys."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True, use_attribute_docstrings=True
    )


class ContainerResources(SettingsModel):
    """A container's CPU and memory, requested = limited (Guaranteed QoS); subclasses give the
    fields their rules and defaults."""

    cpu: str
    memory: str

    @property
    def memory_bytes(self) -> int:
        return quantity_bytes(self.memory)

    @property
    def millicores(self) -> int:
        return cpu_millicores(self.cpu)

    def quantities(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory}

    def guaranteed(self) -> dict[str, dict[str, str]]:
        """A container's ``resources``: requests == limits, so the pod is Guaranteed QoS (evicted last
        under node pressure) and the memory is what the kernel enforces."""
        return {"requests": self.quantities(), "limits": self.quantities()}
