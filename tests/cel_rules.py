"""The CEL rules (``x-kubernetes-validations``) of a CRD schema, applied the way the API server applies them on a create.

``CelRules(schema, crd_name)`` compiles every rule of the schema once. A rule that cel-python cannot parse, or that
calls a function cel-python lacks (such as the Kubernetes CEL libraries' ``isURL`` or ``quantity``), raises
``UnsupportedCelRuleError``: no rule is skipped silently. The only rules skipped are transition rules (those that read
``oldSelf``), which apply to updates only. With ``optionalOldSelf`` such a rule applies to creates too, so it is
unsupported.

``evaluate(value)`` walks the schema along the value and applies each rule with ``self`` bound to the value at the
rule's node: to each item of a list, and to each value of a map. As on the API server, absent and null values are not
checked, a rule that cannot be evaluated (it reads an absent field without ``has()``) fails, and a number of
``type: number`` is a CEL double even when it is integral. The value should be pruned and defaulted first
(tests/k8s_schema.py does this).

Not emulated: cost limits; ``format`` (the API server makes date-time, duration and byte strings CEL timestamps,
durations and bytes, here they stay strings); root rules see all of ``metadata``, not only name and generateName.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, base_functions
from lark import Token

FieldPath = tuple[str | int, ...]

_MACROS = frozenset({"has", "all", "exists", "exists_one", "filter", "map"})
_FUNCTIONS = _MACROS | frozenset(base_functions)

# A rule's fieldPath: a chain of ".name" and "['name']" steps (the API server allows no other form).
_FIELD_PATH_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\['([^']*)'\]")

_ENVIRONMENT = celpy.Environment()


class UnsupportedCelRuleError(Exception):
    """A CRD has rules that cel-python cannot evaluate faithfully."""


@dataclass(frozen=True)
class RuleOutcome:
    """One rule applied to one value. ``path`` is where the API server reports it; ``failure`` is None if the rule held."""

    path: FieldPath
    rule: str
    failure: str | None


@dataclass(frozen=True)
class _Expression:
    program: celpy.Runner
    functions: frozenset[str]
    identifiers: frozenset[str]


@dataclass(frozen=True)
class _Rule:
    rule: str
    program: celpy.Runner
    message: str
    message_expression: celpy.Runner | None
    field_path: FieldPath
    transition: bool  # reads oldSelf, so it only applies to updates

    def outcome(self, value: Any, path: FieldPath) -> RuleOutcome:
        activation = {"self": value}
        try:
            result = self.program.evaluate(activation)
        except CELEvalError as error:
            return RuleOutcome((*path, *self.field_path), self.rule, f"the rule could not be evaluated: {error.args[0]}")
        if not isinstance(result, celtypes.BoolType):
            return RuleOutcome((*path, *self.field_path), self.rule, f"the rule gave {result!r}, not a bool")
        return RuleOutcome((*path, *self.field_path), self.rule, None if result else self._failure_message(activation))

    def _failure_message(self, activation: dict[str, Any]) -> str:
        # Like the API server: the messageExpression if it gives a non-blank string, else the message.
        if self.message_expression is not None:
            try:
                message = self.message_expression.evaluate(activation)
            except CELEvalError:
                return self.message
            if isinstance(message, str) and message.strip():
                return message
        return self.message


@dataclass(frozen=True)
class _RuleNode:
    """The rules of one schema node, and the child nodes that have rules at or below them."""

    schema: Mapping[str, Any]
    rules: tuple[_Rule, ...]
    properties: Mapping[str, _RuleNode]
    items: _RuleNode | None
    additional_properties: _RuleNode | None


class CelRules:
    """The CEL rules of one CRD version's openAPIV3Schema."""

    def __init__(self, openapi_schema: Mapping[str, Any], crd_name: str) -> None:
        self.transition_rules: list[str] = []  # "location: rule" of each rule that is skipped
        errors: list[str] = []
        self._root = self._node(openapi_schema, "", errors)
        if errors:
            raise UnsupportedCelRuleError(f"{crd_name}: " + "; ".join(errors))

    def evaluate(self, value: Any) -> list[RuleOutcome]:
        """Apply every rule, other than transition rules, to ``value`` (a whole custom resource)."""
        outcomes: list[RuleOutcome] = []
        if self._root is not None:
            _evaluate(self._root, value, (), outcomes)
        return outcomes

    def _node(self, schema: Mapping[str, Any], location: str, errors: list[str]) -> _RuleNode | None:
        rules = []
        for rule in schema.get("x-kubernetes-validations", ()):
            compiled = _compiled_rule(rule, location or "(root)", errors)
            if compiled is not None and compiled.transition:
                self.transition_rules.append(f"{location or '(root)'}: {compiled.rule}")
            elif compiled is not None:
                rules.append(compiled)
        properties = {
            name: node
            for name, property_schema in schema.get("properties", {}).items()
            if (node := self._node(property_schema, f"{location}.{name}".removeprefix("."), errors)) is not None
        }
        items = self._child(schema.get("items"), f"{location}[]", errors)
        additional_properties = self._child(schema.get("additionalProperties"), f"{location}[*]", errors)
        if not (rules or properties or items or additional_properties):
            return None
        return _RuleNode(schema, tuple(rules), properties, items, additional_properties)

    def _child(self, schema: Any, location: str, errors: list[str]) -> _RuleNode | None:
        return self._node(schema, location, errors) if isinstance(schema, Mapping) else None


def _compiled_rule(rule: Mapping[str, Any], location: str, errors: list[str]) -> _Rule | None:
    """Return the compiled rule, or None if it cannot be compiled (then ``errors`` says why)."""
    expression = _expression(rule["rule"], location, errors)
    message_expression = _expression(rule["messageExpression"], location, errors) if "messageExpression" in rule else None
    field_path = _field_path(rule.get("fieldPath", ""), location, errors)
    if expression is None or field_path is None or ("messageExpression" in rule and message_expression is None):
        return None
    transition = "oldSelf" in expression.identifiers
    if transition and rule.get("optionalOldSelf"):
        errors.append(f"{location}: {rule['rule']!r} is a transition rule with optionalOldSelf, which also applies to creates")
        return None
    return _Rule(
        rule=rule["rule"],
        program=expression.program,
        message=rule.get("message") or f"failed rule: {rule['rule']}",
        message_expression=message_expression.program if message_expression else None,
        field_path=field_path,
        transition=transition,
    )


def _expression(text: str, location: str, errors: list[str]) -> _Expression | None:
    try:
        expression = _compiled(text)
    except CELParseError as error:
        errors.append(f"{location}: cel-python cannot parse {text!r}: {error}")
        return None
    missing = expression.functions - _FUNCTIONS
    if missing:
        errors.append(f"{location}: {text!r} calls {', '.join(sorted(missing))}, which cel-python lacks")
        return None
    return expression


@functools.cache
def _compiled(text: str) -> _Expression:
    """Compile a CEL expression once, however many CRDs or schema nodes use it."""
    ast = _ENVIRONMENT.compile(text)
    functions, identifiers = set(), set()
    for node in ast.iter_subtrees():
        names = [child.value for child in node.children if isinstance(child, Token) and child.type == "IDENT"]
        if node.data in ("ident_arg", "member_dot_arg"):
            functions.update(names)
        elif node.data == "ident":
            identifiers.update(names)
    return _Expression(_ENVIRONMENT.program(ast), frozenset(functions), frozenset(identifiers))


def _field_path(text: str, location: str, errors: list[str]) -> FieldPath | None:
    steps = list(_FIELD_PATH_STEP.finditer(text))
    if "".join(step.group(0) for step in steps) != text:
        errors.append(f"{location}: fieldPath {text!r} is not a chain of .name and ['name'] steps")
        return None
    return tuple(step.group(1) or step.group(2) for step in steps)


def _evaluate(node: _RuleNode, value: Any, path: FieldPath, outcomes: list[RuleOutcome]) -> None:
    if value is None:
        return
    if node.rules:
        cel_value = _cel_value(value, node.schema)
        outcomes.extend(rule.outcome(cel_value, path) for rule in node.rules)
    if isinstance(value, dict):
        for key, item in value.items():
            child = node.properties.get(key) if "properties" in node.schema else node.additional_properties
            if child is not None:
                _evaluate(child, item, (*path, key), outcomes)
    elif isinstance(value, list) and node.items is not None:
        for index, item in enumerate(value):
            _evaluate(node.items, item, (*path, index), outcomes)


def _cel_value(value: Any, schema: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        additional_properties = schema.get("additionalProperties")
        default_schema = additional_properties if isinstance(additional_properties, Mapping) else {}
        return celtypes.MapType(
            {celtypes.StringType(key): _cel_value(item, properties.get(key, default_schema)) for key, item in value.items()}
        )
    if isinstance(value, list):
        return celtypes.ListType([_cel_value(item, schema.get("items", {})) for item in value])
    if schema.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
        return celtypes.DoubleType(value)  # the harness turns integral floats into ints; the API server's CEL sees a double
    return celpy.json_to_cel(value)
