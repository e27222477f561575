"""One mode of the hub-scale bench (examples in the repo, or in S3): its servers, fleet and
learner, run in simulated time until the figures (hub_sim.figures) are taken.
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
    TOKEN,
    _shm,
    say,
)
from hub_sim.figures import mode_figures
from hub_sim.fleet import SimWorker
from hub_sim.learner import SimLearner
from infra.experiment import Experiment
from infra.experiment_state import ExperimentState, Origin
from infra.hub.hf import HfHub
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
            figures = mode_figures(self, learner, workers, ended_at, time.monotonic() - wall)
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
