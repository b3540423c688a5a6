"""Offline schema checks of rendered Kubernetes objects, the way the API server would check them.

``validate_object(obj, "1.35")`` returns the problems found in one object, or ``[]`` if it is valid:

* Built-in kinds are checked against the strict JSON schemas that ``kubernetes_validate`` ships for
  that minor version. Strict means an unknown field is an error, as with server-side apply and
  strict field validation.
* Custom resources are checked against the ``openAPIV3Schema`` of the CRDs in ``fixtures/crds``
  (see SOURCES.md there), or of CRDs given as ``crd_schemas(objects)`` (e.g. those a Helm chart
  installs). The API server's handling of structural schemas is emulated: see
  ``_custom_resource_problems``. Their CEL rules (``x-kubernetes-validations``) are applied too:
  see cel_rules.py.
* An (apiVersion, kind) with no schema in either place is an error. It is never a silent pass.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError
from kubernetes_validate import utils as kubernetes_validate_utils
from referencing import Registry, Resource

from tests.cel_rules import CelRules, RuleOutcome

CRD_DIR = Path(__file__).resolve().parent / "fixtures" / "crds"

# Azure managed Prometheus serves the upstream PodMonitor schema under its own group (see fixtures/crds/SOURCES.md).
_SCHEMA_ALIASES = {("azmonitoring.coreos.com/v1", "PodMonitor"): ("monitoring.coreos.com/v1", "PodMonitor")}

# The API server handles these fields of a custom resource itself. They are not pruned against the CRD schema.
_RESOURCE_ROOT_FIELDS = ("apiVersion", "kind", "metadata")

_OBJECT_META_REF = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# jsonschema puts the whole failing value into some messages, and a rejected spec can be large.
_MAX_MESSAGE_LENGTH = 300

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml parses the 460 kB Cluster CRD 30x faster


@dataclass(frozen=True)
class _NameRule:
    description: str
    pattern: re.Pattern[str]
    max_length: int

    def problems(self, field: str, value: str) -> list[str]:
        if len(value) > self.max_length:
            return [f"{field}: {value!r} is longer than {self.max_length} characters"]
        if not self.pattern.fullmatch(value):
            return [f"{field}: {value!r} is not {self.description}"]
        return []


_DNS1123_LABEL = _NameRule(
    "a lowercase RFC 1123 label (lower case alphanumerics or '-', starting and ending with an alphanumeric)",
    re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"),
    63,
)
_DNS1123_SUBDOMAIN = _NameRule(
    "a lowercase RFC 1123 subdomain (RFC 1123 labels joined by '.')",
    re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"),
    253,
)
_DNS1035_LABEL = _NameRule(
    "an RFC 1035 label (lower case alphanumerics or '-', starting with a letter and ending with an alphanumeric)",
    re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?"),
    63,
)

# Name rules the API server applies to common core kinds (ValidateNamespaceName, ValidateServiceName, ... in
# k8s.io/kubernetes/pkg/apis/core/validation). For other built-in kinds the harness only checks that a name is set.
_BUILTIN_NAME_RULES = {
    ("v1", "Namespace"): _DNS1123_LABEL,
    ("v1", "Service"): _DNS1035_LABEL,
    ("v1", "ConfigMap"): _DNS1123_SUBDOMAIN,
    ("v1", "Secret"): _DNS1123_SUBDOMAIN,
    ("v1", "ServiceAccount"): _DNS1123_SUBDOMAIN,
}


@dataclass(frozen=True)
class _CustomResourceDefinition:
    openapi_schema: Mapping[str, Any]
    namespaced: bool
    validator: Any  # a _StructuralSchemaValidator for openapi_schema
    cel_rules: CelRules


CustomResourceSchemas = Mapping[tuple[str, str], _CustomResourceDefinition]


def validate_object(
    obj: Mapping[str, Any], kubernetes_version: str, custom_resources: CustomResourceSchemas | None = None
) -> list[str]:
    """Return the problems the API server would report for ``obj`` on Kubernetes ``kubernetes_version``.

    ``kubernetes_version`` is a version such as "1.35". An empty list means that ``obj`` is valid.
    ``custom_resources`` (from ``crd_schemas``) is consulted before the fixture CRDs.
    Raises ValueError if kubernetes_validate has no schemas for that version.
    """
    schema_version = _schema_version(kubernetes_version)
    instance = _plain(obj)
    api_version, kind = instance.get("apiVersion"), instance.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [f"apiVersion and kind must be strings, got {api_version!r} and {kind!r}"]

    label = f"{api_version} {kind} {_qualified_name(instance)}"
    crd = _custom_resource_definition(api_version, kind, custom_resources)
    if crd is not None:
        problems = _custom_resource_problems(instance, crd, schema_version)
    else:
        builtin_validator = _builtin_validator(schema_version, api_version, kind)
        if builtin_validator is None:
            return [
                f"no schema for {label}: not a built-in kind of Kubernetes {kubernetes_version} and "
                f"not defined by a CRD in {CRD_DIR}"
            ]
        problems = [
            *_schema_problems(builtin_validator, instance),
            *_metadata_problems(instance, _BUILTIN_NAME_RULES.get((api_version, kind)), namespace_required=False),
        ]
    return [f"{label}: {problem}" for problem in problems]


def cel_rule_outcomes(obj: Mapping[str, Any], custom_resources: CustomResourceSchemas | None = None) -> list[RuleOutcome]:
    """Return the outcome of each CEL rule of ``obj``'s CRD applied to ``obj``; [] if ``obj`` is not a custom resource."""
    instance = _plain(obj)
    crd = _custom_resource_definition(instance.get("apiVersion"), instance.get("kind"), custom_resources)
    return [] if crd is None else crd.cel_rules.evaluate(_admitted(instance, crd, []))


def _custom_resource_definition(
    api_version: Any, kind: Any, custom_resources: CustomResourceSchemas | None
) -> _CustomResourceDefinition | None:
    return (custom_resources or {}).get((api_version, kind)) or _custom_resource_definitions().get((api_version, kind))


def known_custom_kinds() -> set[tuple[str, str]]:
    """Return the (apiVersion, kind) pairs that have a CRD schema, aliases included."""
    return set(_custom_resource_definitions())


def _custom_resource_problems(instance: Mapping[str, Any], crd: _CustomResourceDefinition, schema_version: str) -> list[str]:
    """Check a custom resource as the API server would.

    The API server prunes undeclared fields, and rejects them under strict field validation. It
    removes nulls that are not ``nullable``, applies defaults, and then validates against the
    schema and its CEL rules. ``format`` is not checked. The only spec field with a format the
    server checks is Cluster ``spec.managed.roles[].validUntil`` (date-time); the other formats
    used are int32 and int64, which the server does not range-check. The ``self == oldSelf``
    immutability rules only apply to updates, so they are skipped. Metadata is checked against
    the ObjectMeta schema of this Kubernetes version, plus the name and namespace rules.
    """
    undeclared_fields: list[str] = []
    admitted = _admitted(instance, crd, undeclared_fields)
    metadata = instance.get("metadata")
    return [
        *(f"{path}: unknown field, not declared in the CRD schema" for path in undeclared_fields),
        *_schema_problems(crd.validator, admitted),
        *(
            f"{_field_path(outcome.path)}: {_shortened(outcome.failure)} (rule: {outcome.rule})"
            for outcome in crd.cel_rules.evaluate(admitted)
            if outcome.failure is not None
        ),
        *_schema_problems(_object_meta_validator(schema_version), metadata, path_prefix=("metadata",)),
        *_metadata_problems(instance, _DNS1123_SUBDOMAIN, namespace_required=crd.namespaced),
    ]


def _admitted(instance: Mapping[str, Any], crd: _CustomResourceDefinition, undeclared_fields: list[str]) -> dict[str, Any]:
    """Return ``instance`` pruned and defaulted, as the API server stores it. Undeclared fields go to ``undeclared_fields``."""
    root_fields = {key: value for key, value in instance.items() if key in _RESOURCE_ROOT_FIELDS}
    body = {key: value for key, value in instance.items() if key not in _RESOURCE_ROOT_FIELDS}
    return {**root_fields, **_defaulted(_pruned(body, crd.openapi_schema, (), undeclared_fields), crd.openapi_schema)}


def _pruned(value: Any, schema: Mapping[str, Any], path: tuple[str | int, ...], undeclared_fields: list[str]) -> Any:
    """Return ``value`` after the API server's pruning, and add the paths of undeclared fields to ``undeclared_fields``."""
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties", {})
        additional_properties = schema.get("additionalProperties")
        kept = {}
        for key, item in value.items():
            item_schema = properties.get(key, additional_properties if isinstance(additional_properties, dict) else None)
            if item_schema is None:
                if schema.get("x-kubernetes-preserve-unknown-fields"):
                    kept[key] = item
                else:
                    undeclared_fields.append(_field_path((*path, key)))
            elif item is not None or item_schema.get("nullable"):
                kept[key] = _pruned(item, item_schema, (*path, key), undeclared_fields)
        return kept
    if isinstance(value, list) and "items" in schema:
        return [_pruned(item, schema["items"], (*path, index), undeclared_fields) for index, item in enumerate(value)]
    return value


def _defaulted(value: Any, schema: Mapping[str, Any]) -> Any:
    """Return ``value`` with the schema's defaults set wherever a field is absent, at every level, like the API server."""
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties", {})
        additional_properties = schema.get("additionalProperties")
        value_schema = additional_properties if isinstance(additional_properties, dict) else {}
        defaults = {key: prop["default"] for key, prop in properties.items() if "default" in prop and key not in value}
        return {key: _defaulted(item, properties.get(key, value_schema)) for key, item in {**defaults, **value}.items()}
    if isinstance(value, list) and "items" in schema:
        return [_defaulted(item, schema["items"]) for item in value]
    return value


def _metadata_problems(instance: Mapping[str, Any], name_rule: _NameRule | None, *, namespace_required: bool) -> list[str]:
    metadata = instance.get("metadata")
    if metadata is None:
        return ["metadata.name: required"]
    if not isinstance(metadata, Mapping):
        return []  # the schema check already reported the wrong type
    problems = []
    name = metadata.get("name")
    if not name:
        problems.append("metadata.name: required")
    elif isinstance(name, str) and name_rule is not None:
        problems += name_rule.problems("metadata.name", name)
    namespace = metadata.get("namespace")
    if namespace_required and not namespace:
        problems.append("metadata.namespace: required for a namespaced resource")
    elif isinstance(namespace, str) and namespace:
        problems += _DNS1123_LABEL.problems("metadata.namespace", namespace)
    return problems


def _type_unless_nullable_null(validator: Any, types: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if instance is None and schema.get("nullable"):
        return
    yield from _DRAFT4_TYPE(validator, types, instance, schema)


def _int_or_string(validator: Any, int_or_string: bool, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if int_or_string and not (validator.is_type(instance, "integer") or validator.is_type(instance, "string")):
        yield ValidationError(f"{instance!r} is neither an integer nor a string")


def _unique_list_entries(validator: Any, list_type: str, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    # The API server rejects duplicate items in a "set" list and duplicate keys in a "map" list.
    if not validator.is_type(instance, "array") or list_type not in ("set", "map"):
        return
    map_keys: list[str] = schema.get("x-kubernetes-list-map-keys", [])
    seen: set[str] = set()
    for index, item in enumerate(instance):
        is_map_entry = list_type == "map" and isinstance(item, dict)
        identity_value = [item.get(key) for key in map_keys] if is_map_entry else item
        identity = json.dumps(identity_value, sort_keys=True)
        if identity in seen:
            yield ValidationError(f"duplicate entry {identity} in a list of type {list_type!r}", path=[index])
        seen.add(identity)


_DRAFT4_TYPE = jsonschema.Draft4Validator.VALIDATORS["type"]

# OpenAPI 3.0 schemas use draft 4 semantics, for example a boolean exclusiveMinimum. No format checker is
# given, so ``format`` is not checked. ``x-kubernetes-validations`` is an unknown keyword here, so it is ignored.
_StructuralSchemaValidator = jsonschema.validators.extend(
    jsonschema.Draft4Validator,
    validators={
        "type": _type_unless_nullable_null,
        "x-kubernetes-int-or-string": _int_or_string,
        "x-kubernetes-list-type": _unique_list_entries,
    },
)


def crd_schemas(objects: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], _CustomResourceDefinition]:
    """The schema of every served version of the CustomResourceDefinitions among ``objects`` (others are ignored)."""
    definitions = {}
    for crd in objects:
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        for version in spec["versions"]:
            if version["served"]:
                openapi_schema = version["schema"]["openAPIV3Schema"]
                definitions[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = _CustomResourceDefinition(
                    openapi_schema=openapi_schema,
                    namespaced=spec["scope"] == "Namespaced",
                    validator=_StructuralSchemaValidator(openapi_schema),
                    cel_rules=CelRules(openapi_schema, f"{spec['group']}/{version['name']} {spec['names']['kind']}"),
                )
    return definitions


@functools.cache
def _custom_resource_definitions() -> dict[tuple[str, str], _CustomResourceDefinition]:
    definitions = crd_schemas(
        yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) for path in sorted(CRD_DIR.glob("*.yaml"))
    )
    for alias, target in _SCHEMA_ALIASES.items():
        definitions[alias] = definitions[target]
    return definitions


@functools.cache
def _schema_versions() -> dict[str, str]:
    """Map each minor version ("1.35") to the version of its kubernetes_validate schema directory ("1.35.0")."""
    return {kubernetes_validate_utils.major_minor(version): version for version in kubernetes_validate_utils.all_versions()}


def _schema_version(kubernetes_version: str) -> str:
    minor = kubernetes_validate_utils.major_minor(kubernetes_version)
    versions = _schema_versions()
    if minor not in versions:
        raise ValueError(
            f"kubernetes_validate has no schemas for Kubernetes {kubernetes_version!r}, only for {', '.join(versions)}"
        )
    return versions[minor]


def _strict_schema(schema_version: str, file_name: str) -> Any:
    return kubernetes_validate_utils.schema_contents(
        f"kubernetes-json-schema/v{schema_version}-local-strict/{file_name}", schema_version
    )


@functools.cache
def _definitions_registry(schema_version: str) -> Registry[Any]:
    # The schemas' $refs point to the shared definitions file. No retrieve function is given, so a $ref
    # that cannot be resolved is an error and nothing is fetched over the network.
    definitions = Resource.from_contents(_strict_schema(schema_version, "_definitions.json"))
    return definitions @ Registry()


@functools.cache
def _builtin_validator(schema_version: str, api_version: str, kind: str) -> Any:
    """Return the strict validator for a built-in kind, or None if Kubernetes has no such kind."""
    group, _, version = api_version.rpartition("/")
    # kubernetes_validate names a file "<kind>[-<first label of the group>]-<version>.json".
    file_stem = "-".join([kind.lower(), *([group.split(".")[0]] if group else []), version])
    try:
        schema = _strict_schema(schema_version, f"{file_stem}.json")
    except FileNotFoundError:
        return None
    # Two groups can share the same first label, and some files describe nested types, not kinds: match the exact kind.
    if {"group": group, "version": version, "kind": kind} not in schema.get("x-kubernetes-group-version-kind", []):
        return None
    return jsonschema.Draft202012Validator(schema, registry=_definitions_registry(schema_version))


@functools.cache
def _object_meta_validator(schema_version: str) -> Any:
    return jsonschema.Draft202012Validator({"$ref": _OBJECT_META_REF}, registry=_definitions_registry(schema_version))


def _schema_problems(validator: Any, instance: Any, path_prefix: tuple[str | int, ...] = ()) -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda error: [str(part) for part in error.absolute_path])
    return [f"{_field_path((*path_prefix, *error.absolute_path))}: {_shortened(error.message)}" for error in errors]


def _plain(value: Any) -> Any:
    """Return a JSON-like copy of ``value``. Integral floats become ints, because Pulumi's RPC sends every number as a double."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _qualified_name(instance: Mapping[str, Any]) -> str:
    metadata = instance.get("metadata")
    if not isinstance(metadata, Mapping):
        return "<unnamed>"
    name = metadata.get("name") or "<unnamed>"
    return f"{metadata['namespace']}/{name}" if metadata.get("namespace") else str(name)


def _field_path(parts: Iterable[str | int]) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)
    return path.removeprefix(".") or "(object)"


def _shortened(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE_LENGTH else message[: _MAX_MESSAGE_LENGTH - 1] + "…"
