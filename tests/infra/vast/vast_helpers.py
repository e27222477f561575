"""Helpers of the VastFleet tests: keys, the market, labels, heartbeats, timing (their fixtures
are in conftest.py beside this file)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from infra.fleet.base import FleetError, VastSettings
from infra.fleet.vast import CallPolicy
from infra.worker.heartbeat import Heartbeat
from tests.fakes.fake_vast_server import FakeVastServer

VAST_KEY = "vastKeyZebTestDoNotPrint0123456789abcdef"
HF_TOKEN = "hf_vastFleetTestTokenDoNotPrint987654"
FAST = CallPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.05)
# Vast's documented limits at 1/100: the fake enforces them scaled, the client paces scaled.
PACE = 0.01
ENTRYPOINT = "/opt/zeb/entrypoint.sh"  # the worker image's ENTRYPOINT (infra/docker/Dockerfile)
MARKET = VastSettings(
    gpu_names=["RTX 3090", "RTX 4090", "RTX 3080"],
    disk_gb=24.0,
    max_dph_per_worker=0.40,
    max_dph_fleet=4.0,
    image="ghcr.io/zeb-ai/zeb-worker:test",
)


def ours(index: int, experiment: str = "a", role: str = "selfplay") -> str:
    return f"zeb-{experiment}-{role}-worker-vast-{index}"


def market(vast: FakeVastServer) -> dict[str, int]:
    """Three offers; at 24 GB of disk (0.1 $/GB/month) each costs base + $0.00333/h."""
    return {
        "3090": vast.add_offer(11, "RTX 3090", 0.20),
        "4090": vast.add_offer(12, "RTX 4090", 0.35),
        "3080": vast.add_offer(13, "RTX 3080", 0.18),
    }


def beat(label: str, batches: int, games_per_s: float) -> str:
    now = datetime.now(UTC)
    return Heartbeat(
        worker_id=label,
        pid=7,
        phase="playing",
        started_at=now,
        updated_at=now,
        batches=batches,
        games=batches * 128,
        games_per_s=games_per_s,
    ).line()


def timed(call):
    started = time.monotonic()
    try:
        return call(), time.monotonic() - started
    except FleetError as exc:
        return exc, time.monotonic() - started
