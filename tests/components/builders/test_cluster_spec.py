"""The Cluster's probes, failover timing and operator images, as registered."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.builders.cluster_spec import MIN_STARTUP_WINDOW_SECONDS, distributed_topology, startup_window_seconds
from offline.engine import StackRun
from settings import quantity_bytes

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def _spec(run: StackRun) -> dict[str, Any]:
    return run.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster").inputs["spec"]


def _release(run: StackRun, chart: str) -> dict[str, Any]:
    (release,) = [r.inputs for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == chart]
    return release


def test_readiness_tolerates_write_bursts(shipped: StackRun) -> None:
    readiness = _spec(shipped)["probes"]["readiness"]

    assert readiness["type"] == "streaming"
    assert quantity_bytes(readiness["maximumLag"]) >= 64 * 2**20
    # 64Mi for 30 x 10 s (CNPG's documented example) before a lagging replica turns unready.
    assert readiness["failureThreshold"] * readiness["periodSeconds"] >= 300


def test_startup_window_covers_crash_recovery_and_catch_up(shipped: StackRun) -> None:
    spec = _spec(shipped)
    startup = spec["probes"]["startup"]
    window = startup["failureThreshold"] * startup["periodSeconds"]

    # An explicit failureThreshold replaces CNPG's startDelay (3600 s), so the window is ours to size.
    assert window >= MIN_STARTUP_WINDOW_SECONDS == 1800
    assert window >= startup_window_seconds(spec["postgresql"]["parameters"])
    assert "startDelay" not in spec


@pytest.mark.parametrize(("max_wal_size", "seconds"), [("1024MB", 1800), ("4096MB", 2048), ("16GB", 8192)])
def test_startup_window_grows_with_max_wal_size(max_wal_size: str, seconds: int) -> None:
    # Twice max_wal_size (crash recovery, then catching up) at 4 MiB/s, never below 30 minutes.
    assert startup_window_seconds({"max_wal_size": max_wal_size}) == seconds


def test_max_wal_size_fits_the_wal_volume(shipped: StackRun) -> None:
    spec = _spec(shipped)
    max_wal_mib = int(spec["postgresql"]["parameters"]["max_wal_size"].removesuffix("MB"))

    assert max_wal_mib * 2**20 * 4 <= quantity_bytes(spec["walStorage"]["size"])


def test_operators_run_the_pg_rewind_fix(shipped: StackRun) -> None:
    cnpg = _release(shipped, "cloudnative-pg")
    plugin = _release(shipped, "plugin-barman-cloud")

    # The charts have no digest value: the tag carries it (settings/images.py).
    assert cnpg["version"] == "0.29.0"
    assert re.fullmatch(r"1\.30\.1@sha256:[0-9a-f]{64}", cnpg["values"]["image"]["tag"])
    assert plugin["version"] == "0.7.0"
    assert re.fullmatch(r"v0\.14\.0@sha256:[0-9a-f]{64}", plugin["values"]["image"]["tag"])
    assert plugin["values"]["sidecarImage"]["tag"].startswith("v0.14.0@sha256:")
    assert _release(shipped, "cert-manager")["version"] == "v1.21.1"


def test_distributed_topology_names_itself_the_peer_and_the_primary() -> None:
    # CNPG replica_cluster.md: the primary's stanza names the peer as source; the replica's too.
    assert distributed_topology("prod", "dr", "prod", None) == {"self": "prod", "primary": "prod", "source": "dr"}
    assert distributed_topology("dr", "prod", "prod", None) == {"self": "dr", "primary": "prod", "source": "prod"}
    promoted = distributed_topology("dr", "prod", "dr", "dG9rZW4=")
    assert promoted == {"self": "dr", "primary": "dr", "source": "prod", "promotionToken": "dG9rZW4="}
