"""Container images come from the registries the program's own images and charts use, pinned by digest.

Images appear in registered inputs as ``image``/``imageName`` strings (a CNPG ImageCatalog's
``spec.images[].image``, a Cluster's ``spec.imageName``, a Pooler's container) and as Helm values
``{registry, repository, tag, digest|sha}`` under any key ending in ``image`` (``image``, ``sidecarImage``,
``thanosImage``). The charts' default images are not inputs (Helm renders a release on the cluster):
tests/policies/test_policy_images.py checks that every image of the rendered charts is allowed and pinned.
"""

from __future__ import annotations

import re
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
    "quay.io/thanos",  # the Prometheus operator's default Thanos sidecar image (--thanos-default-base-image)
    "quay.io/kiwigrid",  # Grafana's dashboard sidecar
    "registry.k8s.io",  # kube-state-metrics
    "docker.io/grafana",  # Grafana
    "mcr.microsoft.com",  # AKS and Azure Monitor components
)
DOCKER_HUB = "docker.io"
# A reference pinned by content: <repository>[:<tag>]@sha256:<hex>. A tag alone can be pushed again.
PINNED = re.compile(r"@sha256:[0-9a-f]{64}$")
# The Helm values that pin a chart's image by content: ``digest`` (cert-manager, ``sha256:<hex>``) and
# ``sha`` (kube-prometheus-stack and its subcharts, ``<hex>`` or ``sha256:<hex>``).
DIGEST_VALUE = re.compile(r"(sha256:)?[0-9a-f]{64}")


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


def unpinned(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, what) of every image a property tree names without a digest: an image string, or Helm
    image values that choose a repository or tag and neither a digest value nor a tag ending in one."""
    if isinstance(value, dict):
        for key, child in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in ("image", "imageName") and text(child):
                if not PINNED.search(child.strip()):
                    yield where, child.strip()
            elif str(key).lower().endswith("image") and isinstance(child, dict) and _chooses_image(child):
                if not _pinned_values(child):
                    repository = text(child.get("repository")) or "(the chart's repository)"
                    yield where, f"{repository}:{text(child.get('tag')) or '(the chart default tag)'}"
            else:
                yield from unpinned(child, where)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from unpinned(child, f"{path}[{index}]")


def _chooses_image(values: dict) -> bool:
    return bool(text(values.get("repository")) or text(values.get("tag")))


def _pinned_values(values: dict) -> bool:
    digest = text(values.get("digest")) or text(values.get("sha"))
    return bool(digest and DIGEST_VALUE.fullmatch(digest)) or bool(PINNED.search(text(values.get("tag")) or ""))


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


def _validate_pinned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not args.resource_type.startswith("kubernetes:"):
        return
    for where, image in unpinned(plain(args.props)):
        report_violation(
            f"{label(args.resource_type, args.name)}: {where} runs '{image}' without a digest, so the same tag can "
            "pull another build; pin it in settings/images.py (<tag>@sha256:<digest>, or the chart's digest value).",
            None,
        )


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
    resource_policy(
        "images-pinned-by-digest",
        "Container images are pinned by digest (@sha256:...), in resources and in Helm values alike.",
        _validate_pinned,
    ),
]
