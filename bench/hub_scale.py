"""A fleet's hub traffic at scale: N workers and a learner against Hugging Face's rate limits, with
the examples in the Hugging Face examples repo (`repo`) or in S3 (`s3`), side by side in one run.

    .venv/bin/python bench/hub_scale.py [--workers 200] [--games-per-s 30] [--speedup 60]
        [--hours 1] [--modes s3,repo] [--tier free] [--cycle-s 30] [--payload-scale 1000]
        [--learner-device cpu]

No self-play and no training: what runs for real is every hub call. Each simulated worker has its
own `HfHub` (one token for the fleet, as a fleet has) and uploads its spool (a real `Spool` of real,
valid shards) through a real `HubLink` (`upload`, `check_weights`: `Experiment.upload_examples`,
`weights_fingerprint`, `pull_weights`) on HubLink's own schedule: every `upload_interval_s` (480 s),
at once when the play loop spooled a shard (by `upload_max_mb`, 32 MB, or because new weights came),
and a weights check every `--weights-check-s` (on Hugging Face: 60 s, or 1.5 s per worker of the
fleet when longer; 300 s at 200). The play loop is simulated at the batch level (`games_per_batch`
games per batch, `--examples-per-game` examples a game). The
learner is the real `Fetcher` (with the real `Ingestor`, and its prunes) and the real `Publisher`;
its training thread is simulated: every `--cycle-s` it takes what the fetcher read and offers new
weights, never calling the hub (as `infra/learner/service.py`). Hugging Face is the fake Hub
(tests/fakes/fake_hf_server.py) with the documented quotas of `--tier` and the observed commit limit
on (tests/fakes/fake_hf_limits.py); S3 is moto's real S3 server on 127.0.0.1.

Simulated time. Every interval above is in simulated seconds. Simulated time runs at most
`--speedup` times faster than real time, and stands still while any simulated process is at work
(a request in flight, a shard being written): it only moves on when every one of them waits (for
its next timer, a retry's backoff, a 429's reset, the commit budget). So a machine too slow for the
load slows the simulation down (`achieved_speedup`) instead of bending its figures. Every clock and
sleep of the hub code is this clock: RetryPolicy and CommitBudget get it, the fake Hub's limits use
it (time_scale = speedup), huggingface_hub's own 429 sleeps and the Publisher's retry sleep are
patched onto it for the run, the Fetcher waits on it. Two consequences: requests take no simulated
time (a burst counts in one simulated second, so the S3 peaks per second are upper bounds), and
huggingface_hub's own 429 retries (preupload, file downloads) read whole seconds of `t=` and add a
second, so they wait up to 1 nominal second (`--speedup` simulated seconds) longer than on the Hub.

Scaled down: shard payloads carry `1/--payload-scale` of their examples (valid shards, readable by
`shard_from_bytes`; ShardMeta's n_games is the real count, n_examples the payload's, as the format
requires), and the Fetcher's backlog limit is scaled alike, so it pauses when the real one would.
Accounting uses the real counts. Checkpoints are `--checkpoint-kb` of random bytes.

Figures per mode (per simulated hour where it says so): commits per repo per hour (weights,
examples), the busiest 5-minute window of each Hugging Face bucket and its share of the tier's
quota, the 429s served, the S3 request peaks per second against S3's documented 3,500 PUT / 5,500
GET per prefix, examples produced / uploaded / ingested (handed over by the fetcher) / set aside
unread by the fetcher as surplus (older than half a replay of newer shards) / surplus (produced
beyond what the learner trains on: cycles x steps x batch) / lost (games still in a spool
after the final drain: at most `--drain-s` simulated seconds in which workers play no more and
keep trying to upload; it ends sooner once every link is done and the learner took every upload,
or nothing new for three cycles) / duplicated (shards handed over twice), upload-to-ingest seconds
(p50, p95, of the shards not set aside; one never ingested counts as infinitely late: null), how
long publishes stayed pending in the Publisher and how far the fetcher fell behind. Targets, pass
or fail per mode: 0 lost, 0 duplicated, every documented limit under 50% used, p95
upload-to-ingest under 600 s, the training thread waiting 0 s on the hub (it makes no hub call:
counted through a watching proxy).
The commit limit is not documented: its share is printed beside the targets, not among them. The
last line of stdout is one JSON object; progress goes to stderr. The run is reproducible (`--seed`)
up to thread timing.

Wall time: every simulated request is a real HTTP request through huggingface_hub or boto3 to a
Python server (5-40 ms of CPU each, a weights pull the most), and 200 workers make over 100k of them
a simulated hour in `s3` mode; on 2 shared cores the default run (both modes) took 20 minutes
(`achieved_speedup` says how fast each mode went: about 4x for `s3`, 26x for `repo`, where the
429s leave the fleet little to do). `--hours 0.25` shows the same picture in about 4 minutes.
"""

from __future__ import annotations

import os
import sys
import tempfile

# Before huggingface_hub is imported (it reads these once): no telemetry, no user cache or token.
_HOME = tempfile.mkdtemp(prefix="zeb-hub-scale-")
os.environ["HF_HOME"] = os.path.join(_HOME, "hf-home")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.pop("HF_TOKEN", None)

import argparse  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub_sim.clock import _ignore_cancelled_threads  # noqa: E402
from hub_sim.common import (  # noqa: E402
    EXAMPLES_PER_GAME,
    EXP,
    LEARN,
    PLAY,
    _no_tqdm_monitor,
    _quiet,
    say,
)
from hub_sim.mode import ModeRun  # noqa: E402

from bench._common import report  # noqa: E402
from infra.hub.limits import HF_QUOTAS, hf_weights_check_s  # noqa: E402
from infra.learner.options import LearnerOptions  # noqa: E402
from infra.worker import DEFAULT_UPLOAD_INTERVAL_S  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=200, help="simulated workers")
    parser.add_argument("--games-per-s", type=float, default=30.0, help="games a second per worker")
    parser.add_argument(
        "--speedup", type=float, default=60.0, help="simulated seconds per real one, at most"
    )
    parser.add_argument("--hours", type=float, default=1.0, help="simulated hours of play")
    parser.add_argument("--modes", default="s3,repo", help="comma-separated: s3, repo")
    parser.add_argument(
        "--tier", default="free", choices=sorted(HF_QUOTAS), help="Hugging Face plan"
    )
    parser.add_argument(
        "--cycle-s", type=float, default=30.0, help="simulated seconds per learner cycle"
    )
    parser.add_argument("--examples-per-game", type=float, default=EXAMPLES_PER_GAME)
    parser.add_argument(
        "--learner-device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="the learner's batch follows this device's default (64 on cpu, as the README's "
        "figures were measured; 512 on cuda: 8x the consumption, less surplus)",
    )
    parser.add_argument(
        "--payload-scale", type=float, default=1000.0, help="real examples per payload one"
    )
    parser.add_argument(
        "--checkpoint-kb", type=int, default=4, help="bytes of each published checkpoint"
    )
    parser.add_argument(
        "--ramp-s", type=float, default=300.0, help="workers start evenly over this"
    )
    parser.add_argument(
        "--drain-s", type=float, default=600.0, help="final drain, simulated seconds"
    )
    parser.add_argument(
        "--weights-check-s",
        type=float,
        default=None,
        help="seconds between a worker's looks for weights (default: what a fleet this size "
        "gets on Hugging Face, infra.hub.limits.hf_weights_check_s)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.learner_batch = LearnerOptions.of(EXP, LEARN).on_device(args.learner_device).batch
    if args.weights_check_s is None:
        args.weights_check_s = hf_weights_check_s(args.workers)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("s3", "repo") for m in modes):
        parser.error("--modes takes s3 and/or repo")
    _quiet()
    _no_tqdm_monitor()
    _ignore_cancelled_threads()
    started = time.monotonic()
    root = Path(_HOME)
    results: dict[str, dict] = {}
    try:
        for mode in modes:
            scale = f"{args.workers} workers x {args.games_per_s:g} games/s, {args.hours:g} h"
            say(f"{mode}: {scale}, at most {args.speedup:g}x real time")
            results[mode] = ModeRun(mode, args, root).execute()
            say(f"{mode}: targets {results[mode]['targets']}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    leftover = [
        t.name for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()
    ]
    report(
        {
            "bench": "hub_scale",
            "params": {
                "workers": args.workers,
                "games_per_s": args.games_per_s,
                "speedup": args.speedup,
                "hours": args.hours,
                "tier": args.tier,
                "cycle_s": args.cycle_s,
                "examples_per_game": args.examples_per_game,
                "payload_scale": args.payload_scale,
                "checkpoint_bytes": args.checkpoint_kb * 1024,
                "ramp_s": args.ramp_s,
                "drain_s": args.drain_s,
                "upload_interval_s": DEFAULT_UPLOAD_INTERVAL_S,
                "upload_max_mb": PLAY.upload_max_mb,
                "weights_check_s": args.weights_check_s,
                "samples_per_cycle": LEARN.training_steps_per_cycle * args.learner_batch,
            },
            "modes": results,
            "pass": {mode: results[mode]["targets"]["all_pass"] for mode in results},
            "wall_s": round(time.monotonic() - started, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "threads_left": leftover,
        }
    )


if __name__ == "__main__":
    main()
