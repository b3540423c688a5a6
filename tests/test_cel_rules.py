"""The CRDs' CEL rules (tests/cel_rules.py), applied by validate_object and to every custom resource the stacks render."""

from __future__ import annotations

from typing import Any

import pytest

from offline.engine import StackRun, run_stack
from offline.render import kubernetes_objects
from tests.cel_rules import CelRules, UnsupportedCelRuleError
from tests.k8s_schema import _custom_resource_definitions, cel_rule_outcomes, crd_schemas, validate_object
from tests.test_k8s_schema import CLUSTER, KUBERNETES_VERSION, cnpg_cluster, object_store
from tests.test_settings import P

OBJECT_STORE = "barmancloud.cnpg.io/v1 ObjectStore cnpg-database/backups"
WIDGET = "example.com/v1 Widget default/w"

# No CEL rule reads the recovery target, so two restore runs (one per stack) cover the recovery Cluster.
RESTORE_TARGETS = {"latest": {"target": "latest"}, "backup": {"target": "backup", "backupId": "20261123T020000"}}

# The create-time rules every rendered Cluster and ObjectStore must be checked against.
RENDERED_RULES = {
    ("Cluster", "spec", "!(has(self.imageCatalogRef) && has(self.imageName))"),
    ("Cluster", "spec.postgresql.synchronous.number", "self > 0"),
    ("ObjectStore", "spec.configuration.serverName", "!has(self.serverName)"),
}


def widget_crd(spec_schema: dict[str, Any]) -> dict[str, Any]:
    """A CustomResourceDefinition of a namespaced example.com/v1 Widget whose spec has ``spec_schema``."""
    schema = {"type": "object", "properties": {"spec": spec_schema}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}],
        },
    }


def widget_problems(spec_schema: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}, "spec": spec}
    return validate_object(widget, KUBERNETES_VERSION, crd_schemas([widget_crd(spec_schema)]))


def test_synchronous_standby_number_must_be_positive() -> None:
    cluster = cnpg_cluster()
    cluster["spec"]["postgresql"]["synchronous"]["number"] = 0  # the schema has no minimum: only the CEL rule refuses it

    assert validate_object(cluster, KUBERNETES_VERSION) == [
        f"{CLUSTER}: spec.postgresql.synchronous.number: The number of synchronous replicas should be greater than zero "
        "(rule: self > 0)"
    ]


def test_image_name_and_image_catalog_are_mutually_exclusive() -> None:
    cluster = cnpg_cluster()
    cluster["spec"]["imageName"] = "ghcr.io/cloudnative-pg/postgresql:18.1-standard-trixie"
    assert validate_object(cluster, KUBERNETES_VERSION) == []
    catalog = {"apiGroup": "postgresql.cnpg.io", "kind": "ClusterImageCatalog", "name": "postgresql", "major": 18}
    cluster["spec"]["imageCatalogRef"] = catalog

    assert validate_object(cluster, KUBERNETES_VERSION) == [
        f"{CLUSTER}: spec: imageName and imageCatalogRef are mutually exclusive "
        "(rule: !(has(self.imageCatalogRef) && has(self.imageName)))"
    ]
    del cluster["spec"]["imageName"]
    assert validate_object(cluster, KUBERNETES_VERSION) == []


def test_a_rule_that_reads_an_absent_field_fails_like_on_the_api_server() -> None:
    cluster = cnpg_cluster()
    synchronous = cluster["spec"]["postgresql"]["synchronous"]
    synchronous["standbyNamesPre"] = ["replica-site-b"]
    synchronous["dataDurability"] = "required"
    assert validate_object(cluster, KUBERNETES_VERSION) == []
    synchronous["dataDurability"] = "preferred"
    assert [problem.split(": ", 2)[2] for problem in validate_object(cluster, KUBERNETES_VERSION)] == [
        "dataDurability set to 'preferred' requires empty 'standbyNamesPre' and empty 'standbyNamesPost' "
        "(rule: self.dataDurability!='preferred' || ((!has(self.standbyNamesPre) || self.standbyNamesPre.size()==0) "
        "&& (!has(self.standbyNamesPost) || self.standbyNamesPost.size()==0)))"
    ]

    del synchronous["dataDurability"]  # no default: the API server's CEL reports "no such key" and refuses the Cluster

    (problem,) = validate_object(cluster, KUBERNETES_VERSION)
    assert problem.startswith(f"{CLUSTER}: spec.postgresql.synchronous: the rule could not be evaluated: ")
    assert "'dataDurability'" in problem


def test_object_store_rules_report_at_their_field_path() -> None:
    store = object_store()
    store["spec"]["configuration"]["serverName"] = "pg"
    store["spec"]["instanceSidecarConfiguration"] = {"additionalContainerArgs": ["--log-level=debug"]}

    assert validate_object(store, KUBERNETES_VERSION) == [
        f"{OBJECT_STORE}: spec.configuration.serverName: use the 'serverName' plugin parameter in the Cluster resource "
        "(rule: !has(self.serverName))",
        f"{OBJECT_STORE}: spec.instanceSidecarConfiguration.additionalContainerArgs: do not set --log-level in "
        "additionalContainerArgs; use spec.instanceSidecarConfiguration.logLevel "
        "(rule: !self.exists(a, a.startsWith('--log-level')))",
    ]


def test_item_rules_apply_to_each_list_item() -> None:
    database = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Database",
        "metadata": {"name": "app", "namespace": "cnpg-database"},
        "spec": {
            "cluster": {"name": "cluster-example"},
            "name": "app",
            "owner": "app",
            "servers": [{"name": "remote", "fdw": "postgres_fdw"}, {"name": "other", "fdw": ""}],
        },
    }

    assert validate_object(database, KUBERNETES_VERSION) == [
        "postgresql.cnpg.io/v1 Database cnpg-database/app: spec.servers[1].fdw: fdw is required (rule: self != '')"
    ]


def test_item_rules_apply_to_each_map_value() -> None:
    schema = {
        "type": "object",
        "properties": {
            "labels": {
                "type": "object",
                "additionalProperties": {"type": "string", "x-kubernetes-validations": [{"rule": "self != ''"}]},
            }
        },
    }

    assert widget_problems(schema, {"labels": {"team": "db", "tier": ""}}) == [
        f"{WIDGET}: spec.labels.tier: failed rule: self != '' (rule: self != '')"
    ]


def test_rules_see_the_defaults_the_api_server_applies() -> None:
    schema = {
        "type": "object",
        "properties": {"mode": {"type": "string", "default": "quorum"}, "number": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.mode == 'quorum' || !has(self.number)", "message": "number needs quorum"}],
    }
    assert widget_problems(schema, {"number": 1}) == []

    assert widget_problems(schema, {"number": 1, "mode": "priority"}) == [
        f"{WIDGET}: spec: number needs quorum (rule: self.mode == 'quorum' || !has(self.number))"
    ]


@pytest.mark.parametrize(
    ("message_expression", "expected"),
    [
        ("'ratio ' + string(self.ratio) + ' is too high'", "ratio 2.0 is too high"),
        ("''", "ratio must be at most 1"),  # a blank message falls back to message
        ("self.missing", "ratio must be at most 1"),  # so does one that cannot be evaluated
    ],
)
def test_message_expression_is_preferred_to_message(message_expression: str, expected: str) -> None:
    schema = {
        "type": "object",
        "properties": {"ratio": {"type": "number"}},
        "x-kubernetes-validations": [
            {"rule": "self.ratio <= 1.0", "message": "ratio must be at most 1", "messageExpression": message_expression}
        ],
    }
    assert widget_problems(schema, {"ratio": 0.5}) == []

    assert widget_problems(schema, {"ratio": 2.0}) == [f"{WIDGET}: spec: {expected} (rule: self.ratio <= 1.0)"]


def test_integral_numbers_stay_doubles() -> None:
    # Pulumi sends 1.0, the harness turns it into 1, and the API server's CEL still compares a double with a double.
    schema = {
        "type": "object",
        "properties": {"ratio": {"type": "number"}},
        "x-kubernetes-validations": [{"rule": "self.ratio > 0.5"}],
    }
    assert widget_problems(schema, {"ratio": 1.0}) == []

    assert widget_problems(schema, {"ratio": 0.25}) == [f"{WIDGET}: spec: failed rule: self.ratio > 0.5 (rule: self.ratio > 0.5)"]


def test_a_rule_must_give_a_bool() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "x-kubernetes-validations": [{"rule": "self.name"}]}

    assert widget_problems(schema, {"name": "w"}) == [
        f"{WIDGET}: spec: the rule gave StringType('w'), not a bool (rule: self.name)"
    ]


def test_transition_rules_are_skipped() -> None:
    schema = {"type": "object", "x-kubernetes-validations": [{"rule": "self == oldSelf"}, {"rule": "has(self.name)"}]}

    rules = CelRules(schema, "Widget")

    assert rules.transition_rules == ["(root): self == oldSelf"]
    assert [outcome.rule for outcome in rules.evaluate({"name": "w"})] == ["has(self.name)"]


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        ({"rule": "isURL(self.endpoint)"}, "calls isURL, which cel-python lacks"),
        ({"rule": "self.endpoint.find('[a-z]+') != ''"}, "calls find, which cel-python lacks"),
        ({"rule": "self.endpoint >"}, "cel-python cannot parse"),
        ({"rule": "has(self.endpoint)", "messageExpression": "quantity(self.size)"}, "calls quantity"),
        ({"rule": "has(self.endpoint)", "fieldPath": "endpoint"}, "fieldPath 'endpoint' is not a chain"),
        ({"rule": "self == oldSelf", "optionalOldSelf": True}, "optionalOldSelf, which also applies to creates"),
    ],
)
def test_rules_that_cannot_be_evaluated_faithfully_are_refused_when_the_crd_is_loaded(rule: dict[str, Any], error: str) -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-validations": [rule]}}}

    with pytest.raises(UnsupportedCelRuleError, match=f"^Widget: spec: .*{error}"):
        CelRules(schema, "Widget")


def test_the_fixture_crds_skip_only_immutability_rules() -> None:
    skipped = {
        rule.split(": ", 1)[1] for crd in _custom_resource_definitions().values() for rule in crd.cel_rules.transition_rules
    }

    assert skipped == {"self == oldSelf", "oldSelf == self"}


def _rendered_rules(run: StackRun) -> set[tuple[str, str, str]]:
    rules = set()
    for obj in kubernetes_objects(run):
        for outcome in cel_rule_outcomes(obj):
            assert outcome.failure is None, (obj["kind"], obj["metadata"]["name"], outcome)
            rules.add((obj["kind"], ".".join(str(part) for part in outcome.path), outcome.rule))
    return rules


def test_every_rendered_custom_resource_passes_its_cel_rules(shipped: StackRun) -> None:
    assert _rendered_rules(shipped) >= RENDERED_RULES


@pytest.mark.parametrize(("stack", "target"), [("dev", "latest"), ("prod", "backup")])
def test_restore_renders_pass_their_cel_rules(stack: str, target: str) -> None:
    run = run_stack(stack, {P + "restore": {"enabled": True, "clusterName": "pg-restored", **RESTORE_TARGETS[target]}})
    clusters = [obj for obj in kubernetes_objects(run) if obj["kind"] == "Cluster"]
    assert len(clusters) == 2

    assert _rendered_rules(run) >= RENDERED_RULES
    assert all(any(outcome.rule == "self > 0" for outcome in cel_rule_outcomes(cluster)) for cluster in clusters)
