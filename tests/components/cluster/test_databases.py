"""DatabasesAndRoles under the recording engine: two clusters in one namespace, each with its login roles'
password Secrets before its Cluster and its Database objects after it, and secret connection URIs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from offline.engine import Registration, StackRun, run_stack
from offline.render import REDACTED, kubernetes_objects, redacted_inputs
from tests.components.helpers import children, depends_on
from tests.k8s_schema import validate_object

PROGRAM = textwrap.dedent(
    """
    import pulumi
    import pulumi_kubernetes as k8s

    from components.builders.cluster_spec import ClusterRef
    from components.cluster.databases import DatabasesAndRoles, DatabasesAndRolesArgs
    from settings.databases import DatabaseSettings, RoleSettings

    provider = k8s.Provider("k8s", kubeconfig="{}")
    namespace = k8s.core.v1.Namespace(
        "namespace", metadata={"name": "cnpg-database"}, opts=pulumi.ResourceOptions(provider=provider)
    )
    roles = {
        "owner": RoleSettings(login=False),
        "app_rw": RoleSettings.model_validate({"memberOf": ["owner"]}),
        "reporting": RoleSettings.model_validate({"memberOf": ["pg_read_all_data"], "connectionLimit": 5}),
    }
    databases = {
        "sales": DatabaseSettings.model_validate({"owner": "owner", "extensions": ["citext"], "schemas": ["eu"]}),
        "audit_log": DatabaseSettings.model_validate({"owner": "app", "reclaimPolicy": "delete"}),
    }
    for cluster_name in ("pg-orders", "pg-billing"):
        declared = DatabasesAndRoles(
            f"{cluster_name}-databases",
            DatabasesAndRolesArgs(
                provider=provider,
                namespace="cnpg-database",
                cluster_name=cluster_name,
                databases=databases,
                roles=roles,
                secrets_depend_on=[namespace],
            ),
        )
        cluster = k8s.apiextensions.CustomResource(
            f"{cluster_name}-cluster",
            api_version="postgresql.cnpg.io/v1",
            kind="Cluster",
            metadata={"name": cluster_name, "namespace": "cnpg-database"},
            spec={"instances": 3, "storage": {"size": "1Gi"}, "managed": {"roles": declared.managed_roles()}},
            opts=pulumi.ResourceOptions(provider=provider, depends_on=declared.secrets),
        )
        declared.declare_databases(ClusterRef(provider, "cnpg-database", cluster_name, cluster))
        for key, uri in declared.connection_uris(f"{cluster_name}-rw.cnpg-database.svc", 5432).items():
            pulumi.export(f"{cluster_name}/{key}", uri)
    """
)
SECRET = "kubernetes:core/v1:Secret"
DATABASE = "kubernetes:postgresql.cnpg.io/v1:Database"
PASSWORD = "random:index/randomPassword:RandomPassword"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> StackRun:
    program = Path(tmp_path_factory.mktemp("databases")) / "__main__.py"
    program.write_text(PROGRAM)
    return run_stack("dev", program=program)


def _by_name(registrations: list[Registration]) -> dict[str, Registration]:
    return {registration.name: registration for registration in registrations}


def test_a_password_secret_per_login_role(run: StackRun) -> None:
    registered = _by_name(children(run, "pg-orders-databases"))
    passwords = {name: r for name, r in registered.items() if r.type == PASSWORD}
    secrets = {name: r for name, r in registered.items() if r.type == SECRET}
    # The group role "owner" logs in with no password: it gets none.
    assert set(passwords) == {"pg-orders-databases-role-app_rw-password", "pg-orders-databases-role-reporting-password"}
    assert all(r.inputs["length"] == 32 and r.inputs["special"] is False for r in passwords.values())
    assert set(secrets) == {"pg-orders-databases-role-app_rw", "pg-orders-databases-role-reporting"}
    secret = secrets["pg-orders-databases-role-app_rw"]
    assert secret.inputs["metadata"] == {
        "name": "pg-orders-role-app-rw",
        "namespace": "cnpg-database",
        "labels": {"cnpg.io/reload": "true"},
    }
    assert secret.inputs["type"] == "kubernetes.io/basic-auth"
    assert secret.inputs["stringData"]["username"] == "app_rw"
    # The password travels as a secret: the engine's copy of the inputs has it marked.
    assert redacted_inputs(secret)["stringData"]["password"] == REDACTED
    assert depends_on(run, secret, run.one("kubernetes:core/v1:Namespace"))


def test_the_cluster_names_the_secrets_and_waits_for_them(run: StackRun) -> None:
    cluster = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "pg-orders-cluster")
    roles = {role["name"]: role for role in cluster.inputs["spec"]["managed"]["roles"]}
    assert set(roles) == {"app_rw", "owner", "reporting"}
    assert roles["app_rw"]["passwordSecret"] == {"name": "pg-orders-role-app-rw"}
    assert roles["app_rw"]["inRoles"] == ["owner"]
    assert "passwordSecret" not in roles["owner"]
    for secret in (r for r in children(run, "pg-orders-databases") if r.type == SECRET):
        assert depends_on(run, cluster, secret)


def test_databases_after_the_cluster(run: StackRun) -> None:
    cluster = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "pg-orders-cluster")
    databases = _by_name([r for r in children(run, "pg-orders-databases") if r.type == DATABASE])
    assert set(databases) == {"pg-orders-databases-database-sales", "pg-orders-databases-database-audit_log"}
    sales = databases["pg-orders-databases-database-sales"]
    assert depends_on(run, sales, cluster)
    assert sales.inputs["metadata"]["name"] == "pg-orders-sales"
    assert sales.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "jsonpath={.status.applied}=true"
    assert sales.inputs["spec"]["cluster"] == {"name": "pg-orders"}
    assert sales.inputs["spec"]["extensions"] == [{"name": "citext", "ensure": "present"}]
    assert set(sales.replace_on_changes) == {"spec.cluster", "spec.name"}
    audit = databases["pg-orders-databases-database-audit_log"]
    assert audit.inputs["metadata"]["name"] == "pg-orders-audit-log"
    assert audit.inputs["spec"]["databaseReclaimPolicy"] == "delete"


def test_two_clusters_do_not_collide(run: StackRun) -> None:
    names = [(r.type, r.name) for r in run.registrations]
    assert len(names) == len(set(names))
    objects = [
        (o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])
        for o in kubernetes_objects(run)
        if o["kind"] != "Namespace"
    ]
    assert len(objects) == len(set(objects)) == 2 * (2 + 2 + 1)  # per cluster: 2 Secrets, 2 Databases, the Cluster


def test_every_object_fits_its_schema(run: StackRun) -> None:
    assert [problem for obj in kubernetes_objects(run) for problem in validate_object(obj, "1.35")] == []


def test_connection_uris_are_secrets_for_every_login_role_and_database(run: StackRun) -> None:
    orders = {key: value for key, value in run.outputs.items() if key.startswith("pg-orders/")}
    assert set(orders) == {
        "pg-orders/app_rw@sales",
        "pg-orders/app_rw@audit_log",
        "pg-orders/reporting@sales",
        "pg-orders/reporting@audit_log",
    }
    assert set(run.outputs) <= run.secret_outputs
    password = run.one(SECRET, "pg-orders-databases-role-reporting").inputs["stringData"]["password"]
    assert len(password) == 32
    assert orders["pg-orders/reporting@sales"] == (
        f"postgresql://reporting:{password}@pg-orders-rw.cnpg-database.svc:5432/sales?sslmode=verify-full"
    )
