"""Hand-built stacks for policy tests: the registrations the recording engine would capture.

A ``SyntheticStack`` is a list of ``Resource`` specs that refer to each other by logical name; it
turns them into ``Registration`` objects with real-shaped URNs (parent type chain included),
property dependencies and raw inputs encoded as the SDK sends them (``Secret(...)`` becomes the
secret envelope, ``UNKNOWN`` the preview sentinel). Tests change one value of a compliant stack
and expect exactly the policy that guards it to object.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from google.protobuf import struct_pb2
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from offline.engine import PROJECT, Registration

UNKNOWN = UNKNOWN_STRING_VALUE
"""An input value computed from an output that ``pulumi preview`` does not know yet."""

Path = str | tuple[str | int, ...]


@dataclass(frozen=True)
class Secret:
    """An input the program passes as a Pulumi secret."""

    value: Any


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    inputs: Mapping[str, Any]
    parent: str | None = None  # logical name of the parent component
    sources: Mapping[str, Sequence[str]] = field(default_factory=dict)  # property -> resources its value came from
    provider: str | None = None  # logical name of an explicit provider
    custom: bool = True
    protect: bool = False


def _wire(value: Any) -> Any:
    if isinstance(value, Secret):
        return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": _wire(value.value)}
    if isinstance(value, Mapping):
        return {key: _wire(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(item) for item in value]
    return value


def _unwrapped(value: Any) -> Any:
    if isinstance(value, Secret):
        return _unwrapped(value.value)
    if isinstance(value, Mapping):
        return {key: _unwrapped(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_unwrapped(item) for item in value]
    return value


def _steps(path: Path) -> tuple[str | int, ...]:
    """Path steps; a step of digits indexes a list."""
    steps = path.split(".") if isinstance(path, str) else path
    return tuple(int(step) if isinstance(step, str) and step.isdigit() else step for step in steps)


class SyntheticStack:
    def __init__(self, resources: Sequence[Resource], stack: str = "dev"):
        self.resources = list(resources)
        self.stack = stack
        self._by_name = {resource.name: resource for resource in self.resources}

    @property
    def root_urn(self) -> str:
        return f"urn:pulumi:{self.stack}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{self.stack}"

    def _type_chain(self, name: str) -> str:
        resource = self._by_name[name]
        parent_chain = self._type_chain(resource.parent) if resource.parent else "pulumi:pulumi:Stack"
        return f"{parent_chain}${resource.type}"

    def urn(self, name: str) -> str:
        return f"urn:pulumi:{self.stack}::{PROJECT}::{self._type_chain(name)}::{name}"

    def inputs(self, name: str) -> Mapping[str, Any]:
        return self._by_name[name].inputs

    def registration(self, name: str) -> Registration:
        resource = self._by_name[name]
        property_dependencies = {prop: [self.urn(source) for source in sources] for prop, sources in resource.sources.items()}
        raw_inputs = struct_pb2.Struct()
        raw_inputs.update(_wire(resource.inputs))
        return Registration(
            type=resource.type,
            name=name,
            urn=self.urn(name),
            parent=self.urn(resource.parent) if resource.parent else self.root_urn,
            custom=resource.custom,
            remote=False,
            provider=f"{self.urn(resource.provider)}::{resource.provider}-id" if resource.provider else "",
            dependencies=sorted({urn for urns in property_dependencies.values() for urn in urns}),
            property_dependencies=property_dependencies,
            inputs=_unwrapped(resource.inputs),
            raw_inputs=raw_inputs,
            custom_timeouts=("", "", ""),
            replace_on_changes=[],
            ignore_changes=[],
            protect=resource.protect,
            delete_before_replace=False,
            additional_secret_outputs=[],
        )

    def registrations(self) -> list[Registration]:
        return [self.registration(resource.name) for resource in self.resources]

    def _edited(self, name: str, **changes: Any) -> SyntheticStack:
        return SyntheticStack([replace(r, **changes) if r.name == name else r for r in self.resources], self.stack)

    def _copied_inputs(self, name: str, path: Path) -> tuple[dict[str, Any], Any, str | int]:
        """A deep copy of ``name``'s inputs, the container that ``path`` ends in, and its last step."""
        inputs = copy.deepcopy(dict(self._by_name[name].inputs))
        *parents, last = _steps(path)
        container: Any = inputs
        for step in parents:
            container = container[step]
        return inputs, container, last

    def with_value(self, name: str, path: Path, value: Any) -> SyntheticStack:
        """The stack with one input of ``name`` set (``path``: dotted, or a tuple for keys with dots)."""
        inputs, container, last = self._copied_inputs(name, path)
        container[last] = value
        return self._edited(name, inputs=inputs)

    def without(self, name: str, path: Path | None = None) -> SyntheticStack:
        """The stack without the resource ``name``, or without one of its inputs."""
        if path is None:
            return SyntheticStack([r for r in self.resources if r.name != name], self.stack)
        inputs, container, last = self._copied_inputs(name, path)
        del container[last]
        return self._edited(name, inputs=inputs)

    def with_sources(self, name: str, sources: Mapping[str, Sequence[str]]) -> SyntheticStack:
        return self._edited(name, sources=dict(sources))

    def plus(self, *resources: Resource) -> SyntheticStack:
        return SyntheticStack([*self.resources, *resources], self.stack)
