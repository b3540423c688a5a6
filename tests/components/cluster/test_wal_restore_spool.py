"""barman's own WAL restore, run on the arguments the Barman Cloud plugin builds from the program's
ObjectStores, against an archive holding both X and X.partial (what CNPG's demotion and every
promotion leave): plugin-barman-cloud #1113.

barman is the sidecar's (plugin v0.14.0 containers/sidecar-requirements.in: barman 3.19.1, pinned in
requirements-dev.txt). Only the object store is a fake (in memory, no network); argument parsing, the
listing, the spool and the exit code are barman's."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import barman.cloud_providers
import pytest
from barman import xlog
from barman.clients import cloud_walrestore
from barman.cloud import ALLOWED_COMPRESSIONS, CloudInterface, CloudWalDownloader

from offline.engine import StackRun, run_stack
from tests.test_dr_stack import _outputs

OBJECT_STORE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
WAL = "000000010000000000000007"
FULL_SEGMENT = b"full segment"
PARTIAL_SEGMENT = b"partial segment"
# barman-cloud-wal-restore's exit code for a spool it cannot create (barman/cloud.py
# _ensure_spool_dir_exists: sys.exit(2)); the plugin maps 2 to "connectivity failure ... retrying"
# (cloudnative-pg/barman-cloud pkg/restorer/restorer.go errorForExitCode), so PostgreSQL never gets X.
CONNECTIVITY_FAILURE = 2
# How the plugin names the credential of ObjectStore.spec.configuration.azureCredentials
# (cloudnative-pg/barman-cloud pkg/command/commandbuilder.go appendCloudProviderOptions).
AZURE_CREDENTIAL = {"inheritFromAzureAD": "managed-identity", "useDefaultAzureCredentials": "default"}


def plugin_wal_restore_args(configuration: dict[str, Any], server_name: str, wal: str, destination: str) -> list[str]:
    """barman-cloud-wal-restore's argv as plugin v0.14.0 builds it: cloudnative-pg/barman-cloud at
    950b0f57e122 (the plugin's go.mod pin), pkg/command/commandbuilder.go CloudWalRestoreOptions (cloud
    provider options, destinationPath, serverName, then wal.restoreAdditionalCommandArgs whose option
    is not already there) and pkg/restorer/restorer.go Restore (then the WAL name and destination)."""
    (credential,) = (AZURE_CREDENTIAL[mode] for mode, on in configuration["azureCredentials"].items() if on)
    options = ["--cloud-provider", "azure-blob-storage", "--credential", credential]
    options += [configuration["destinationPath"], server_name]
    for arg in configuration["wal"].get("restoreAdditionalCommandArgs", []):
        key = arg.split("=")[0]
        if key and key not in options and key not in {option.split("=")[0] for option in options}:
            options.append(arg)
    return [*options, wal, destination]


class InMemoryBlobContainer(CloudInterface):
    """The Azure container under an ObjectStore's destinationPath, as barman's listing and download use it."""

    MAX_ARCHIVE_SIZE = 1 << 40
    MIN_CHUNK_SIZE = 1 << 20
    MAX_CHUNKS_PER_FILE = 50000
    MAX_DELETE_BATCH_SIZE = 256

    def __init__(self, url: str, blobs: dict[str, bytes], **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        # https://<account>.blob.core.windows.net/<container>/<path>, as AzureCloudInterface splits it.
        self.bucket_name, _, self.path = urlparse(url).path.lstrip("/").partition("/")
        self.blobs = blobs

    def list_bucket(self, prefix: str = "", delimiter: str = "/") -> Iterator[str]:
        return iter(sorted(key for key in self.blobs if key.startswith(prefix)))

    def download_file(self, key: str, dest_path: str, decompress: str | None) -> None:
        Path(dest_path).write_bytes(self.blobs[key])

    def _unused(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a WAL restore only lists and downloads")

    _reinit_session = test_connectivity = _check_bucket_existence = _create_bucket = _unused
    check_object_existence = remote_open = upload_fileobj = create_multipart_upload = _unused
    _upload_part = _complete_multipart_upload = _abort_multipart_upload = _delete_objects_batch = _unused
    get_prefixes = delete_under_prefix = _unused


class SidecarFilesystem:
    """The plugin sidecar's filesystem under ``root``: read-only (plugin v0.14.0
    internal/cnpgi/operator/lifecycle.go ReadOnlyRootFilesystem) except the volumes the plugin
    mounts from the postgres container (injectPluginSidecarPodSpec), of which the WAL restore
    writes to CNPG's scratch-data emptyDir at /controller and pg_wal on pgdata."""

    WRITABLE = ("/controller", "/var/lib/postgresql/data")

    def __init__(self, root: Path) -> None:
        self.root = root

    def host(self, path: str) -> str:
        """Where a path of the sidecar is in this sandbox."""
        return str(self.root / path.lstrip("/"))

    def rebased(self, arg: str) -> str:
        """``arg`` with the sidecar path of a ``--spool-dir=`` option moved into the sandbox."""
        option, equals, path = arg.partition("=")
        return f"{option}={self.host(path)}" if option == "--spool-dir" and equals else arg

    def makedirs(self, real_makedirs: Any) -> Any:
        """os.makedirs as the sidecar sees it: EROFS outside the writable volumes. Needed because the
        tests may run as root, whom a chmod-ed directory does not stop."""
        writable = [self.host(mount) for mount in self.WRITABLE]

        def makedirs(name: Any, *args: Any, **kwargs: Any) -> None:
            path = os.path.abspath(name)
            if path.startswith(str(self.root)) and not any(path.startswith(mount + os.sep) for mount in writable):
                raise OSError(errno.EROFS, "Read-only file system", path)
            real_makedirs(name, *args, **kwargs)

        return makedirs


@pytest.fixture(scope="module")
def dr(prod: StackRun) -> StackRun:
    return run_stack("dr", referenced=_outputs(prod))


def _restore_sources(run: StackRun) -> list[tuple[str, dict[str, Any], str]]:
    """(store name, spec.configuration, serverName) of every externalClusters archive a Cluster restores from."""
    stores = {r.inputs["metadata"]["name"]: r.inputs["spec"]["configuration"] for r in run.of_type(OBJECT_STORE)}
    sources = []
    for cluster in run.of_type(CNPG_CLUSTER):
        for source in cluster.inputs["spec"].get("externalClusters", []):
            parameters = source["plugin"]["parameters"]
            store = parameters["barmanObjectName"]
            sources.append((store, stores[store], parameters["serverName"]))
    return sources


def _restore(
    configuration: dict[str, Any], server_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, Path, dict[str, Any]]:
    """barman-cloud-wal-restore of WAL from an archive holding WAL and WAL.partial, in a sandboxed sidecar:
    its exit code, the file PostgreSQL asked for, and what barman parsed."""
    sidecar = SidecarFilesystem(tmp_path / "sidecar")
    sidecar.root.mkdir(parents=True)
    for mount in sidecar.WRITABLE:
        Path(sidecar.host(mount)).mkdir(parents=True)
    # The default spool of the image, /var/tmp/walrestore, moved into the sandbox's read-only root:
    # barman's parser reads the default from this constant.
    monkeypatch.setattr(CloudWalDownloader, "DEFAULT_SPOOL_DIR", sidecar.host(CloudWalDownloader.DEFAULT_SPOOL_DIR))
    monkeypatch.setattr(os, "makedirs", sidecar.makedirs(os.makedirs))
    # barman-cloud-wal-archive names a compressed X.partial "X.partial.zst" (cloud_walarchive.py retrieve_wal_name).
    suffix = next(extension for extension, name in ALLOWED_COMPRESSIONS.items() if name == configuration["wal"]["compression"])
    folder = f"{urlparse(configuration['destinationPath']).path.split('/', 2)[2]}/{server_name}/wals/{xlog.hash_dir(WAL)}"
    blobs = {f"{folder}/{WAL}{suffix}": FULL_SEGMENT, f"{folder}/{WAL}.partial{suffix}": PARTIAL_SEGMENT}
    parsed: dict[str, Any] = {}

    def azure_interface(config: Any, kwargs: dict[str, Any]) -> InMemoryBlobContainer:
        parsed.update(vars(config))
        return InMemoryBlobContainer(blobs=blobs, **kwargs)

    monkeypatch.setattr(barman.cloud_providers, "_make_azure_cloud_interface", azure_interface)
    destination = Path(sidecar.host("/var/lib/postgresql/data/pgdata/pg_wal/RECOVERYXLOG"))
    destination.parent.mkdir(parents=True)
    argv = plugin_wal_restore_args(configuration, server_name, WAL, str(destination))
    try:
        cloud_walrestore.main([sidecar.rebased(arg) for arg in argv])
        code = 0
    except SystemExit as stopped:
        code = stopped.code if isinstance(stopped.code, int) else 1
    return code, destination, parsed


def test_every_object_store_is_restored_from(dr: StackRun) -> None:
    # The dr cluster lists its own archive and prod's: both ObjectStores a WAL restore reads.
    assert {store for store, _, _ in _restore_sources(dr)} == {r.inputs["metadata"]["name"] for r in dr.of_type(OBJECT_STORE)}


def test_wal_restore_across_a_switchover_delivers_the_full_segment(
    dr: StackRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = _restore_sources(dr)
    assert len(sources) == 2
    for index, (store, configuration, server_name) in enumerate(sources):
        with monkeypatch.context() as patch:
            code, destination, parsed = _restore(configuration, server_name, tmp_path / str(index), patch)
        assert code == 0, f"{store}: barman-cloud-wal-restore exited {code} (read-only spool, plugin-barman-cloud #1113)"
        assert parsed["azure_credential"] == "managed-identity" and parsed["wal_name"] == WAL
        # barman hands over the first name in listing order and spools the other as X: with zstd,
        # X.partial.zst sorts before X.zst, so PostgreSQL gets the partial segment first and, when
        # it asks for X again, the full one from the spool.
        spooled = Path(parsed["spool_dir"]) / WAL
        assert (destination.read_bytes(), spooled.read_bytes()) == (PARTIAL_SEGMENT, FULL_SEGMENT), store


def test_without_a_writable_spool_the_restore_is_retried_forever(
    prod: StackRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sandbox reproduces #1113: the same store without the spool argument fails as the sidecar does.
    configuration = prod.one(OBJECT_STORE).inputs["spec"]["configuration"]
    without_spool = {
        **configuration,
        "wal": {k: v for k, v in configuration["wal"].items() if k != "restoreAdditionalCommandArgs"},
    }
    code, destination, _ = _restore(without_spool, "pg-primary", tmp_path, monkeypatch)
    assert code == CONNECTIVITY_FAILURE
    assert not destination.exists()
