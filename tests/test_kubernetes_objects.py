"""Every Kubernetes object the program emits is valid against the real schemas: core kinds
against the Kubernetes OpenAPI schema of the stack's minor version, custom resources against
the pinned CRDs (tests/fixtures/crds)."""

from __future__ import annotations

import pytest

from offline.engine import StackRun, run_stack
from offline.render import kubernetes_objects
from settings import parse_settings
from tests.k8s_schema import known_custom_kinds, validate_object
from tests.test_settings import P, _section


def _kubernetes_minor(run: StackRun) -> str:
    from offline.engine import stack_config

    settings = parse_settings({key.removeprefix(P): value for key, value in stack_config(run.stack).items()})
    return settings.aks.kubernetes_minor


def _problems(run: StackRun, minor: str) -> list[str]:
    return [problem for obj in kubernetes_objects(run) for problem in validate_object(obj, minor)]


def test_every_emitted_object_is_valid(shipped: StackRun) -> None:
    objects = kubernetes_objects(shipped)
    kinds = {(obj["apiVersion"], obj["kind"]) for obj in objects}
    assert ("postgresql.cnpg.io/v1", "Cluster") in kinds and ("v1", "Secret") in kinds
    assert _problems(shipped, _kubernetes_minor(shipped)) == []


def test_custom_resources_all_have_a_pinned_schema(shipped: StackRun) -> None:
    # Kubernetes' own API groups (core, *.k8s.io, the unsuffixed legacy groups) are built in; every other group comes from a CRD.
    custom = {
        (obj["apiVersion"], obj["kind"])
        for obj in kubernetes_objects(shipped)
        if "/" in obj["apiVersion"] and "." in (group := obj["apiVersion"].split("/")[0]) and not group.endswith(".k8s.io")
    }
    assert custom <= known_custom_kinds()


def test_restore_and_on_demand_backups_are_valid() -> None:
    run = run_stack(
        "prod",
        {
            P + "restore": {"enabled": True, "target": "backup", "backupId": "20261123T020000"},
            P + "backup": _section("prod", "backup", onDemand=["on-demand-backup-1"]),
        },
    )
    assert len(run.of_type("kubernetes:postgresql.cnpg.io/v1:Cluster")) == 2
    assert _problems(run, "1.35") == []


@pytest.mark.parametrize("minor", ["1.34", "1.36"])
def test_objects_stay_valid_across_supported_minors(prod: StackRun, minor: str) -> None:
    assert _problems(prod, minor) == []


def test_a_broken_manifest_is_caught(prod: StackRun) -> None:
    cluster = next(obj for obj in kubernetes_objects(prod) if obj["kind"] == "Cluster")
    broken = {**cluster, "spec": {**cluster["spec"], "instances": "three"}}
    assert validate_object(broken, "1.35")
