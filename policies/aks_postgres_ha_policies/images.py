"""Container images come from the registries the program's own images and charts use.

Images appear in registered inputs as ``image``/``imageName`` strings (a CNPG Cluster's
``spec.imageName``, a Pooler's container) and as Helm values ``{registry, repository}`` under any
key ending in ``image`` (``image``, ``sidecarImage``). The charts' default images are not inputs;
tests/policies/test_policy_images.py checks that every image of the rendered charts is allowed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from .common import Report, label, plain, resource_policy, text, texts_setting

# Registry hosts and organisations, from the images of the prod and dev renders (program and charts).
ALLOWED_REGISTRIES = (
    "ghcr.io/cloudnative-pg",  # PostgreSQL, PgBouncer, the CNPG operator, the Barman Cloud plugin and sidecar
    "quay.io/jetstack",  # cert-manager
    "quay.io/prometheus",  # Prometheus, Alertmanager
    "quay.io/prometheus-operator",  # the Prometheus operator and its config reloader
    "quay.io/kiwigrid",  # Grafana's dashboard sidecar
    "ghcr.io/jkroepke",  # kube-prometheus-stack's admission webhook certificates
    "registry.k8s.io",  # kube-state-metrics
    "docker.io/grafana",  # Grafana
    "mcr.microsoft.com",  # AKS and Azure Monitor components
)
DOCKER_HUB = "docker.io"


def _qualified(reference: str, registry: str | None = None) -> str:
    """``reference`` with its registry host: the explicit one, else the first segment if it is a host,
    else Docker Hub (what a container runtime pulls from for ``grafana/grafana``)."""
    reference = reference.strip()
    if registry:
        return f"{registry.strip().rstrip('/')}/{reference}"
    first = reference.split("/", 1)[0]
    if "/" in reference and ("." in first or ":" in first or first == "localhost"):
        return reference
    return f"{DOCKER_HUB}/{reference}" if "/" in reference else f"{DOCKER_HUB}/library/{reference}"


def images(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, fully qualified reference) of every image a property tree names."""
    if isinstance(value, dict):
        for key, child in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in ("image", "imageName") and text(child):
                yield where, _qualified(child)
            elif str(key).lower().endswith("image") and isinstance(child, dict) and text(child.get("repository")):
                yield f"{where}.repository", _qualified(child["repository"], text(child.get("registry")))
            else:
                yield from images(child, where)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from images(child, f"{path}[{index}]")


def _allowed(reference: str, registries: list[str]) -> bool:
    return any(reference.startswith(registry.rstrip("/") + "/") for registry in registries)


def _allowed_registries(args: ResourceValidationArgs, report: Report) -> None:
    if not args.resource_type.startswith("kubernetes:"):
        return
    registries = texts_setting(args, "allowedRegistries", ALLOWED_REGISTRIES)
    for where, reference in images(plain(args.props)):
        if not _allowed(reference, registries):
            report(
                f"{label(args.resource_type, args.name)}: {where} pulls '{reference}', outside the allowed registries "
                f"({', '.join(registries)}); use the upstream image, or add its registry to the pack's "
                "allowedRegistries after review."
            )


def _validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    _allowed_registries(args, lambda message: report_violation(message, None))


IMAGE_POLICIES = [
    resource_policy(
        "images-from-allowed-registries",
        "Container images come only from the registries the program and its charts use.",
        _validate,
        settings={
            "allowedRegistries": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(ALLOWED_REGISTRIES),
                "description": "Registry hosts or host/organisation prefixes images may come from.",
            }
        },
    ),
]
