"""One mode of the hub-scale bench (examples in the repo, or in S3): its servers, fleet, learner
and figures.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import huggingface_hub.utils._http as hf_http
import numpy as np

import infra.learner.publisher as publisher_module
from hub_sim.accounting import Ledger, S3Counter
from hub_sim.clock import Sim, TimeShim
from hub_sim.common import (
    BUCKET,
    EXP,
    PLAY,
    S3_KEYS,
    TARGET_P95_S,
    TARGET_SHARE,
    TOKEN,
    _categories,
    _pct,
    _per_hour,
    _shm,
    say,
)
from hub_sim.fleet import SimWorker
from hub_sim.learner import SimLearner
from infra.experiment import Experiment
from infra.experiment_state import ExperimentState, Origin
from infra.hub.hf import HfHub
from infra.hub.limits import (
    HF_COMMITS_PER_REPO_HOUR,
    HF_QUOTAS,
    HF_WINDOW_S,
    S3_GETS_PER_PREFIX_S,
    S3_PUTS_PER_PREFIX_S,
)
from infra.hub.object_examples import ObjectExamplesHub
from infra.hub.object_store import ObjectStore
from infra.hub.retry import CommitBudget, RetryPolicy
from tests.fakes.fake_hf_limits import HfLimits
from tests.fakes.fake_hf_server import FakeHfServer
from zeb_core.data.examples import bytes_per_example
from zeb_core.data.shards import synthetic_examples

# -- one mode --------------------------------------------------------------------------------------


class ModeRun:
    def __init__(self, mode: str, args: argparse.Namespace, root: Path) -> None:
        self.mode, self.args = mode, args
        self.root = root / mode
        self.spool_root = Path(tempfile.mkdtemp(prefix=f"zeb-hub-scale-{mode}-", dir=_shm()))
        self.sim = Sim(args.speedup)
        self.ledger = Ledger(self.sim)
        self.rng = np.random.default_rng(args.seed)
        self.counts: Counter[str] = Counter()
        self.epoch = datetime(2026, 1, 1, tzinfo=UTC)
        self.hours_s = args.hours * 3600.0
        self.drain_until = self.hours_s + args.drain_s
        self.limits = HfLimits(args.tier, time_scale=args.speedup, clock=self.sim.nominal)
        self.hf = FakeHfServer(token=TOKEN, limits=self.limits)
        self.s3_counter: S3Counter | None = None
        self._last_progress = -1.0
        self._moto = None
        self._s3 = None
        pool = max(
            64,
            math.ceil(PLAY.upload_max_mb * 2**20 / bytes_per_example() / args.payload_scale) + 64,
        )
        self._pool = synthetic_examples(pool, np.random.default_rng(args.seed))
        self._pool_at = 0
        self.seed_state = ExperimentState(
            experiment=EXP, created_from=Origin(checkpoint="bench", sha256="0" * 64)
        )

    # -- hubs --------------------------------------------------------------------------------------

    def retry(self) -> RetryPolicy:
        scale = self.args.speedup  # RetryPolicy's defaults, in nominal (scaled) seconds
        return RetryPolicy(
            base_s=2.0 / scale, max_s=120.0 / scale, sleep=self.sim.sleep, rng=self._py_rng()
        )

    def _py_rng(self):
        import random

        return random.Random(int(self.rng.integers(1 << 31)))

    def make_hub(self, who: str):
        """A process's hub client: its own HfHub (own cache, own commit budget), one token."""
        budget = CommitBudget(
            window_s=3600.0 / self.args.speedup, clock=self.sim.nominal, sleep=self.sim.sleep
        )
        hf = HfHub(
            "bench/weights",
            "bench/examples",
            token=TOKEN,
            endpoint=self.hf.url,
            cache_dir=self.root / "hf-cache" / who,
            retry=self.retry(),
            budget=budget,
            timeout_s=30.0,
        )
        if self.mode == "repo":
            return hf
        return ObjectExamplesHub(hf, ObjectStore(self._s3, BUCKET, retry=self.retry()))

    def payload(self, n: int):
        n = min(n, len(self._pool))
        start = self._pool_at % (len(self._pool) - n + 1)
        self._pool_at += 7
        return self._pool.take(slice(start, start + n))

    def checkpoint(self) -> bytes:
        return os.urandom(self.args.checkpoint_kb * 1024)

    # -- servers -----------------------------------------------------------------------------------

    def start_servers(self) -> None:
        # A deeper accept queue on loopback than socketserver's 5: 200 clients retrying at a
        # window's reset otherwise overflow it, and a dropped connection holds its request (and
        # simulated time) until the client's timeout. What is asked and answered is unchanged.
        self.hf._httpd.socket.listen(1024)
        self.hf.__enter__()
        if self.mode != "s3":
            return
        import http.client

        import boto3
        from botocore.config import Config
        from moto.server import ThreadedMotoServer

        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        self._moto._server.socket.listen(1024)  # as for the fake Hub above
        host, port = self._moto.get_host_and_port()
        reset = http.client.HTTPConnection(host, port, timeout=30)  # moto's state is per process
        reset.request("POST", "/moto-api/reset")
        reset.getresponse().read()
        reset.close()
        self._s3 = boto3.client(
            "s3",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            config=Config(max_pool_connections=64, retries={"mode": "standard"}),
            **S3_KEYS,
        )
        self._s3.create_bucket(Bucket=BUCKET)
        self.s3_counter = S3Counter(self.sim)
        self._s3.meta.events.register("before-parameter-build.s3", self.s3_counter)

    def stop_servers(self) -> None:
        if self._moto is not None:
            self._moto.stop()
        self.hf.__exit__(None, None, None)

    # -- the run -----------------------------------------------------------------------------------

    def execute(self) -> dict:
        args = self.args
        wall = time.monotonic()
        patches = [
            (hf_http, "time", hf_http.time),
            (publisher_module, "time", publisher_module.time),
        ]
        hf_http.time = TimeShim(self.sim)  # huggingface_hub's own 429 sleeps
        publisher_module.time = TimeShim(self.sim)  # the Publisher's retry sleep and close deadline
        self.start_servers()
        learner = workers = None
        try:
            seeder = Experiment(self.make_hub("seed"), EXP)
            seeder.publish_weights(
                self.checkpoint(), {"bench": True}, self.seed_state, keep_hub=False
            )
            learner = SimLearner(self)
            ramp = min(args.ramp_s, self.hours_s)
            workers = [
                SimWorker(self, i, ramp * i / max(args.workers, 1)) for i in range(args.workers)
            ]
            self.sim.start()
            learner.start()
            for worker in workers:
                worker.start()
            progress = lambda: self._progress(wall, learner)  # noqa: E731
            self.sim.run_to(self.hours_s, tick=progress)
            say(f"{self.mode}: {args.hours:g} simulated hour(s) done; workers stop, final drain")
            self.sim.call_at(self.sim.now, lambda: [w.stop_playing() for w in workers])

            quiet_since: list[float] = []

            def drained() -> bool:
                """Every link finished, and the learner took every upload or took nothing new
                for three cycles (what it has not read by then, it would not read later)."""
                if not all(w.done for w in workers):
                    return False
                if not quiet_since:
                    quiet_since.append(self.sim.now)
                with self.ledger.lock:
                    waiting = any(
                        r.uploaded_at is not None
                        and r.ingested_at is None
                        and r.set_aside_at is None
                        for r in self.ledger.shards.values()
                    )
                    last = max(quiet_since[0], self.ledger.last_handover)
                return not waiting or self.sim.now - last >= 3 * args.cycle_s

            self.sim.run_to(self.drain_until, until=drained, tick=progress)
            self.sim.run_to(self.sim.now)  # time stops here: the figures are taken now
            ended_at = self.sim.now
            learner.take_last()
            figures = self._figures(learner, workers, ended_at, time.monotonic() - wall)
            say(f"{self.mode}: done at simulated {ended_at:.0f}s; stopping every thread")
            self._shut_down(learner, workers)
        finally:
            self.sim.cancel()  # (again: a no-op unless something failed before the end)
            if learner is not None and learner.publisher._thread.is_alive():
                learner.publisher.close(timeout_s=0.0)
            self.stop_servers()
            for module, name, value in patches:
                setattr(module, name, value)
            shutil.rmtree(self.spool_root, ignore_errors=True)
            shutil.rmtree(self.root, ignore_errors=True)
        return figures

    def _shut_down(self, learner: SimLearner, workers: list[SimWorker]) -> None:
        """The figures are taken: every thread unwinds at its next wait on simulated time (a
        request in flight finishes first), then the servers stop."""
        self.sim.cancel()
        learner.close()
        deadline = time.monotonic() + 60
        for worker in workers:
            worker.thread.join(max(deadline - time.monotonic(), 0.1))

    def _progress(self, wall: float, learner: SimLearner) -> None:
        if self.sim.now == self._last_progress:
            with self.sim.cond:
                running, busy = self.sim.running, [c() for c in self.sim.busy_checks]
            say(f"{self.mode}: simulated time stands still: {running} at work, publisher {busy}")
        self._last_progress = self.sim.now
        with self.ledger.lock:
            shards = self.ledger.shards.values()
            up = sum(r.uploaded_at is not None for r in shards)
            ing = sum(r.ingested_at is not None for r in shards)
            total = len(self.ledger.shards)
        say(
            f"{self.mode}: sim {self.sim.now:7.0f}s wall {time.monotonic() - wall:6.0f}s "
            f"shards spooled {total} uploaded {up} ingested {ing}; learner cycle {learner.cycle}; "
            f"429s {sum(self.limits.refused.values())}; HF requests {len(self.hf.requests)}"
        )

    # -- figures -----------------------------------------------------------------------------------

    def _figures(
        self, learner: SimLearner, workers: list[SimWorker], ended_at: float, wall_s: float
    ) -> dict:
        args = self.args
        with self.ledger.lock:
            records = list(self.ledger.shards.items())
        produced_games = sum(r.games for _, r in records)
        produced = sum(r.examples for _, r in records)
        uploaded = [r for _, r in records if r.uploaded_at is not None]
        lost = [r for _, r in records if r.uploaded_at is None]
        ingested = [r for _, r in records if r.ingested_at is not None]
        set_aside = [r for _, r in records if r.set_aside_at is not None]
        duplicated = sum(1 for _, r in records if r.handed_over > 1)
        # Upload to ingest, over the shards the learner read; a shard neither read nor set
        # aside as surplus counts as infinitely late.
        delays = sorted(
            (r.ingested_at - r.uploaded_at) if r.ingested_at is not None else math.inf
            for r in uploaded
            if r.set_aside_at is None
        )
        quota = HF_QUOTAS[args.tier]
        buckets = {}
        for bucket in ("api", "resolvers"):
            served = self.limits.busiest_window(bucket)
            limit = getattr(quota, bucket)
            windows = self.limits.windows(bucket)  # one user (the fleet's token): its windows
            after_ramp = [n for k, n in windows.items() if k * HF_WINDOW_S >= args.ramp_s]
            buckets[bucket] = {
                "busiest_5min_served": served,
                "busiest_5min_tried": self.limits.busiest_window(bucket, tried=True),
                "busiest_5min_after_ramp": max(after_ramp, default=0),
                "quota": limit,
                "used_pct": round(100.0 * served / limit, 1),
                "served_per_window": [
                    windows.get(k, 0) for k in range(max(windows, default=-1) + 1)
                ],
            }
        commits = self.limits.commits_per_hour_landed()
        per_repo = {
            name: max(commits.get(f"models/bench/{name}", {}).values(), default=0)
            for name in ("weights", "examples")
        }
        hf = {
            "busiest_window": buckets,
            "refused_429": dict(self.limits.refused),
            "commits_per_repo_busiest_hour": per_repo,
            "commits_per_repo_total": {
                name: sum(commits.get(f"models/bench/{name}", {}).values())
                for name in ("weights", "examples")
            },
            "requests_per_hour": _per_hour(_categories(self.hf.log), ended_at / 3600.0),
        }
        out: dict = {
            "hugging_face": hf,
            "examples": {
                "produced": produced,
                "produced_games": produced_games,
                "uploaded": sum(r.examples for r in uploaded),
                "ingested": learner.real_examples,
                "learner_consumption": learner.consumed,
                "surplus": max(produced - learner.consumed, 0),
                "lost_games": sum(r.games for r in lost),
                "lost_examples": sum(r.examples for r in lost),
                "lost_shards": len(lost),
                "duplicated_shards": duplicated,
                "reuploaded_shards": self.ledger.reuploads,
                "shards": len(records),
                "ingested_shards": len(ingested),
                "set_aside_surplus_shards": len(set_aside),
                "set_aside_surplus_examples": sum(r.examples for r in set_aside),
                "per_hour": {  # of play (the drain adds no games)
                    "produced": round(produced / args.hours),
                    "uploaded": round(sum(r.examples for r in uploaded) / args.hours),
                    "learner_consumption": round(learner.consumed / args.hours),
                },
            },
            "upload_to_ingest_s": {  # null: that share of the uploads was never ingested
                "p50": _pct(delays, 50),
                "p95": _pct(delays, 95),
                "max": _pct(delays, 100),
                "never_ingested_shards": sum(
                    1 for r in uploaded if r.ingested_at is None and r.set_aside_at is None
                ),
            },
            "learner": {
                "cycles": learner.cycle,
                "cycles_in_hours": learner.cycles_in_hours,
                "training_thread_hub_calls": learner.hub.training_thread_calls,
                "training_thread_handoff_real_s": round(learner.handoff_real_s, 3),
                "starved_s": learner.starved_s,
                "publishes": learner.published,
                "coalesced_offers": learner.publisher.coalesced,
                "publish_pending_s": {
                    "p50": _pct(sorted(learner.publish_waits), 50),
                    "p95": _pct(sorted(learner.publish_waits), 95),
                    "max": _pct(sorted(learner.publish_waits), 100),
                    "never_published": len(learner.offered),
                },
                "fetcher_behind_s": {
                    "p95": _pct(sorted(self.ledger.fetcher_behind), 95),
                    "max": _pct(sorted(self.ledger.fetcher_behind), 100),
                },
            },
            "run": {
                "simulated_s": round(ended_at, 1),
                "drain_s": round(ended_at - self.hours_s, 1),
                "wall_s": round(wall_s, 1),
                "achieved_speedup": round(ended_at / max(wall_s, 1e-9), 1),
                "sim_steps": self.sim.steps,
                "worker_start_retries": self.counts["worker_start_retries"],
                "workers_done": sum(w.done for w in workers),
            },
        }
        if self.s3_counter is not None:
            s3 = self.s3_counter.peaks()
            s3["limits_per_prefix_s"] = {"put": S3_PUTS_PER_PREFIX_S, "get": S3_GETS_PER_PREFIX_S}
            s3["requests_per_hour"] = _per_hour(s3["by_operation"], ended_at / 3600.0)
            out["s3"] = s3
        out["targets"] = self._targets(out)
        return out

    def _targets(self, out: dict) -> dict:
        hf = out["hugging_face"]["busiest_window"]
        limits = {f"hf_{b}": hf[b]["used_pct"] / 100 for b in hf}
        if "s3" in out:
            peak = out["s3"]["peak_per_s_per_prefix"]
            limits["s3_put_per_prefix"] = peak["put"] / S3_PUTS_PER_PREFIX_S
            limits["s3_get_per_prefix"] = peak["get"] / S3_GETS_PER_PREFIX_S
        ex, lag = out["examples"], out["upload_to_ingest_s"]["p95"]
        observed = out["hugging_face"]["commits_per_repo_busiest_hour"]
        targets = {
            "zero_lost": ex["lost_games"] == 0,
            "zero_duplicated": ex["duplicated_shards"] == 0,
            "documented_limits_under_50pct": all(v < TARGET_SHARE for v in limits.values()),
            "p95_upload_to_ingest_under_600s": lag is not None and lag < TARGET_P95_S,
            "learner_waits_0s": out["learner"]["training_thread_hub_calls"] == 0,
        }
        return {
            **targets,
            "all_pass": all(targets.values()),
            "limit_shares": {k: round(v, 3) for k, v in limits.items()},
            # not a target (the limit is observed, not documented): commits per repo per hour
            "observed_commit_limit_share": round(
                max(observed.values()) / HF_COMMITS_PER_REPO_HOUR, 3
            ),
        }
