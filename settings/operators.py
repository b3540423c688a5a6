"""Operator (Helm chart) settings.

The charts are the newest ones whose Chart.yaml and values.yaml are kept in
tests/fixtures/charts (tests check the pins against them). CloudNativePG and the Barman Cloud
plugin run newer images than those charts' appVersions: 1.30.1 and v0.14.0 together fix
``pg_rewind --restore-target-wal`` aborting on a WAL prefetch miss, so a demoted primary can
rejoin (cloudnative-pg #11204, plugin-barman-cloud #1007). The CRDs the charts install stay
valid for those images: see tests/fixtures/charts/SOURCES.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator

from settings.images import (
    BARMAN_CLOUD_PLUGIN_DIGESTS,
    BARMAN_CLOUD_SIDECAR_DIGESTS,
    CERT_MANAGER_DIGESTS,
    CNPG_OPERATOR_DIGESTS,
    KUBE_PROMETHEUS_STACK_DIGESTS,
)
from settings.rules import ChartVersion, SettingsModel

OPERATOR_NAMESPACE = "cnpg-system"
MONITORING_NAMESPACE = "monitoring"
CERT_MANAGER_NAMESPACE = "cert-manager"
# Namespaces the operator releases create and own; the database must live elsewhere.
OPERATOR_NAMESPACES = (OPERATOR_NAMESPACE, CERT_MANAGER_NAMESPACE, MONITORING_NAMESPACE)

# The first releases with the pg_rewind prefetch fix; WAL restore prefetch (ObjectStore
# wal.maxParallel > 1) is only safe from these on.
CNPG_REWIND_FIX = (1, 30, 1)
BARMAN_CLOUD_REWIND_FIX = (0, 14, 0)
# cert-manager minors that support Kubernetes 1.35-1.36 and still get fixes (cert-manager.io
# "Supported releases": 1.19 reached end of life with 1.21's release and stops at Kubernetes 1.35).
SUPPORTED_CERT_MANAGER_MINORS = ((1, 21),)
# The CRDs of the pinned cloudnative-pg chart are CloudNativePG 1.30's; another minor needs its chart.
CNPG_CHART_MINOR = (1, 30)


def _release(value: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"v?([0-9]+)\.([0-9]+)\.([0-9]+)", value)
    if not match:
        raise ValueError("must be an exact release such as 1.30.1 (no ranges, no 'latest')")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def _text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def _digests_pinned(value: str, *tables: Mapping[str, object]) -> str:
    """``value`` if settings/images.py pins the images of that release (every image runs by digest)."""
    if any(value not in table for table in tables):
        pinned = ", ".join(sorted(set.intersection(*(set(table) for table in tables))))
        raise ValueError(
            f"must be a release whose image digests are pinned in settings/images.py ({pinned}); add the "
            "release's digests there first"
        )
    return value


def _cnpg_image(value: str) -> str:
    release = _release(value)
    if release[:2] != CNPG_CHART_MINOR or release < CNPG_REWIND_FIX:
        raise ValueError(
            f"must be a CloudNativePG {_text(CNPG_CHART_MINOR)}.x release from {_text(CNPG_REWIND_FIX)} on (the "
            "pg_rewind WAL prefetch fix; the pinned chart installs the 1.30 CRDs), without a leading 'v'"
        )
    if value.startswith("v"):
        raise ValueError("CloudNativePG image tags have no leading 'v' (e.g. 1.30.1)")
    return _digests_pinned(value, CNPG_OPERATOR_DIGESTS)


def _cert_manager_chart(value: str) -> str:
    if not value.startswith("v") or _release(value)[:2] not in SUPPORTED_CERT_MANAGER_MINORS:
        supported = ", ".join(f"v{_text(minor)}.x" for minor in SUPPORTED_CERT_MANAGER_MINORS)
        raise ValueError(f"must be a supported cert-manager release ({supported}), with the leading 'v'")
    return _digests_pinned(value, CERT_MANAGER_DIGESTS)


def _barman_cloud_image(value: str) -> str:
    if not value.startswith("v") or _release(value) < BARMAN_CLOUD_REWIND_FIX:
        raise ValueError(
            f"must be a plugin-barman-cloud release tag from v{_text(BARMAN_CLOUD_REWIND_FIX)} on (the pg_rewind WAL "
            "prefetch fix), with the leading 'v'"
        )
    return _digests_pinned(value, BARMAN_CLOUD_PLUGIN_DIGESTS, BARMAN_CLOUD_SIDECAR_DIGESTS)


def _kube_prometheus_stack_chart(value: str) -> str:
    return _digests_pinned(value, KUBE_PROMETHEUS_STACK_DIGESTS)


class OperatorSettings(SettingsModel):
    cert_manager_version: Annotated[ChartVersion, AfterValidator(_cert_manager_chart)] = "v1.21.1"
    """cert-manager chart version (jetstack; v1.21 supports Kubernetes 1.35-1.36), digests in settings/images.py."""
    cnpg_chart_version: ChartVersion = "0.29.0"
    """cloudnative-pg chart version (0.29.0 installs the CloudNativePG 1.30 CRDs)."""
    cnpg_operator_version: Annotated[str, AfterValidator(_cnpg_image)] = "1.30.1"
    """CloudNativePG operator image tag run by that chart (1.30.1 or newer 1.30.x), by its digest in settings/images.py."""
    barman_cloud_chart_version: ChartVersion = "0.7.0"
    """plugin-barman-cloud chart version."""
    barman_cloud_plugin_version: Annotated[str, AfterValidator(_barman_cloud_image)] = "v0.14.0"
    """Barman Cloud plugin and sidecar image tag run by that chart (v0.14.0 or newer), by their digests in settings/images.py."""
    kube_prometheus_stack_version: Annotated[ChartVersion, AfterValidator(_kube_prometheus_stack_chart)] = "88.5.3"
    """kube-prometheus-stack chart version; the digests of the images it runs in settings/images.py."""
    self_managed_monitoring: bool = True
    """Self-managed Prometheus/Grafana/Alertmanager in the cluster (kube-prometheus-stack)."""
