"""What `up`, `status`, a health pass and `down` of a Vast fleet cost at Vast's own pace: seconds
and API calls, against the fake Vast API that enforces the documented limits at full scale
(create 4.5 s and a 12 s penalty, destroy 3 s, label and listing 1 s, 10 searches a minute), with
other instances on the account (the listing pages by 25).

    python bench/vast_fleet.py [--workers 6] [--others 20]

The fake answers on loopback, so the seconds are the pacing's (and zeb's own work), not Vast's
latency; the last line is one JSON object, with every documented limit the run tripped (none
expected) and the requests the fake refused as the docs would.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.experiment import Experiment  # noqa: E402
from infra.fleet.base import FleetSpec, VastSettings  # noqa: E402
from infra.fleet.health import health_pass  # noqa: E402
from infra.fleet.memory import FleetPaths, FleetStore  # noqa: E402
from infra.fleet.vast import VastFleet  # noqa: E402
from infra.hub.local import LocalHub  # noqa: E402
from infra.settings import Settings  # noqa: E402
from tests.fakes.fake_vast_server import FakeVastServer  # noqa: E402

KEY = "bench-vast-key"
IMAGE = "ghcr.io/bench/zeb-worker:1"
GPUS = ("RTX 3090", "RTX 4090", "RTX 3080")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=6, help="workers to bring up and down")
    parser.add_argument("--others", type=int, default=20, help="other instances on the account")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeVastServer(api_key=KEY) as vast:
        vast.register_image(IMAGE, entrypoint=["/opt/zeb/entrypoint.sh"], cmd=[])
        for machine in range(args.workers + 4):
            vast.add_offer(100 + machine, GPUS[machine % 3], 0.15 + 0.01 * machine)
        for i in range(args.others):
            vast.add_instance(f"someone-else-{i}")
        fleet = _fleet(vast, Path(tmp), args.workers)
        phases = {
            "up": lambda: fleet.up(args.workers),
            "status": fleet.status,
            "health_pass": lambda: health_pass(fleet, fleet.store),
            "down": fleet.down,
        }
        seconds, calls = {}, {}
        for name, run in phases.items():
            before, start = dict(fleet.calls), time.perf_counter()
            run()
            seconds[name] = round(time.perf_counter() - start, 2)
            calls[name] = {k: v - before.get(k, 0) for k, v in fleet.calls.items()}
            calls[name] = {k: v for k, v in calls[name].items() if v}
        left = [r for r in vast.instances.values() if str(r.get("label")).startswith("zeb-")]
    result = {
        "workers": args.workers,
        "other_instances": args.others,
        "seconds": seconds,
        "calls": calls,
        "waited_for_the_pace_s": round(fleet.api.pacer.waited_s, 1),
        "rate_limit_trips": len(vast.rate_limited),
        "refusals_seen": fleet.api.refusals,
        "violations": vast.violations,
        "left_billing": len(left),
    }
    print(json.dumps(result))


def _fleet(vast: FakeVastServer, home: Path, workers: int) -> VastFleet:
    settings = Settings(
        home=home,
        hub="hf",
        hf_weights_repo="a/w",
        hf_examples_repo="a/e",
        hf_token="hf_benchToken",
        vast_api_key=KEY,
        vast_url=vast.url,
    )
    vast_settings = VastSettings(gpu_names=list(GPUS), image=IMAGE, max_dph_fleet=100)
    spec = FleetSpec(
        experiment="bench", role="selfplay", provider="vast", target=workers, vast=vast_settings
    )
    store = FleetStore(FleetPaths(home, "bench", "selfplay"))
    return VastFleet(spec, Experiment(LocalHub(home / "hub"), "bench"), store, settings)


if __name__ == "__main__":
    main()
