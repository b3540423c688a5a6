"""Stack settings files (``Pulumi.<stack>.yaml``) read the way the Pulumi CLI reads them.

The CLI parses them with Go's yaml.v3, which differs from PyYAML's YAML 1.1 defaults:
duplicate mapping keys are an error (PyYAML keeps the last), only ``true``/``false`` are
booleans (``on``, ``off``, ``yes``, ``no`` stay strings, as a ``work_mem``/``jit`` parameter
needs), ``1:30`` is a string rather than a base-60 number, and ``1e3`` is a float. A timestamp
is kept as the text written (the program reads strings). A config key without a namespace
belongs to the project. A secure value (``{secure: v1:...}``, written by ``pulumi config set --secret``)
is what the CLI decrypts before the program runs; offline it cannot be decrypted, so it reads as
``OfflineSecret``, a placeholder the engine hands over as secret config. Aliases are bounded as
yaml.v3 bounds them (a few lines of nested aliases expand to gigabytes). Every problem is a
``StackFileError`` naming the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class OfflineSecret(str):
    """A secure config value the offline reader cannot decrypt: a placeholder marking its key secret.

    The text is an https URL so the one documented secret, ``alerting.webhookUrl``, validates.
    """


SECRET_PLACEHOLDER = "https://secret-placeholder.invalid/not-decrypted-offline"


def _decrypted(value: Any) -> Any:
    """``value`` with every secure value replaced by the placeholder (Go config.isSecureValue: a mapping of
    exactly one key, ``secure``, holding text)."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("secure"), str):
            return OfflineSecret(SECRET_PLACEHOLDER)
        return {key: _decrypted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decrypted(item) for item in value]
    return value


def holds_secret(value: Any) -> bool:
    """Whether a config value holds a secure value (the CLI lists such a key among the program's secret keys)."""
    if isinstance(value, OfflineSecret):
        return True
    if isinstance(value, dict):
        return any(holds_secret(item) for item in value.values())
    if isinstance(value, list):
        return any(holds_secret(item) for item in value)
    return False


class StackFileError(Exception):
    """A stack file the Pulumi CLI would refuse; ``str()`` is one line, ``file:line: problem``."""


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with yaml.v3's scalar resolution and duplicate-key check."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            identity = (key_node.id, str(key_node.value))
            if identity in seen:
                raise StackFileError(
                    f"{self.name}:{key_node.start_mark.line + 1}: mapping key {key_node.value!r} already defined at "
                    f"line {seen[identity]} (the Pulumi CLI refuses duplicate keys)"
                )
            seen[identity] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in (_BOOL, _INT, _FLOAT, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Yaml12Loader.add_implicit_resolver(
    _INT, re.compile(r"^[-+]?(?:[0-9][0-9_]*|0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+)$"), list("-+0123456789")
)
_Yaml12Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


# yaml.v3 decode.go (allowedAliasRatio, used by the Pulumi CLI's stack file reader): once more than 100 of more
# than 1000 decoded nodes came from aliases, the share of alias-expanded nodes may be at most 99% up to 400,000
# nodes, falling linearly to 10% at 4,000,000; beyond it the CLI fails "document contains excessive aliasing".
_ALIAS_MIN_ALIASED, _ALIAS_MIN_DECODED = 100, 1000
_ALIAS_RATIO_LOW, _ALIAS_RATIO_HIGH = 400_000, 4_000_000


def _allowed_alias_ratio(decoded: int) -> float:
    if decoded <= _ALIAS_RATIO_LOW:
        return 0.99
    if decoded >= _ALIAS_RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _ALIAS_RATIO_LOW) / (_ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW)


def _check_aliasing(path: Path, document: yaml.Node) -> None:
    """Count nodes as yaml.v3 decodes them (an alias decodes its anchor's whole subtree again) and stop where it does.

    The composer hands an alias back as its anchor's node object, and an anchor comes before its aliases, so
    in document order a node object met a second time is an alias.
    """
    seen: set[int] = set()
    decoded = aliased = 0
    pending: list[tuple[yaml.Node, bool]] = [(document, False)]
    while pending:
        node, in_alias = pending.pop()
        if not in_alias and id(node) in seen:
            decoded += 1  # the alias itself
            in_alias = True
        seen.add(id(node))
        decoded += 1
        aliased += in_alias
        if aliased > _ALIAS_MIN_ALIASED and decoded > _ALIAS_MIN_DECODED and aliased / decoded > _allowed_alias_ratio(decoded):
            raise StackFileError(
                f"{path}:{_line(node)}: YAML aliases expand beyond the bound of the Pulumi CLI's YAML reader "
                f"({aliased:,} of {decoded:,} nodes from aliases; it fails 'document contains excessive aliasing')"
            )
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            continue
        pending.extend((child, in_alias) for child in reversed(children))


def _config_node(path: Path, document: yaml.Node) -> yaml.MappingNode | None:
    if not isinstance(document, yaml.MappingNode):
        raise StackFileError(f"{path}:{_line(document)}: a stack file must be a mapping (config:, secretsprovider:, ...)")
    for key_node, value_node in document.value:
        if key_node.value != "config" or value_node.tag == "tag:yaml.org,2002:null":
            continue
        if not isinstance(value_node, yaml.MappingNode):
            kind = "list" if isinstance(value_node, yaml.SequenceNode) else "scalar"
            raise StackFileError(f"{path}:{_line(value_node)}: config: must be a mapping (project:key: value), not a {kind}")
        return value_node
    return None


def _namespaced(path: Path, key_node: yaml.Node, project: str) -> str:
    """``key`` belongs to the project; ``namespace:config:key`` is the CLI's old form of ``namespace:key``."""
    parts = str(key_node.value).split(":")
    if not isinstance(key_node, yaml.ScalarNode) or len(parts) > 3 or (len(parts) == 3 and parts[1] != "config"):
        raise StackFileError(f"{path}:{_line(key_node)}: config key {key_node.value!r} is not of the form <namespace>:<name>")
    return f"{parts[0]}:{parts[-1]}" if len(parts) > 1 else f"{project}:{parts[0]}"


def read_stack_config(path: Path, project: str) -> dict[str, Any]:
    """The ``config:`` mapping of a stack file, keys namespaced (``project:key``), values as the CLI reads them."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise StackFileError(f"{path}: cannot read the stack file ({error})") from None
    loader = _Yaml12Loader(text)
    loader.name = str(path)
    try:
        document = loader.get_single_node()
        if document is None:
            return {}  # an empty file is an empty stack, as for the CLI
        _check_aliasing(path, document)
        config = _config_node(path, document)
        loader.construct_document(document)  # every mapping, so duplicate keys anywhere are found
        if config is None:
            return {}
        return {
            _namespaced(path, key_node, project): _decrypted(loader.construct_object(value_node, deep=True))
            for key_node, value_node in config.value
        }
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise StackFileError(f"{path}{line}: invalid YAML: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{path}: invalid YAML: {error}") from None
    finally:
        loader.dispose()
