"""Operator (Helm chart) settings."""

from __future__ import annotations

from settings.rules import ChartVersion, SettingsModel


class OperatorSettings(SettingsModel):
    cert_manager_version: ChartVersion = "v1.19.1"
    """cert-manager chart version (jetstack)."""
    cnpg_chart_version: ChartVersion = "0.29.0"
    """cloudnative-pg chart version (0.29.0 = CloudNativePG 1.30.0)."""
    barman_cloud_chart_version: ChartVersion = "0.7.0"
    """plugin-barman-cloud chart version."""
    kube_prometheus_stack_version: ChartVersion = "88.5.3"
    """kube-prometheus-stack chart version."""
    self_managed_monitoring: bool = True
    """Self-managed Prometheus/Grafana/Alertmanager in the cluster (kube-prometheus-stack)."""
