"""The plaintext-credentials policy: secrets by key, by content and as Secret data; no false alarms."""

from __future__ import annotations

from typing import Any

import pytest

from .baseline import compliant_stack
from .expectations import Analyze, flagged, only, passes
from .synthetic import Resource, Secret

POLICY = "no-plaintext-credentials"
PASSWORD = "s3cret-Passw0rd"


def _release(values: dict[str, Any]) -> Resource:
    return Resource("kubernetes:helm.sh/v3:Release", "release", {"chart": "app", "values": values})


def test_plain_secret_data_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("app-credentials", "stringData", {"username": "app", "password": PASSWORD})
    report = analyze(stack)
    assert {v.urn for v in report.of_policy(POLICY)} == {stack.urn("app-credentials")}, report.describe()
    assert {v.message.split(" holds ")[0] for v in report.of_policy(POLICY)} == {
        "Secret 'app-credentials': stringData.password",
        "Secret 'app-credentials': stringData.username",
    }
    assert all(PASSWORD not in v.message for v in report.violations)


def test_plain_kubeconfig_of_a_provider_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_value(
        "kubernetes", "kubeconfig", "apiVersion: v1\nkind: Config\nusers: [{user: {token: x}}]\n"
    )
    # kubernetes-provider-exec-credentials refuses the token too, secret or not.
    violation = flagged(analyze(stack), POLICY, stack.urn("kubernetes"))
    assert "kubeconfig holds a kubeconfig with credentials" in violation.message


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"grafana": {"adminPassword": PASSWORD}}, "values.grafana.adminPassword"),
        ({"env": [{"name": "PGPASSWORD", "value": PASSWORD}]}, "values.env[0].value"),
        (
            {"backup": {"connectionString": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc=="}},
            "values.backup.connectionString",
        ),
        ({"database": {"url": f"postgresql://app:{PASSWORD}@db:5432/app"}}, "values.database.url"),
        ({"tls": {"cert": "-----BEGIN EC PRIVATE KEY-----\nMHc...\n-----END EC PRIVATE KEY-----"}}, "values.tls.cert"),
    ],
)
def test_plain_credentials_are_refused(analyze: Analyze, values: dict[str, Any], path: str) -> None:
    stack = compliant_stack().plus(_release(values))
    violation = only(analyze(stack), POLICY, stack.urn("release"))
    assert violation.message.startswith(f"Release 'release': {path} holds ")
    assert PASSWORD not in violation.message


def test_secret_credentials_are_accepted(analyze: Analyze) -> None:
    values = {"grafana": {"adminPassword": Secret(PASSWORD)}, "env": [{"name": "PGPASSWORD", "value": Secret(PASSWORD)}]}
    passes(analyze(compliant_stack().plus(_release(values))), POLICY)


@pytest.mark.parametrize(
    "values",
    [
        {"grafana": {"admin": {"existingSecret": "grafana-admin", "passwordKey": "admin-password"}}},
        {"env": [{"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": "app", "key": "password"}}}]},
        {"podAnnotations": {"cnpg.io/pluginClientSecret": "barman-cloud-client-tls"}},
        {"auth": {"token": "Disabled"}},
    ],
)
def test_references_and_switches_are_not_credentials(analyze: Analyze, values: dict[str, Any]) -> None:
    passes(analyze(compliant_stack().plus(_release(values))), POLICY)


def test_false_positives_can_be_allowed_by_config(analyze: Analyze) -> None:
    stack = compliant_stack().plus(_release({"grafana": {"adminPassword": "see-vault"}}))
    assert analyze(stack).of_policy(POLICY)
    passes(analyze(stack, {POLICY: {"allowedKeys": ["values.grafana.adminPassword"]}}), POLICY)
