"""What the hub-scale bench counts: every shard from its upload to its ingest, the hub calls of
the training thread, and the S3 requests.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from hub_sim.clock import Sim
from hub_sim.common import EXP, S3_PUT_CLASS
from infra.experiment import Experiment

# -- accounting ------------------------------------------------------------------------------------


@dataclass
class ShardRecord:
    games: int
    examples: int  # the real count (the payload holds 1/payload_scale of it)
    spooled_at: float
    uploaded_at: float | None = None
    ingested_at: float | None = None
    set_aside_at: float | None = None  # the fetcher set it aside unread, as surplus
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

    def handed_over(self, paths: list[str], surplus: bool = False) -> None:
        with self.lock:
            for path in paths:
                record = self.shards.get(path)
                if record is None:
                    continue
                record.handed_over += 1
                if surplus:
                    record.set_aside_at = record.set_aside_at or self.sim.now
                elif record.ingested_at is None:
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
