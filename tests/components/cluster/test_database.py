from typing import Any

from offline.engine import Registration, StackRun, run_stack, stack_config
from settings.images import PGBOUNCER_IMAGE
from tests.components.helpers import pooler_certificate_names, prod_with_public_endpoint

CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
IMAGE_CATALOG = "kubernetes:postgresql.cnpg.io/v1:ImageCatalog"


def _spec(run: StackRun) -> dict[str, Any]:
    return run.one(CLUSTER, "database-cluster").inputs["spec"]


def test_namespace_and_basic_auth_secret(prod: StackRun) -> None:
    namespace = prod.one("kubernetes:core/v1:Namespace", "database-namespace")
    assert namespace.inputs["metadata"]["name"] == "cnpg-database"
    secret = prod.one("kubernetes:core/v1:Secret", "database-app-credentials")
    assert secret.inputs["type"] == "kubernetes.io/basic-auth"
    assert secret.inputs["stringData"]["username"] == "app"
    raw = secret.raw_inputs.fields["stringData"].struct_value.fields
    assert raw["4dabf18193072939515e22adb298388d"].string_value == "1b47061264138c4ac30d75fd1eb44270", "password must be secret"
    password = prod.one("random:index/randomPassword:RandomPassword", "database-app-password")
    assert password.urn in secret.property_dependencies["stringData"]


def test_object_store_points_at_the_backup_container(prod: StackRun) -> None:
    store = prod.one("kubernetes:barmancloud.cnpg.io/v1:ObjectStore").inputs
    assert store["metadata"] == {"name": "pg-primary-backups", "namespace": "cnpg-database"}
    config = store["spec"]["configuration"]
    assert config["destinationPath"] == prod.outputs["backupContainerUrl"] + "/gen-1"
    assert config["azureCredentials"] == {"inheritFromAzureAD": True}
    assert config["wal"]["compression"] and config["data"]["compression"]
    assert config["wal"]["maxParallel"] >= 2
    # A writable spool for barman-cloud-wal-restore (test_wal_restore_spool.py runs barman on it).
    assert config["wal"]["restoreAdditionalCommandArgs"] == ["--spool-dir=/controller/barman-walrestore"]
    assert store["spec"]["retentionPolicy"] == "30d"
    sidecar = store["spec"]["instanceSidecarConfiguration"]["resources"]
    assert sidecar["requests"] == sidecar["limits"], "the plugin sidecar must not break Guaranteed QoS"
    assert "serverName" not in config


def test_cluster_keeps_the_guides_properties_in_their_modern_form(prod: StackRun) -> None:
    spec = _spec(prod)
    assert spec["instances"] == 3
    assert spec["postgresql"]["synchronous"] == {
        "method": "any",
        "number": 1,
        "dataDurability": "required",
        "failoverQuorum": True,
    }
    assert "minSyncReplicas" not in spec and "maxSyncReplicas" not in spec
    assert spec["replicationSlots"]["highAvailability"]["enabled"] is True
    assert "startDelay" not in spec and "stopDelay" not in spec
    assert spec["smartShutdownTimeout"] < 1800
    assert spec["probes"]["startup"]["type"] == "streaming"
    assert "backup" not in spec  # no in-tree barmanObjectStore
    assert "monitoring" not in spec  # no deprecated enablePodMonitor
    # The image comes from the namespace's ImageCatalog, by major (imageName and imageCatalogRef exclude each other).
    assert "imageName" not in spec
    assert spec["imageCatalogRef"] == {
        "apiGroup": "postgresql.cnpg.io",
        "kind": "ImageCatalog",
        "name": "pg-primary-postgresql",
        "major": 18,
    }


def test_the_image_catalog_lists_the_pinned_image_before_the_cluster_exists(prod: StackRun) -> None:
    catalog = prod.one(IMAGE_CATALOG, "database-image-catalog")
    assert catalog.inputs["metadata"] == {"name": "pg-primary-postgresql", "namespace": "cnpg-database"}
    assert catalog.inputs["spec"] == {
        "images": [
            {
                "major": 18,
                "image": "ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-standard-trixie"
                "@sha256:771f9eab5225587af259d84680cc69a5b6e374ac32bb24effafde1f3368a1241",
            }
        ],
        # The poolers' PgBouncer, by key (tests/test_pinned_images.py).
        "componentImages": [{"key": "pgbouncer", "image": PGBOUNCER_IMAGE}],
    }
    assert catalog.parent == prod.one("aks-postgres-ha:components:PostgresCluster", "database").urn
    # After the object store, which waits for the namespace and the operators that install the CRD.
    assert prod.one("kubernetes:barmancloud.cnpg.io/v1:ObjectStore").urn in catalog.dependencies
    assert catalog.urn in prod.one(CLUSTER, "database-cluster").dependencies
    # Read back by the next deployment: during a major upgrade the catalog keeps this image for the old major.
    assert prod.outputs["postgresImage"] == catalog.inputs["spec"]["images"][0]["image"]


def test_cluster_placement_spreads_over_zones_on_the_postgres_pool(prod: StackRun) -> None:
    spec = _spec(prod)
    (spread,) = spec["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert spread["whenUnsatisfiable"] == "DoNotSchedule" and spread["nodeTaintsPolicy"] == "Honor"
    # initdb/join Job pods carry cnpg.io/cluster too: only instance pods may count for the spread.
    assert spread["labelSelector"] == {"matchLabels": {"cnpg.io/cluster": "pg-primary", "cnpg.io/podRole": "instance"}}
    assert spec["affinity"]["nodeSelector"] == {"workload": "postgres"}
    assert spec["affinity"]["tolerations"] == [
        {"key": "workload", "operator": "Equal", "value": "postgres", "effect": "NoSchedule"}
    ]


def test_guaranteed_qos_and_separate_volumes(shipped: StackRun) -> None:
    spec = _spec(shipped)
    assert spec["resources"]["requests"] == spec["resources"]["limits"]
    assert set(spec["resources"]["limits"]) == {"cpu", "memory"}
    assert spec["storage"]["storageClass"] == spec["walStorage"]["storageClass"] == "managed-csi-premium"
    sizes = {"dev": ("16Gi", "4Gi"), "prod": ("64Gi", "16Gi")}[shipped.stack]
    assert (spec["storage"]["size"], spec["walStorage"]["size"]) == sizes


def test_initdb_with_owner_secret_and_checksums(prod: StackRun) -> None:
    initdb = _spec(prod)["bootstrap"]["initdb"]
    assert initdb == {
        "database": "appdb",
        "owner": "app",
        "secret": {"name": "pg-primary-app-credentials"},
        "dataChecksums": True,
    }


def test_parameters_are_derived_from_the_pod_size(shipped: StackRun) -> None:
    parameters = _spec(shipped)["postgresql"]["parameters"]
    expected_buffers = {"dev": "1024MB", "prod": "2048MB"}[shipped.stack]
    assert parameters["shared_buffers"] == expected_buffers
    assert parameters["pg_stat_statements.track"] == "all"
    assert parameters["auto_explain.log_min_duration"] == "10s"
    assert parameters["max_connections"] == {"dev": "100", "prod": "200"}[shipped.stack]


def test_parameter_overrides_from_settings() -> None:
    from offline.engine import run_stack
    from tests.test_settings import _section

    run = run_stack(
        "dev",
        {
            "aks-postgres-ha:postgres": _section(
                "dev", "postgres", parameters={"work_mem": "6MB", "log_min_duration_statement": "1s"}
            )
        },
    )
    parameters = _spec(run)["postgresql"]["parameters"]
    assert (parameters["work_mem"], parameters["log_min_duration_statement"]) == ("6MB", "1s")


def test_pg_hba_requires_tls(shipped: StackRun) -> None:
    lines = _spec(shipped)["postgresql"]["pg_hba"]
    assert lines and all(line.split()[0] in ("hostssl", "hostnossl") for line in lines)
    assert all(line.split()[-1] == "scram-sha-256" for line in lines if line.startswith("hostssl"))
    assert all(line.split()[-1] == "reject" for line in lines if line.startswith("hostnossl"))


def test_certificate_names_the_public_fqdn(dev: StackRun, prod: StackRun) -> None:
    # Public endpoint (dev): its name, then the poolers' in-cluster names.
    assert _spec(dev)["certificates"]["serverAltDNSNames"] == [dev.outputs["publicFqdn"], *pooler_certificate_names()]
    # Internal endpoint (prod ships private): the private DNS names instead (the poolers' too), and no public name.
    private = ["pg-primary-rw.cnpg.internal", "pg-primary-ro.cnpg.internal"]
    poolers = ["pg-primary-pooler-rw.cnpg.internal", "pg-primary-pooler-ro.cnpg.internal", *pooler_certificate_names()]
    assert _spec(prod)["certificates"]["serverAltDNSNames"] == [*private, *poolers]
    # Both endpoints (prod with its public endpoint on): the private names and the public one.
    both = prod_with_public_endpoint()
    assert _spec(both)["certificates"]["serverAltDNSNames"] == [*private, both.outputs["publicFqdn"], *poolers]


def test_workload_identity_wiring(prod: StackRun) -> None:
    spec = _spec(prod)
    assert spec["inheritedMetadata"]["labels"] == {"azure.workload.identity/use": "true"}
    annotations = spec["serviceAccountTemplate"]["metadata"]["annotations"]
    assert annotations["azure.workload.identity/client-id"] == prod.outputs["workloadIdentityClientId"]
    assert "serviceAccountName" not in spec
    (plugin,) = spec["plugins"]
    assert plugin["name"] == "barman-cloud.cloudnative-pg.io" and plugin["isWALArchiver"] is True
    assert plugin["parameters"] == {"barmanObjectName": "pg-primary-backups", "serverName": "pg-primary"}


def test_cluster_waits_until_ready(prod: StackRun) -> None:
    cluster = prod.one(CLUSTER, "database-cluster")
    annotations = cluster.inputs["metadata"]["annotations"]
    assert annotations["pulumi.com/waitFor"] == "condition=Ready"
    assert int(annotations["pulumi.com/timeoutSeconds"]) >= 1800
    assert cluster.custom_timeouts[0] == "40m"


def _dependency_urns(run: StackRun, resource: Registration) -> set[str]:
    return set(resource.dependencies)


def test_cluster_starts_after_operators_identity_trust_and_storage(prod: StackRun) -> None:
    cluster = prod.one(CLUSTER, "database-cluster")
    needed = [
        prod.one("kubernetes:helm.sh/v3:Release", "operators-cnpg"),
        prod.one("kubernetes:helm.sh/v3:Release", "operators-barman-cloud"),
        prod.one("azure-native:managedidentity:FederatedIdentityCredential", "identities-fic-cnpg-database-pg-primary"),
        prod.one("azure-native:authorization:RoleAssignment", "backup-storage-writer"),
        prod.one("kubernetes:barmancloud.cnpg.io/v1:ObjectStore"),
        prod.one("kubernetes:core/v1:Secret", "database-app-credentials"),
    ]
    assert {r.urn for r in needed} <= _dependency_urns(prod, cluster)
    # operator and plugin -> role assignment and federated credential -> ObjectStore -> Cluster
    store = prod.one("kubernetes:barmancloud.cnpg.io/v1:ObjectStore")
    assert {r.urn for r in needed[:4]} <= set(store.dependencies)


def test_backup_sidecar_and_credential_mode_follow_the_settings(prod: StackRun) -> None:
    shipped = prod.one("kubernetes:barmancloud.cnpg.io/v1:ObjectStore").inputs["spec"]
    assert shipped["instanceSidecarConfiguration"]["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi"}
    backup = {**stack_config("dev")["aks-postgres-ha:backup"], "azureCredentials": "useDefaultAzureCredentials"}
    backup["sidecar"] = {"cpu": "750m", "memory": "1536Mi"}
    spec = (
        run_stack("dev", {"aks-postgres-ha:backup": backup}).one("kubernetes:barmancloud.cnpg.io/v1:ObjectStore").inputs["spec"]
    )
    resources = {"cpu": "750m", "memory": "1536Mi"}
    assert spec["instanceSidecarConfiguration"]["resources"] == {"requests": resources, "limits": resources}
    assert spec["configuration"]["azureCredentials"] == {"useDefaultAzureCredentials": True}
