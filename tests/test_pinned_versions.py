"""Pinned versions match the upstream copies kept in tests/fixtures (see the SOURCES.md files there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from settings import OperatorSettings, PostgresSettings

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _chart(name: str, file: str) -> Any:
    return yaml.safe_load((FIXTURES / "charts" / name / file).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("chart", "setting"),
    [
        ("cert-manager", "cert_manager_version"),
        ("cloudnative-pg", "cnpg_chart_version"),
        ("plugin-barman-cloud", "barman_cloud_chart_version"),
        ("kube-prometheus-stack", "kube_prometheus_stack_version"),
    ],
)
def test_pinned_chart_is_the_kept_copy(chart: str, setting: str) -> None:
    chart_yaml = _chart(chart, "Chart.yaml")

    assert chart_yaml["name"] == chart
    assert str(chart_yaml["version"]) == getattr(OperatorSettings(), setting)


def test_operator_images_are_newer_than_the_charts_app_versions() -> None:
    # The charts would run 1.30.0 / v0.13.0, the releases without the pg_rewind prefetch fix.
    settings = OperatorSettings()
    assert _chart("cloudnative-pg", "Chart.yaml")["appVersion"] == "1.30.0"
    assert _chart("plugin-barman-cloud", "Chart.yaml")["appVersion"] == "v0.13.0"
    assert (settings.cnpg_operator_version, settings.barman_cloud_plugin_version) == ("1.30.1", "v0.14.0")


def test_overridden_image_keys_exist_in_the_chart_values() -> None:
    # A misspelt key would be ignored by Helm and the chart's appVersion would run instead.
    assert "tag" in _chart("cloudnative-pg", "values.yaml")["image"]
    plugin_values = _chart("plugin-barman-cloud", "values.yaml")
    assert "tag" in plugin_values["image"] and "tag" in plugin_values["sidecarImage"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_postgres_image_is_a_published_immutable_build(stack: str) -> None:
    catalog = yaml.safe_load((FIXTURES / "images" / "catalog-standard-trixie.yaml").read_text(encoding="utf-8"))
    published = {entry["major"]: entry["image"] for entry in catalog["spec"]["images"]}
    stack_file = yaml.safe_load((FIXTURES.parent.parent / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))

    image = stack_file["config"]["aks-postgres-ha:postgres"]["image"]

    assert image == published[18] == PostgresSettings().image
