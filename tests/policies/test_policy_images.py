"""The allowed registries (one list, the pack's ``images-from-allowed-registries`` default) cover every
image the program and its charts actually run, in both shipped stacks; and every image is pinned by
digest: the program's own (``images-pinned-by-digest``) and those of the rendered charts, which the pack
does not see (this test), in prod, dev and dr."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from offline.charts import render_releases
from offline.engine import StackRun, run_stack
from offline.policy_client import EnforcementLevel, PolicyPackSession

from .baseline import IMAGE_CATALOG, compliant_stack, on_image_catalog
from .expectations import Analyze, only, passes

POLICY = "images-from-allowed-registries"


PINNED_POLICY = "images-pinned-by-digest"
# A registry-qualified image reference anywhere in a chart object: an ``image`` field, an argument
# (``--prometheus-config-reloader=<ref>``, ``--acme-http01-solver-image=<ref>``), an environment variable
# (``OPERATOR_IMAGE_NAME``) or ConfigMap data (``SIDECAR_IMAGE``). A tag or a digest is required, so host
# paths such as ``kubernetes.io/hostname`` are not taken for images.
REFERENCE = re.compile(r"(?:--[\w-]+=)?([a-z0-9.-]+\.[a-z]{2,}(?::[0-9]+)?/[a-z0-9._/-]+(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?)")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
RENDERED_STACKS = ("prod", "dev", "dr")
CLUSTER = "cluster"  # the baseline's CNPG Cluster
POSTGRES_BY_TAG = "ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-standard-trixie"


def _references(value: Any) -> Iterator[str]:
    """Every image reference in a chart object (see REFERENCE)."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "image" and isinstance(child, str):
                yield child
            else:
                yield from _references(child)
    elif isinstance(value, list):
        for child in value:
            yield from _references(child)
    elif isinstance(value, str):
        match = REFERENCE.fullmatch(value.strip())
        if match and (":" in match.group(1).rsplit("/", 1)[-1] or "@" in match.group(1)):
            yield match.group(1)


def test_every_chart_image_comes_from_an_allowed_registry(policy_pack: PolicyPackSession, shipped: StackRun) -> None:
    report = policy_pack.analyze(shipped.registrations, shipped.stack)
    assert not report.of_policy(POLICY), report.describe(report.of_policy(POLICY))
    allowed = report.policy(POLICY).config["allowedRegistries"]
    images = {image for items in render_releases(shipped).values() for item in items for image in _references(item.obj)}
    assert len(images) >= 12, sorted(images)  # operators, cert-manager, the monitoring stack
    outside = sorted(image for image in images if not any(image.startswith(f"{registry}/") for registry in allowed))
    assert not outside, f"images outside {allowed}: {outside}"
    # Every allowed registry is used by something the stacks run, or is AKS's own (mcr.microsoft.com).
    used = {registry for registry in allowed for image in images if image.startswith(f"{registry}/")}
    assert set(allowed) - used == {"mcr.microsoft.com"}, sorted(set(allowed) - used)


@pytest.fixture(scope="module", params=RENDERED_STACKS)
def rendered(request: pytest.FixtureRequest, stack_runs: dict[str, StackRun]) -> tuple[StackRun, set[str]]:
    run = stack_runs.get(request.param) or run_stack(request.param)
    references = {ref for items in render_releases(run).values() for item in items for ref in _references(item.obj)}
    return run, references


def test_the_program_registers_no_image_without_a_digest(
    policy_pack: PolicyPackSession, rendered: tuple[StackRun, set[str]]
) -> None:
    run, _ = rendered
    report = policy_pack.analyze(run.registrations, run.stack)
    assert report.policy(PINNED_POLICY).enforcement_level == EnforcementLevel.MANDATORY
    assert not report.of_policy(PINNED_POLICY), report.describe(report.of_policy(PINNED_POLICY))


def test_the_render_runs_no_image_without_a_digest(rendered: tuple[StackRun, set[str]]) -> None:
    # Helm renders a release on the cluster, so the pack never sees the charts' default images: this
    # covers them, in every chart object of the stack's releases.
    _, references = rendered
    # The operators, cert-manager's five images, the monitoring stack, the two image-valued arguments.
    assert len(references) >= 16, sorted(references)
    unpinned = sorted(reference for reference in references if not DIGEST.search(reference))
    assert unpinned == [], unpinned


def test_a_postgresql_image_by_tag_alone_is_refused(analyze: Analyze) -> None:
    # A build-timestamped tag satisfies cnpg-pinned-image, but the tag can still be pushed again.
    stack = compliant_stack().with_value(CLUSTER, "spec.imageName", POSTGRES_BY_TAG)
    message = only(analyze(stack), PINNED_POLICY, stack.urn(CLUSTER)).message
    assert f"spec.imageName runs '{POSTGRES_BY_TAG}' without a digest" in message, message


def test_a_postgresql_image_by_digest_passes(analyze: Analyze) -> None:
    stack = compliant_stack().with_value(CLUSTER, "spec.imageName", f"{POSTGRES_BY_TAG}@sha256:{'7' * 64}")
    passes(analyze(stack), PINNED_POLICY)


def test_an_image_catalog_entry_by_tag_alone_is_refused(analyze: Analyze) -> None:
    # The Cluster names no image when it takes it from its ImageCatalog: the catalog's entries need the digest.
    stack = on_image_catalog(compliant_stack(), POSTGRES_BY_TAG)
    message = only(analyze(stack), PINNED_POLICY, stack.urn(IMAGE_CATALOG)).message
    assert f"spec.images[0].image runs '{POSTGRES_BY_TAG}' without a digest" in message, message
    passes(analyze(on_image_catalog(compliant_stack(), f"{POSTGRES_BY_TAG}@sha256:{'7' * 64}")), PINNED_POLICY)
