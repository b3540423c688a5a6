"""Helpers the policy modules share: reading properties, settings, type filters and stack lookups.

Resource policies read ``args.props`` through the SDK's proxy, so reading a value that is unknown
during ``pulumi preview`` raises ``UnknownValueError`` and the SDK turns it into an advisory
"can't run policy during preview". Stack policies work on ``plain()`` copies instead, where an
unknown value is the ``UNKNOWN`` marker, so one unknown output does not silence a whole check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import ResourceValidation, StackValidation
from pulumi_policy.proxy import UnknownValueError

Report = Callable[[str], None]
ResourceCheck = Callable[[ResourceValidationArgs, Report], None]
PolicyArgs = ResourceValidationArgs | StackValidationArgs


class Unknown:
    """A value computed by the cloud that ``pulumi preview`` cannot know yet."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Final = Unknown()


def plain(value: Any) -> Any:
    """``value`` with the SDK's proxies turned into dicts and lists and unknown values into ``UNKNOWN``."""
    if isinstance(value, Mapping):
        return {key: _plain_item(value, key) for key in value}
    if is_list(value):
        return [_plain_item(value, index) for index in range(len(value))]
    return value


def _plain_item(container: Any, key: Any) -> Any:
    try:
        return plain(container[key])
    except UnknownValueError:
        return UNKNOWN


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def as_list(value: Any) -> list[Any]:
    """The elements of a list property; an empty list when it is unset or not a list."""
    return list(value) if is_list(value) else []


def lookup(data: Any, *keys: str | int) -> Any:
    """``data[key1][key2]...``, or None where a key is missing or a step is not a mapping or list."""
    value = data
    for key in keys:
        if isinstance(key, int):
            if not is_list(value) or not -len(value) <= key < len(value):
                return None
        elif not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def text(value: Any) -> str | None:
    """A string property, or None when it is unset, unknown or not a string."""
    return value if isinstance(value, str) else None


def described(key: str, value: Any) -> str:
    """How a scalar setting stands, for messages: ``enableHttpsTrafficOnly is false``."""
    if value is None:
        return f"{key} is not set"
    shown = json.dumps(value) if isinstance(value, str | bool | int | float) else repr(value)
    return f"{key} is {shown}"


def not_true(props: Any, *paths: str) -> list[str]:
    """How each dotted setting of ``props`` that is not exactly ``true`` stands (``described``)."""
    return [described(path, value) for path in paths if (value := lookup(props, *path.split("."))) is not True]


def snake(key: str) -> str:
    """The Python argument name of a wire property: ``enableHttpsTrafficOnly`` -> ``enable_https_traffic_only``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()


def label(resource_type: str, name: str) -> str:
    """``StorageAccount 'backups'``: the kind (last part of the type token) and the logical name."""
    return f"{resource_type.rsplit(':', 1)[-1]} '{name}'"


def for_types(*resource_types: str) -> Callable[[ResourceCheck], ResourceValidation]:
    """Runs a resource check only on the given types and lets it report bare messages.

    The engine attaches the resource's URN to resource-policy violations itself.
    """

    def decorate(check: ResourceCheck) -> ResourceValidation:
        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if args.resource_type in resource_types:
                check(args, lambda message: report_violation(message, None))

        return validate

    return decorate


Settings = Mapping[str, dict[str, Any]]
"""A policy's configuration schema properties: setting name -> JSON schema (with its default)."""


def _options(level: EnforcementLevel, settings: Settings | None) -> dict[str, Any]:
    return {"enforcement_level": level, "config_schema": PolicyConfigSchema(properties=dict(settings)) if settings else None}


def resource_policy(
    name: str,
    description: str,
    validate: ResourceValidation | list[ResourceValidation],
    *,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
    settings: Settings | None = None,
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(name=name, description=description, validate=validate, **_options(level, settings))


def stack_policy(
    name: str,
    description: str,
    validate: StackValidation,
    *,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
    settings: Settings | None = None,
) -> StackValidationPolicy:
    return StackValidationPolicy(name=name, description=description, validate=validate, **_options(level, settings))


def integer_schema(default: int, minimum: int, maximum: int | None = None, description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum, "default": default}
    if maximum is not None:
        schema["maximum"] = maximum
    if description:
        schema["description"] = description
    return schema


# Configuration arrives as JSON (numbers as floats); the defaults repeat the schema defaults so
# the pack also behaves when an engine sends no configuration at all.


def int_setting(args: PolicyArgs, name: str, default: int) -> int:
    value = args.get_config().get(name)
    return default if value is None else int(value)


def text_setting(args: PolicyArgs, name: str, default: str) -> str:
    value = args.get_config().get(name)
    return default if value is None else str(value)


def texts_setting(args: PolicyArgs, name: str, default: Sequence[str]) -> list[str]:
    value = args.get_config().get(name)
    return list(default) if value is None else [str(item) for item in value]


def kubernetes_name(props: Any) -> str | None:
    return text(lookup(props, "metadata", "name"))


def kubernetes_namespace(props: Any) -> str:
    """``metadata.namespace``; objects without one land in the provider's namespace, normally ``default``."""
    return text(lookup(props, "metadata", "namespace")) or "default"


def of_type(resources: Iterable[PolicyResource], resource_type: str) -> list[PolicyResource]:
    return [resource for resource in resources if resource.resource_type == resource_type]


def depends_through(resource: PolicyResource, prop: str, target: PolicyResource) -> bool:
    """Whether the program built ``resource``'s ``prop`` from an output of ``target``.

    Property dependencies are known in every preview, even when the values are not.
    """
    return any(source.urn == target.urn for source in resource.property_dependencies.get(prop, []))


def depends_on_type(resource: PolicyResource, prop: str, resource_type: str) -> bool:
    return any(source.resource_type == resource_type for source in resource.property_dependencies.get(prop, []))
