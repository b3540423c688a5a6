"""Stack files are read as the Pulumi CLI (Go yaml.v3) reads them, and refused where it refuses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline.engine import PROJECT
from offline.stack_file import SECRET_PLACEHOLDER, OfflineSecret, StackFileError, holds_secret, read_stack_config


def _read(tmp_path: Path, text: str) -> dict:
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(text)
    return read_stack_config(path, PROJECT)


REFUSED = [
    ("duplicate top-level setting", "config:\n  p:a: 1\n  p:b: 2\n  p:a: 3\n", ":4: mapping key 'p:a' already defined at line 2"),
    ("duplicate nested key", "config:\n  p:aks:\n    skuTier: Free\n    skuTier: Standard\n", ":4: mapping key 'skuTier'"),
    ("duplicate config block", "config:\n  p:a: 1\nconfig:\n  p:b: 2\n", ":3: mapping key 'config' already defined at line 1"),
    ("unclosed flow list", "config:\n  p:zones: [1, 2\n  p:b: 3\n", ":3: invalid YAML"),
    ("tab indentation", "config:\n\tp:a: 1\n", ":2: invalid YAML"),
    ("config as a list", "config:\n  - p:a\n", ":2: config: must be a mapping"),
    ("config as a scalar", "config: 5\n", ":1: config: must be a mapping"),
    ("document as a list", "- config\n", ":1: a stack file must be a mapping"),
    ("key with too many namespaces", "config:\n  a:b:c: 1\n", ":2: config key 'a:b:c'"),
]


@pytest.mark.parametrize(("case", "text", "expected"), REFUSED, ids=[case for case, _, _ in REFUSED])
def test_refused_with_file_and_line(tmp_path: Path, case: str, text: str, expected: str) -> None:
    with pytest.raises(StackFileError) as raised:
        _read(tmp_path, text)
    message = str(raised.value)
    assert message.startswith(str(tmp_path / "Pulumi.test.yaml")) and expected in message, message
    assert "\n" not in message


def test_scalars_resolve_as_in_yaml_1_2(tmp_path: Path) -> None:
    values = _read(
        tmp_path,
        "config:\n  p:x: {a: on, b: off, c: yes, d: 1:30, e: 2026-01-01T00:00:00Z, f: true, g: 64, h: 1.10, i: 1e3, j: ~}\n",
    )
    assert values["p:x"] == {
        "a": "on",
        "b": "off",
        "c": "yes",
        "d": "1:30",
        "e": "2026-01-01T00:00:00Z",
        "f": True,
        "g": 64,
        "h": 1.1,
        "i": 1000.0,
        "j": None,
    }


def test_keys_without_namespace_belong_to_the_project(tmp_path: Path) -> None:
    values = _read(tmp_path, "config:\n  location: swedencentral\n  azure-native:location: westeurope\n  p:config:x: 1\n")
    assert values == {f"{PROJECT}:location": "swedencentral", "azure-native:location": "westeurope", "p:x": 1}


@pytest.mark.parametrize("text", ["", "config:\n", "secretsprovider: passphrase\n"])
def test_empty_config_is_an_empty_stack(tmp_path: Path, text: str) -> None:
    assert _read(tmp_path, text) == {}


def _alias_bomb(levels: int) -> str:
    """Each level lists the one before nine times: 9**levels strings from a few hundred bytes."""
    lines = ["config:", "  p:tags:", '    a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"    a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]" for level in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_alias_expansion_is_bounded_as_the_cli_bounds_it(tmp_path: Path) -> None:
    # 9**9 (387 million) strings: PyYAML shares the nodes, but every reader that copies them (JSON for the
    # program) would not finish; yaml.v3 stops at its alias ratio, so the render does too, quickly.
    with pytest.raises(StackFileError) as raised:
        _read(tmp_path, _alias_bomb(9))
    message = str(raised.value)
    assert "YAML aliases expand beyond the bound of the Pulumi CLI's YAML reader" in message and "\n" not in message


def test_ordinary_aliases_still_read(tmp_path: Path) -> None:
    # Two levels: 9 + 81 + 729 strings, well inside yaml.v3's bound.
    values = _read(tmp_path, _alias_bomb(2))
    assert values["p:tags"]["a2"] == [[["lol"] * 9] * 9] * 9


def test_secure_values_read_as_secret_placeholders(tmp_path: Path) -> None:
    # The CLI decrypts {secure: ...} before the program runs; offline a marked placeholder stands in for it.
    values = _read(tmp_path, "config:\n  p:alerting:\n    emails: []\n    webhookUrl:\n      secure: v1:c2FsdA==:Y2lwaGVy\n")
    webhook = values["p:alerting"]["webhookUrl"]
    assert isinstance(webhook, OfflineSecret) and webhook == SECRET_PLACEHOLDER
    assert holds_secret(values["p:alerting"]) and not holds_secret({"emails": [], "secure": ["not", "text"]})
