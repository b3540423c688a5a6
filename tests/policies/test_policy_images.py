"""The allowed registries (one list, the pack's ``images-from-allowed-registries`` default) cover every
image the program and its charts actually run, in both shipped stacks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from offline.charts import render_releases
from offline.engine import StackRun
from offline.policy_client import PolicyPackSession

POLICY = "images-from-allowed-registries"
# Images the charts name in environment variables rather than in container specs.
IMAGE_ENVIRONMENT = ("SIDECAR_IMAGE",)


def _images(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            if (key == "image" or key in IMAGE_ENVIRONMENT) and isinstance(child, str):
                yield child
            else:
                yield from _images(child)
    elif isinstance(value, list):
        for child in value:
            yield from _images(child)


def test_every_chart_image_comes_from_an_allowed_registry(policy_pack: PolicyPackSession, shipped: StackRun) -> None:
    report = policy_pack.analyze(shipped.registrations, shipped.stack)
    assert not report.of_policy(POLICY), report.describe(report.of_policy(POLICY))
    allowed = report.policy(POLICY).config["allowedRegistries"]
    images = {image for items in render_releases(shipped).values() for item in items for image in _images(item.obj)}
    assert len(images) >= 12, sorted(images)  # operators, cert-manager, the monitoring stack
    outside = sorted(image for image in images if not any(image.startswith(f"{registry}/") for registry in allowed))
    assert not outside, f"images outside {allowed}: {outside}"
    # Every allowed registry is used by something the stacks run, or is AKS's own (mcr.microsoft.com).
    used = {registry for registry in allowed for image in images if image.startswith(f"{registry}/")}
    assert set(allowed) - used == {"mcr.microsoft.com"}, sorted(set(allowed) - used)
