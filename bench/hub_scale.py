"""A fleet's hub traffic at scale: N workers and a learner against Hugging Face's rate limits, with
the examples in the Hugging Face examples repo (`repo`) or in S3 (`s3`), side by side in one run.

    .venv/bin/python bench/hub_scale.py [--workers 200] [--games-per-s 30] [--speedup 60]
        [--hours 1] [--modes s3,repo] [--tier free] [--cycle-s 30] [--payload-scale 1000]

No self-play and no training: what runs for real is every hub call. Each simulated worker has its
own `HfHub` (one token for the fleet, as a fleet has) and uploads its spool (a real `Spool` of real,
valid shards) through a real `HubLink` (`upload`, `check_weights`: `Experiment.upload_examples`,
`weights_fingerprint`, `pull_weights`) on HubLink's own schedule: every `upload_interval_s` (480 s),
at once when the play loop spooled a shard (by `upload_max_mb`, 32 MB, or because new weights came),
and a weights check every `weights_check_s` (60 s on Hugging Face). The play loop is simulated at
the batch level (`games_per_batch` games per batch, `--examples-per-game` examples a game). The
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
GET per prefix, examples produced / uploaded / ingested (handed over by the fetcher) / surplus
(produced beyond what the learner trains on: cycles x steps x batch) / lost (games still in a spool
after the final drain: at most `--drain-s` simulated seconds in which workers play no more and
keep trying to upload; it ends sooner once every link is done and the learner took every upload,
or nothing new for three cycles) / duplicated (shards handed over twice), upload-to-ingest seconds
(p50, p95; a shard never ingested counts as infinitely late: null), how long publishes stayed
pending in the Publisher and how far the fetcher fell behind. Targets, pass or fail per mode: 0
lost, 0 duplicated, every documented limit under 50% used, p95 upload-to-ingest under 600 s, the
training thread waiting 0 s on the hub (it makes no hub call: counted through a watching proxy).
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
import heapq  # noqa: E402
import itertools  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import huggingface_hub.utils._http as hf_http  # noqa: E402

import infra.learner.publisher as publisher_module  # noqa: E402
from bench._common import report  # noqa: E402
from infra.experiment import Experiment, WeightsSnapshot  # noqa: E402
from infra.experiment_state import ExperimentState, Origin  # noqa: E402
from infra.hub.base import HubError  # noqa: E402
from infra.hub.hf import HfHub  # noqa: E402
from infra.hub.limits import (  # noqa: E402
    HF_COMMITS_PER_REPO_HOUR,
    HF_QUOTAS,
    HF_WINDOW_S,
    S3_GETS_PER_PREFIX_S,
    S3_PUTS_PER_PREFIX_S,
)
from infra.hub.object_examples import ObjectExamplesHub  # noqa: E402
from infra.hub.object_store import ObjectStore  # noqa: E402
from infra.hub.retry import CommitBudget, RetryPolicy  # noqa: E402
from infra.learner.fetcher import Fetcher  # noqa: E402
from infra.learner.ingest import Ingestor  # noqa: E402
from infra.learner.options import LearnerSettings  # noqa: E402
from infra.learner.publisher import Publisher, Weights  # noqa: E402
from infra.worker import DEFAULT_UPLOAD_INTERVAL_S  # noqa: E402
from infra.worker.hub_link import MIN_WAIT_S, HubLink  # noqa: E402
from infra.worker.options import WorkerOptions, WorkerSettings  # noqa: E402
from infra.worker.spool import Spool  # noqa: E402
from tests.fakes.fake_hf_limits import HfLimits  # noqa: E402
from tests.fakes.fake_hf_server import FakeHfServer  # noqa: E402
from zeb_core.data.examples import bytes_per_example  # noqa: E402
from zeb_core.data.replay import IngestResult  # noqa: E402
from zeb_core.data.shards import SELFPLAY, ShardMeta, shard_name, synthetic_examples  # noqa: E402

EXP = "scale"
TOKEN = "hf_zebHubScaleBenchToken"  # the fleet's one token: one user's quota for everyone
BUCKET = "zeb-examples"
S3_KEYS = {"aws_access_key_id": "zebbenchkey", "aws_secret_access_key": "zebbenchsecret"}
# Examples per game: zeb_core keeps no constant for it; 16.5 is the brief's figure for the current
# self-play settings (28 decisions a hand less forced moves and the bidding's share).
EXAMPLES_PER_GAME = 16.5
TARGET_SHARE = 0.5  # every documented limit under half used
TARGET_P95_S = 600.0
PLAY = WorkerSettings()
LEARN = LearnerSettings()
RETRY_WAIT_S = WorkerOptions.model_fields["retry_wait_s"].default
WEIGHTS_CHECK_S = 60.0  # HfHub.weights_poll_s: what a worker on Hugging Face uses by default
S3_PUT_CLASS = {"PutObject", "DeleteObjects", "DeleteObject", "CopyObject"}
log = logging.getLogger("bench.hub_scale")


def say(message: str) -> None:
    print(f"[hub_scale] {message}", file=sys.stderr, flush=True)


# -- simulated time --------------------------------------------------------------------------------


class SimCancelled(BaseException):
    """The run is over: raised in every thread waiting on simulated time, to unwind it (a
    BaseException, so that no retry loop of the hub code takes it for a hub error)."""


class _Waiter:
    __slots__ = ("thread", "actor", "event", "done", "owner")

    def __init__(self, thread: threading.Thread, actor: bool, owner: SimEvent | None) -> None:
        self.thread, self.actor, self.owner = thread, actor, owner
        self.event = threading.Event()
        self.done = False


class Sim:
    """A conservative discrete-event clock over real threads.

    Actors (threads registered with `add_actor`) count as running unless they wait in `wait`;
    `busy_checks` say when other threads (the Publisher's) are at work. One ticker thread moves the
    clock to the next timer only when nothing runs, never past `horizon`, and at most `speedup`
    times faster than real time since its last step. Timers either wake a waiting thread or call a
    function on the ticker thread (the simulated play loops and the learner's training thread).
    """

    def __init__(self, speedup: float) -> None:
        self.speedup = speedup
        self.now = 0.0
        self.cond = threading.Condition()
        self.running = 0
        self.actors: set[threading.Thread] = set()
        self.sleeping: set[threading.Thread] = set()
        self.busy_checks: list[Callable[[], bool]] = []
        self.horizon = 0.0
        self.at_horizon = False
        self.cancelled = False
        self._waiting: set[_Waiter] = set()
        self.errors: list[str] = []
        self.steps = 0
        self._heap: list = []
        self._seq = itertools.count()
        self._stop = False
        self._thread = threading.Thread(target=self._tick, name="sim-ticker", daemon=True)

    # -- what the hub code is given ----------------------------------------------------------------

    def nominal(self) -> float:
        """The clock in 'real' seconds: simulated seconds / speedup (what scaled intervals use)."""
        return self.now / self.speedup

    def sleep(self, nominal_s: float) -> None:
        self.wait(nominal_s * self.speedup)

    # -- waiting and timers ------------------------------------------------------------------------

    def wait(self, seconds: float | None, event: SimEvent | None = None) -> bool:
        """Wait `seconds` simulated seconds, or until `event` is set; True if it is set."""
        me = threading.current_thread()
        waiter = _Waiter(me, me in self.actors, event)
        with self.cond:
            if self.cancelled:
                raise SimCancelled
            if event is not None:
                if event.flag:
                    return True
                event.waiters.append(waiter)
            if seconds is not None:
                heapq.heappush(self._heap, (self.now + max(seconds, 0.0), next(self._seq), waiter))
            self._waiting.add(waiter)
            self.sleeping.add(me)
            if waiter.actor:
                self.running -= 1
            self.cond.notify_all()
        waiter.event.wait()
        if self.cancelled:
            raise SimCancelled
        return event.flag if event is not None else True

    def cancel(self) -> None:
        """End the run: stop the ticker; every wait, now or later, raises SimCancelled."""
        self.stop()
        with self.cond:
            self.cancelled = True
            for waiter in list(self._waiting):
                self._wake(waiter)
            self._heap.clear()

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        with self.cond:
            heapq.heappush(self._heap, (max(when, self.now), next(self._seq), fn))
            self.cond.notify_all()

    def _wake(self, waiter: _Waiter) -> None:  # under self.cond
        if waiter.done:
            return
        waiter.done = True
        self._waiting.discard(waiter)
        self.sleeping.discard(waiter.thread)
        if waiter.actor:
            self.running += 1
        if waiter.owner is not None and waiter in waiter.owner.waiters:
            waiter.owner.waiters.remove(waiter)
        waiter.event.set()

    # -- actors ------------------------------------------------------------------------------------

    def add_actor(self, thread: threading.Thread) -> None:
        """Count `thread` as running from now until it waits (call before starting it)."""
        with self.cond:
            self.actors.add(thread)
            self.running += 1

    def actor_gone(self, thread: threading.Thread) -> None:
        """`thread` ended (while counted as running)."""
        with self.cond:
            if thread in self.actors:
                self.actors.discard(thread)
                self.running -= 1
                self.cond.notify_all()

    # -- the ticker --------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self.cond:
            self._stop = True
            self.cond.notify_all()
        if self._thread.ident is not None:
            self._thread.join(10)

    def run_to(self, when: float, until: Callable[[], bool] | None = None, tick=None) -> None:
        """Let simulated time run to `when` (or until `until()` holds, checked at each step)."""
        with self.cond:
            self.horizon = when
            self.at_horizon = False
            self.cond.notify_all()
        last_tick = time.monotonic()
        while True:
            with self.cond:
                self.cond.wait(0.05)
                done = self.at_horizon and self.now >= when
            if self.errors:
                raise RuntimeError(f"simulation failed: {self.errors[0]}")
            if done or (until is not None and until()):
                return
            if tick is not None and time.monotonic() - last_tick >= 10:
                tick()
                last_tick = time.monotonic()

    def _idle(self) -> bool:
        return self.running <= 0 and not any(check() for check in self.busy_checks)

    def _tick(self) -> None:
        last_real, last_sim = time.perf_counter(), self.now
        while True:
            with self.cond:
                while not self._stop and not self._idle():
                    self.cond.wait(0.002)
                if self._stop:
                    return
                nxt = self._heap[0][0] if self._heap else math.inf
                target = min(nxt, self.horizon)
                if (target <= self.now and nxt > self.now) or math.isinf(target):
                    self.at_horizon = target <= self.now
                    self.cond.notify_all()
                    self.cond.wait(0.01)
                    continue
            delay = last_real + (target - last_sim) / self.speedup - time.perf_counter()
            if delay > 0:
                time.sleep(min(delay, 0.02))
                continue
            calls: list[Callable[[], None]] = []
            with self.cond:
                if not self._idle():
                    continue
                self.now = max(self.now, target)
                self.steps += 1
                last_real, last_sim = time.perf_counter(), self.now
                while self._heap and self._heap[0][0] <= self.now:
                    item = heapq.heappop(self._heap)[2]
                    if isinstance(item, _Waiter):
                        self._wake(item)
                    else:
                        calls.append(item)
            for fn in calls:
                try:
                    fn()
                except Exception as exc:  # noqa: BLE001 - reported by run_to, not swallowed
                    log.exception("simulated step failed")
                    self.errors.append(f"{type(exc).__name__}: {exc}")


class SimEvent:
    """A threading.Event on simulated time; `wait(timeout)` takes nominal seconds (for Fetcher)."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.flag = False
        self.waiters: list[_Waiter] = []

    def is_set(self) -> bool:
        return self.flag

    def set(self) -> None:
        with self.sim.cond:
            self.flag = True
            for waiter in list(self.waiters):
                self.sim._wake(waiter)
            self.waiters.clear()

    def clear(self) -> None:
        with self.sim.cond:
            self.flag = False

    def wait(self, timeout: float | None = None) -> bool:
        seconds = None if timeout is None else timeout * self.sim.speedup
        return self.sim.wait(seconds, self)


class TimeShim:
    """The `time` module of a patched module: sleep and monotonic on simulated time."""

    def __init__(self, sim: Sim) -> None:
        self._sim = sim

    def sleep(self, seconds: float) -> None:
        self._sim.sleep(seconds)

    def monotonic(self) -> float:
        return self._sim.nominal()

    def __getattr__(self, name: str):
        return getattr(time, name)


# -- accounting ------------------------------------------------------------------------------------


@dataclass
class ShardRecord:
    games: int
    examples: int  # the real count (the payload holds 1/payload_scale of it)
    spooled_at: float
    uploaded_at: float | None = None
    ingested_at: float | None = None
    handed_over: int = 0


class Ledger:
    """Every shard from its spooling to the learner, by hub path; thread-safe."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.lock = threading.Lock()
        self.shards: dict[str, ShardRecord] = {}
        self.reuploads = 0
        self.unfetched: dict[str, float] = {}  # path -> upload time, oldest first
        self.fetcher_behind: list[float] = []
        self.last_handover = 0.0  # when the learner last took a shard it had not taken

    def spooled(self, path: str, games: int, examples: int) -> None:
        with self.lock:
            self.shards[path] = ShardRecord(games, examples, self.sim.now)

    def uploaded(self, paths: list[str]) -> None:
        with self.lock:
            for path in paths:
                record = self.shards.get(path)
                if record is None:
                    continue
                if record.uploaded_at is not None:
                    self.reuploads += 1
                    continue
                record.uploaded_at = self.sim.now
                self.unfetched[path] = self.sim.now

    def handed_over(self, paths: list[str]) -> None:
        with self.lock:
            for path in paths:
                record = self.shards.get(path)
                if record is None:
                    continue
                record.handed_over += 1
                if record.ingested_at is None:
                    record.ingested_at = self.last_handover = self.sim.now

    def note_fetcher(self, fetched: set[str]) -> None:
        """How long the oldest uploaded shard the fetcher has not read yet has waited."""
        with self.lock:
            for path in list(self.unfetched):
                if path not in fetched:
                    break
                del self.unfetched[path]
            oldest = next(iter(self.unfetched.values()), None)
            self.fetcher_behind.append(0.0 if oldest is None else self.sim.now - oldest)


class WatchedHub:
    """A hub that counts the calls made from the simulated training thread (the ticker's): the
    learner's training must never call the hub (it hands over to the Fetcher and Publisher)."""

    def __init__(self, hub, sim: Sim) -> None:
        self._hub, self._sim = hub, sim
        self.training_thread_calls = 0

    def __getattr__(self, name: str):
        value = getattr(self._hub, name)
        if not callable(value):
            return value

        def call(*args, **kwargs):
            if threading.current_thread() is self._sim._thread:
                self.training_thread_calls += 1
            return value(*args, **kwargs)

        return call


class BenchExperiment(Experiment):
    """The real Experiment, telling the ledger when an upload or a publish went through."""

    def __init__(self, hub, ledger: Ledger, on_publish: Callable[[int], None] | None = None):
        super().__init__(hub, EXP)
        self.ledger = ledger
        self.on_publish = on_publish

    def upload_examples(self, source, shards):
        revision = super().upload_examples(source, shards)
        self.ledger.uploaded([f"{self.name}/{source}/{name}" for name in shards])
        return revision

    def publish_weights(self, checkpoint, config, state, *, keep_hub=True):
        revision = super().publish_weights(checkpoint, config, state, keep_hub=keep_hub)
        if self.on_publish is not None:
            self.on_publish(state.cycle)
        return revision


# -- the fleet -------------------------------------------------------------------------------------


class SimWorker:
    """One worker: its hub link in a thread of its own (HubLink's schedule, on simulated time), its
    play loop as timers (batches of `games_per_batch` games, spooled as Worker._play does)."""

    def __init__(self, run: ModeRun, index: int, start_at: float) -> None:
        self.run, self.sim, self.ledger = run, run.sim, run.ledger
        self.worker_id = f"selfplay-w{index:03d}"
        self.start_at = start_at
        self.experiment = BenchExperiment(run.make_hub(f"w{index:03d}"), run.ledger)
        self.spool = Spool(run.spool_root / self.worker_id)
        self.wake = SimEvent(self.sim)
        self.link: HubLink | None = None
        self.snapshot: WeightsSnapshot | None = None
        self.batch_s = PLAY.games_per_batch / run.args.games_per_s
        self.batch_examples = PLAY.games_per_batch * run.args.examples_per_game
        self.limit_examples = PLAY.upload_max_mb * 2**20 / bytes_per_example()
        self.t0 = 0.0  # when play began
        self.batches = 0  # batches played and counted
        self.pending_games = 0
        self.last_spool = 0.0  # of the play loop's timed spool (Worker._play's `last_spool`)
        self.due_gen = 0
        self.seq = 0
        self.playing = False
        self.stopping = False
        self.done = False
        self.thread = threading.Thread(target=self._main, name=self.worker_id, daemon=True)

    # -- the hub link thread -----------------------------------------------------------------------

    def start(self) -> None:
        self.sim.add_actor(self.thread)
        self.thread.start()

    def _main(self) -> None:
        try:
            self.sim.wait(self.start_at)
            fingerprint = self._start_up()
            self.link = HubLink(
                self.experiment,
                self.spool,
                SELFPLAY,
                PLAY.upload_interval_s,
                WEIGHTS_CHECK_S,
                RETRY_WAIT_S,
                fingerprint=fingerprint,
            )
            if not self.stopping:
                self.sim.call_at(self.sim.now, self._begin_play)
            self._link_loop()
            self._drain()
        except SimCancelled:
            pass  # the run is over
        except Exception as exc:  # noqa: BLE001 - reported by Sim.run_to
            log.exception("%s failed", self.worker_id)
            self.sim.errors.append(f"{self.worker_id}: {type(exc).__name__}: {exc}")
        finally:
            self.done = True
            self.sim.actor_gone(self.thread)

    def _start_up(self) -> str | None:
        """Worker._start and WeightsFollower.refresh: wait out the hub until weights are in."""
        while not self.stopping:
            try:
                if not self.experiment.exists():
                    raise RuntimeError(f"{EXP} has no weights on the hub")
                fingerprint = self.experiment.weights_fingerprint()
                revision = self.experiment.weights_revision()
                self.snapshot = self.experiment.pull_weights(revision)
                return fingerprint
            except HubError:
                self.run.counts["worker_start_retries"] += 1
                self.sim.wait(RETRY_WAIT_S * (0.5 + self.run.rng.random()))
        return None

    def _link_loop(self) -> None:
        """HubLink._run, on simulated time."""
        link, sim = self.link, self.sim
        next_upload = sim.now + PLAY.upload_interval_s
        last_check = sim.now
        while not self.stopping:
            next_look = last_check + WEIGHTS_CHECK_S
            sim.wait(max(min(next_upload, next_look) - sim.now, MIN_WAIT_S), self.wake)
            asked = self.wake.is_set()
            self.wake.clear()
            if self.stopping:
                break
            if asked or sim.now >= next_upload:
                uploaded = link.upload()
                next_upload = sim.now + (PLAY.upload_interval_s if uploaded else RETRY_WAIT_S)
            if sim.now >= next_look:
                last_check = sim.now
                before = link.fingerprint
                link.check_weights()
                if link.fingerprint != before:  # parked: the play loop takes them next batch
                    boundary = self._boundary(self._batch_index(sim.now) + 1)
                    sim.call_at(boundary, self._take_weights)

    def _drain(self) -> None:
        """After the stop: HubLink.close's last upload, then more tries until the drain ends."""
        while self.link is not None:
            if self.link.upload() and not self.spool.pending():
                return
            if self.sim.now >= self.run.drain_until:
                return
            self.sim.wait(RETRY_WAIT_S)

    # -- the play loop (timers on the ticker thread) -----------------------------------------------

    def _begin_play(self) -> None:
        if self.stopping:
            return
        self.playing = True
        self.t0 = self.last_spool = self.sim.now
        self._schedule_due()

    def _batch_index(self, t: float) -> int:
        return int(math.floor((t - self.t0) / self.batch_s + 1e-9))

    def _boundary(self, n: int) -> float:
        return self.t0 + n * self.batch_s

    def _play_to(self, t: float) -> None:
        n = self._batch_index(t)
        if n > self.batches:
            self.pending_games += (n - self.batches) * PLAY.games_per_batch
            self.batches = n

    def _due(self, t: float) -> bool:
        waiting = self.pending_games * self.run.args.examples_per_game
        return t - self.last_spool >= PLAY.upload_interval_s or waiting >= self.limit_examples

    def _schedule_due(self) -> None:
        """A timer at the first batch end where Worker._spool_due would hold."""
        waiting = self.pending_games * self.run.args.examples_per_game
        by_size = self.batches + max(
            math.ceil((self.limit_examples - waiting) / self.batch_examples), 1
        )
        by_time = max(
            math.ceil((self.last_spool + PLAY.upload_interval_s - self.t0) / self.batch_s - 1e-9),
            self.batches + 1,
        )
        self.due_gen += 1
        gen = self.due_gen
        self.sim.call_at(self._boundary(min(by_size, by_time)), lambda: self._on_due(gen))

    def _on_due(self, gen: int) -> None:
        if gen != self.due_gen or not self.playing:
            return
        self._play_to(self.sim.now)
        if self._due(self.sim.now):
            self._spool(self.snapshot)
            self.last_spool = self.sim.now
            self.wake.set()  # HubLink.upload_soon
        self._schedule_due()

    def _take_weights(self) -> None:
        """Worker._take_new_weights: the older model's games make their own shard."""
        if not self.playing or self.link is None:
            return
        self._play_to(self.sim.now)
        snapshot = self.link.take_weights()
        if snapshot is None:
            return
        before, self.snapshot = self.snapshot, snapshot
        if self.pending_games:
            self._spool(before)
            self.wake.set()
        self._schedule_due()

    def stop_playing(self) -> None:
        """The end of the simulated hours: completed batches go to the spool, the link's last
        upload follows (Worker.run's _spool_pending and _close_link)."""
        if self.playing:
            self._play_to(self.sim.now)
            self._spool(self.snapshot)
        self.playing = False
        self.stopping = True
        self.wake.set()

    def _spool(self, snapshot: WeightsSnapshot | None) -> None:
        if not self.pending_games or snapshot is None:
            return
        games = self.pending_games
        examples = round(games * self.run.args.examples_per_game)
        payload = max(1, round(examples / self.run.args.payload_scale))
        created = self.run.epoch + timedelta(seconds=self.sim.now)
        self.seq += 1
        name = shard_name(self.worker_id, created, self.seq)
        meta = ShardMeta(
            source=SELFPLAY,
            model_cycle=snapshot.state.cycle,
            model_step=snapshot.state.step,
            weights_revision=snapshot.revision,
            worker_id=self.worker_id,
            created_at=created,
            n_games=games,
            n_examples=payload,
            value_root_mix=PLAY.value_root_mix,
        )
        self.spool.put(name, self.run.payload(payload), meta)
        self.ledger.spooled(f"{EXP}/{SELFPLAY}/{name}", games, examples)
        self.pending_games = 0


# -- the learner -----------------------------------------------------------------------------------


class CountingReplay:
    """The replay buffer's `ingest`, counting only (the learner's training is simulated)."""

    def __init__(self) -> None:
        self.shards = 0

    def ingest(self, shard, learner_cycle, rng) -> IngestResult:
        self.shards += 1
        return IngestResult(SELFPLAY, 0, len(shard.examples), 0, 0)


class SimLearner:
    """The real Fetcher (reading shards and the state beside training, and pruning) and Publisher
    (publishing beside training); the training thread is a timer every `--cycle-s`."""

    def __init__(self, run: ModeRun) -> None:
        self.run, self.sim, self.ledger = run, run.sim, run.ledger
        self.hub = WatchedHub(run.make_hub("learner"), run.sim)
        self.experiment = BenchExperiment(self.hub, run.ledger, self._published)
        self.state = run.seed_state
        self.cycle = 0
        self.real_examples = 0  # handed over, real counts
        self.consumed = 0  # samples trained within the simulated hours
        self.cycles_in_hours = 0
        self.starved_s = 0.0  # simulated seconds the gate was shut for lack of examples
        self.handoff_real_s = 0.0  # real seconds the training thread spent in take/apply/offer
        self.offered: dict[int, float] = {}  # cycle -> when offered, until published
        self.publish_waits: list[float] = []
        self.published = 0
        self.pruned: set[str] = set()
        self.replay = CountingReplay()
        self.rng = np.random.default_rng(0)
        self.ingestor = Ingestor(self.experiment, set(), {})
        backlog = max(LEARN.replay_buffer_size // 2, LEARN.min_buffer) / run.args.payload_scale
        self.fetcher = Fetcher(
            self.experiment,
            self.ingestor,
            LEARN.poll_interval_s / self.sim.speedup,
            max(1, math.ceil(backlog)),
        )
        self.fetcher._stop = SimEvent(self.sim)  # its poll wait on simulated time
        self.publisher = Publisher(
            self.experiment, retry_wait_s=LEARN.poll_interval_s / self.sim.speedup
        )
        thread = self.publisher._thread
        self.sim.busy_checks.append(
            lambda: (
                self.publisher.waiting is not None
                and thread.is_alive()
                and thread not in self.sim.sleeping
            )
        )
        self.training = False
        self.stopped = False

    def start(self) -> None:
        self.sim.add_actor(self.fetcher._thread)
        self.fetcher.start()
        self.sim.call_at(self.sim.now, self._step)

    def _published(self, cycle: int) -> None:  # in the publisher thread, after the commit
        now = self.sim.now
        with self.ledger.lock:
            for offered in sorted(c for c in self.offered if c <= cycle):
                self.publish_waits.append(now - self.offered.pop(offered))
            self.published += 1

    def _step(self) -> None:
        """The training thread: finish the cycle in progress (publish, prune), then ingest what
        the fetcher read and train the next cycle if the gate is open."""
        if self.stopped:
            return
        started = time.perf_counter()
        now = self.sim.now
        if self.training:
            self.training = False
            self.cycle += 1
            if now <= self.run.hours_s:
                self.consumed += LEARN.training_steps_per_cycle * LEARN.batch_size
                self.cycles_in_hours += 1
            self.state = self.state.model_copy(
                update={
                    "cycle": self.cycle,
                    "step": self.cycle * LEARN.training_steps_per_cycle,
                    "published_at": self.run.epoch + timedelta(seconds=now),
                }
            )
            if self.cycle % LEARN.push_every == 0:
                with self.ledger.lock:
                    self.offered[self.cycle] = now
                self.publisher.offer(Weights(self.run.checkpoint(), {"bench": True}, self.state))
            if self.cycle % LEARN.local_replay_cache_save_every == 0:
                saved = set(self.ingestor.ingested) | set(self.ingestor.rejected)
                self.fetcher.prune_later(saved, LEARN.keep_example_files, self.pruned)
        fetched = self.fetcher.take()
        self.ingestor.apply(fetched, self.replay, self.cycle, self.rng)
        paths = [item.path for item in fetched]
        self.ledger.handed_over(paths)
        with self.ledger.lock:
            self.real_examples += sum(
                self.ledger.shards[p].examples for p in paths if p in self.ledger.shards
            )
        self.ledger.note_fetcher(self.ingestor.fetched)
        self.handoff_real_s += time.perf_counter() - started
        if self.real_examples >= LEARN.min_buffer:
            self.training = True
            self.sim.call_at(now + self.run.args.cycle_s, self._step)
        else:
            if self.cycle:
                self.starved_s += LEARN.poll_interval_s
            self.sim.call_at(now + LEARN.poll_interval_s, self._step)

    def take_last(self) -> None:
        """A clean stop takes what the fetcher read (Learner._shutdown)."""
        self.stopped = True
        leftover = self.fetcher.take()
        self.ingestor.apply(leftover, self.replay, self.cycle, self.rng)
        paths = [item.path for item in leftover]
        self.ledger.handed_over(paths)
        with self.ledger.lock:
            self.real_examples += sum(
                self.ledger.shards[p].examples for p in paths if p in self.ledger.shards
            )

    def close(self) -> None:
        """After Sim.cancel: both threads end at their next wait."""
        self.stopped = True
        self.fetcher.close(timeout_s=30)
        self.publisher.close(timeout_s=0.0)


# -- one mode --------------------------------------------------------------------------------------


class S3Counter:
    """S3 requests by class and simulated second, overall and per prefix: boto3's
    before-parameter-build event, once per API call (the parameters name the key or prefix)."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.lock = threading.Lock()
        self.by_op: Counter[str] = Counter()
        self.per_s: Counter[tuple[str, int]] = Counter()
        self.per_prefix_s: Counter[tuple[str, str, int]] = Counter()

    def __call__(self, model, params, **_) -> None:
        op = model.name
        cls = "put" if op in S3_PUT_CLASS else "get"
        key = params.get("Key") or params.get("Prefix") or ""
        prefix = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        second = int(self.sim.now)
        with self.lock:
            self.by_op[op] += 1
            self.per_s[(cls, second)] += 1
            self.per_prefix_s[(cls, prefix, second)] += 1

    def peaks(self) -> dict:
        with self.lock:
            peak = {
                c: max((n for (k, _), n in self.per_s.items() if k == c), default=0)
                for c in ("put", "get")
            }
            per_prefix = {
                c: max((n for (k, _, _), n in self.per_prefix_s.items() if k == c), default=0)
                for c in ("put", "get")
            }
            return {
                "by_operation": dict(self.by_op),
                "peak_per_s": peak,
                "peak_per_s_per_prefix": per_prefix,
            }


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
                        r.uploaded_at is not None and r.ingested_at is None
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
        duplicated = sum(1 for _, r in records if r.handed_over > 1)
        delays = sorted(
            (r.ingested_at - r.uploaded_at) if r.ingested_at is not None else math.inf
            for r in uploaded
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
                "never_ingested_shards": sum(1 for r in uploaded if r.ingested_at is None),
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


# -- helpers ---------------------------------------------------------------------------------------

_CATEGORIES = [
    ("resolve_head", "HEAD", re.compile(r"/resolve/")),
    ("resolve_get", "GET", re.compile(r"/resolve/")),
    ("repo_info", "GET", re.compile(r"^/api/models/[^/]+/[^/]+(/revision/[^/]+)?$")),
    ("tree", "GET", re.compile(r"/tree/")),
    ("paths_info", "POST", re.compile(r"/paths-info/")),
    ("preupload", "POST", re.compile(r"/preupload/")),
    ("commit", "POST", re.compile(r"/commit/")),
    ("create_repo", "POST", re.compile(r"/api/repos/create")),
]


def _categories(log_rows: list[tuple[str, str, int]]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for method, path, status in list(log_rows):
        name = next((n for n, m, p in _CATEGORIES if m == method and p.search(path)), "other")
        out[name if status != 429 else f"{name}_429"] += 1
    return dict(sorted(out.items()))


def _per_hour(counts: dict[str, int], hours: float) -> dict[str, float]:
    return {k: round(v / hours, 1) for k, v in counts.items()}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    value = values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))]
    return None if math.isinf(value) else round(value, 1)


def _shm() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _no_tqdm_monitor() -> None:
    """tqdm (under huggingface_hub) starts a monitor thread on first use; none is wanted here."""
    try:
        import tqdm
    except ImportError:
        return
    tqdm.tqdm.monitor_interval = 0


def _ignore_cancelled_threads() -> None:
    """The Fetcher's and Publisher's threads end by SimCancelled at the end of a mode: quietly."""
    previous = threading.excepthook

    def hook(args) -> None:
        if not issubclass(args.exc_type, SimCancelled):
            previous(args)

    threading.excepthook = hook


def _quiet() -> None:
    for name in (
        "huggingface_hub",
        "infra",
        "zeb",
        "botocore",
        "boto3",
        "urllib3",
        "werkzeug",
        "moto",
    ):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr, format="%(name)s: %(message)s")
    log.setLevel(logging.ERROR)


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
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
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
                "weights_check_s": WEIGHTS_CHECK_S,
                "samples_per_cycle": LEARN.training_steps_per_cycle * LEARN.batch_size,
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
