"""No credential in a non-secret input: passwords, keys, tokens, connection strings, kubeconfigs.

Inputs that are not secrets are stored unencrypted in the Pulumi state and printed in previews.
A string counts as a credential by its key (``adminPassword``, ``kubeconfig``, an env entry named
``PGPASSWORD``), by its content (a private key, a URI or connection string with a password, a
kubeconfig with credentials), or because it is data of a Kubernetes Secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from .common import label, plain, resource_policy, text, texts_setting
from .resource_types import KUBERNETES_SECRET
from .secretness import is_secret, keep_secretness

# The SDK must mark secrets before the pack serves its first request.
keep_secretness()

CREDENTIAL_KEY_ENDINGS = (
    "password",
    "passwd",
    "passphrase",
    "token",
    "apikey",
    "accesskey",
    "accountkey",
    "sharedkey",
    "storagekey",
    "secretkey",
    "privatekey",
    "clientsecret",
    "connectionstring",
    "kubeconfig",
)
# Values that switch a feature rather than hold a credential (e.g. Grafana's apiKey: Disabled).
SWITCH_VALUES = {"", "enabled", "disabled", "true", "false", "none", "null"}
CREDENTIAL_CONTENT = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/:@]+:[^\s/@]+@", re.IGNORECASE), "a URI with a password"),
    (re.compile(r"\b(AccountKey|SharedAccessKey|SharedAccessSignature)=", re.IGNORECASE), "a connection string with a key"),
    (re.compile(r"\bkind:\s*Config\b[\s\S]*\b(token|client-key-data|password):"), "a kubeconfig with credentials"),
)
SECRET_DATA_KEYS = ("data", "stringData")
# Keys of annotation and label maps (annotations, podAnnotations, nodeLabels...) describe other
# objects: cnpg.io/pluginClientSecret names a Secret, it does not hold one.
DESCRIPTIVE_MAP_ENDINGS = ("annotations", "labels")

Path = tuple[str | int, ...]


def _strings(value: Any, path: Path = (), key: str | None = None) -> Iterator[tuple[Path, str, str | None]]:
    """(path, string, the name it goes by) for every string in a property tree.

    In a ``{name: X, value: Y}`` entry (container env, Helm ``set``) ``Y`` goes by the name ``X``.
    """
    if isinstance(value, dict):
        pair_name = text(value.get("name")) if isinstance(value.get("value"), str) else None
        for child_key, child in value.items():
            yield from _strings(child, (*path, child_key), pair_name if child_key == "value" and pair_name else child_key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _strings(child, (*path, index), key)
    elif isinstance(value, str):
        yield path, value, key


def _shown(path: Path) -> str:
    shown = ""
    for step in path:
        if isinstance(step, int):
            shown += f"[{step}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", step):
            shown += f".{step}" if shown else step
        else:
            shown += f'["{step}"]'
    return shown


def _named_like_credential(key: str | None, path: Path) -> bool:
    if key is None or any(str(step).lower().endswith(DESCRIPTIVE_MAP_ENDINGS) for step in path[:-1]):
        return False
    normalized = re.sub(r"[^a-z0-9]", "", key.lower())
    # existingSecretKey and friends name a Kubernetes Secret's key; they hold no credential.
    return not normalized.startswith("existing") and normalized.endswith(CREDENTIAL_KEY_ENDINGS)


def _credential_kind(resource_type: str, path: Path, value: str, key: str | None) -> str | None:
    """What makes the string a credential, or None."""
    if resource_type == KUBERNETES_SECRET and path[0] in SECRET_DATA_KEYS:
        return "Secret data"
    if value.strip().lower() in SWITCH_VALUES:
        return None
    for pattern, kind in CREDENTIAL_CONTENT:
        if pattern.search(value):
            return kind
    return f"a value named '{key}'" if _named_like_credential(key, path) else None


def _validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    allowed = {entry.lower() for entry in texts_setting(args, "allowedKeys", [])}
    for path, value, key in _strings(plain(args.props)):
        if is_secret(value) or (key or "").lower() in allowed or _shown(path).lower() in allowed:
            continue
        kind = _credential_kind(args.resource_type, path, value, key)
        if kind:
            report_violation(
                f"{label(args.resource_type, args.name)}: {_shown(path)} holds {kind} in plain text, stored unencrypted "
                "in the Pulumi state and shown in previews. Pass it as a secret (pulumi.Output.secret(...), a "
                "`pulumi config set --secret` value or a RandomPassword result) or reference an existing Kubernetes Secret.",
                None,
            )


CREDENTIAL_POLICIES = [
    resource_policy(
        "no-plaintext-credentials",
        "Passwords, keys, tokens, connection strings and kubeconfigs are passed as Pulumi secrets.",
        _validate,
        settings={
            "allowedKeys": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Keys or dotted paths that look like credentials but are not (false positives).",
            }
        },
    ),
]
