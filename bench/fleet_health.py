"""What one health pass costs with a Vast fleet of N workers: wall time and API calls.

The real `vastai` SDK talks to the fake Vast API (tests/fakes/fake_vast_server.py) on 127.0.0.1,
with every worker running and logging heartbeats, so the figures count zeb's own work and its
requests, not Vast's latency: multiply the calls by the real API's round trip (and its log
fetches by the SDK's wait for a log file) for a production estimate.

    python bench/fleet_health.py [--workers 12] [--passes 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.experiment import Experiment  # noqa: E402
from infra.fleet.base import FleetSpec, VastSettings  # noqa: E402
from infra.fleet.health import health_pass  # noqa: E402
from infra.fleet.memory import FleetPaths, FleetStore  # noqa: E402
from infra.fleet.vast import VastFleet  # noqa: E402
from infra.hub.local import LocalHub  # noqa: E402
from infra.settings import Settings  # noqa: E402
from infra.worker.heartbeat import Heartbeat  # noqa: E402
from tests.fakes.fake_vast_server import FakeVastServer  # noqa: E402

KEY = "bench-vast-key"


def heartbeat_log(label: str, batches: int) -> str:
    now = datetime.now(UTC)
    beat = Heartbeat(
        worker_id=label,
        pid=1,
        phase="playing",
        started_at=now,
        updated_at=now,
        batches=batches,
        games=128 * batches,
        games_per_s=1.5,
        last_batch_at=now,
    )
    return "\n".join(["starting", *(f"batch {i}" for i in range(50)), beat.line()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=12, help="running workers in the fleet")
    parser.add_argument("--passes", type=int, default=5, help="health passes to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeVastServer(api_key=KEY) as vast:
        settings = Settings(
            home=Path(tmp),
            hub="hf",
            hf_weights_repo="a/w",
            hf_examples_repo="a/e",
            hf_token="hf_x",
            vast_api_key=KEY,
            vast_url=vast.url,
        )
        spec = FleetSpec(
            experiment="bench",
            role="selfplay",
            provider="vast",
            target=args.workers,
            vast=VastSettings(max_dph_fleet=100),
        )
        ids = [vast.add_instance(str(spec.label(i)), dph_total=0.25) for i in range(args.workers)]
        store = FleetStore(FleetPaths(Path(tmp), "bench", "selfplay"))
        experiment = Experiment(LocalHub(Path(tmp) / "hub"), "bench")
        fleet = VastFleet(spec, experiment, store, settings)
        seconds, calls = [], []
        for n in range(args.passes):
            for i, instance in enumerate(ids):
                vast.set_logs(instance, heartbeat_log(str(spec.label(i)), n + 1))
            before = len(vast.requests)
            start = time.perf_counter()
            report = health_pass(fleet, store)
            seconds.append(time.perf_counter() - start)
            calls.append(len(vast.requests) - before)
            assert report.healthy and not report.actions, report.to_json_dict()
        by_kind: dict[str, int] = {}
        for method, path in vast.requests[-calls[-1] :]:
            route = path.split("?")[0]
            route = "/logs/<file>" if route.startswith("/logs/") else route.rstrip("0123456789/")
            kind = f"{method} {route}"
            by_kind[kind] = by_kind.get(kind, 0) + 1
    result = {
        "workers": args.workers,
        "passes": args.passes,
        "pass_seconds_median": sorted(seconds)[len(seconds) // 2],
        "pass_seconds_max": max(seconds),
        "api_calls_per_pass": calls[-1],
        "api_calls_by_kind": by_kind,
        "note": "fake Vast API on loopback: real passes add the API's latency per call",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
