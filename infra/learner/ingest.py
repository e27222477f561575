"""Finding, validating and ingesting new shards from the hub, and pruning old ones.

A fleet can make more than a learner can train on. The fetcher then reads the newest shards and
sets the older ones aside as surplus (`fetch(keep_examples=...)`): recorded in the ledger beside
rejected shards (so never read, and pruned like the rest), counted in each report and in the
`ingest/surplus_total` metric, never silently dropped. Reading them oldest first instead would put
the learner ever further behind its fleet.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from infra.experiment import Experiment
from infra.hub.base import FileInfo, HubError
from zeb_core.data.replay import ReplayBuffer
from zeb_core.data.shards import (
    EVAL_AUX,
    SELFPLAY,
    Shard,
    ShardError,
    shard_from_bytes,
    shard_time,
)

log = logging.getLogger("zeb.learner")
SOURCES = (SELFPLAY, EVAL_AUX)
_UNSTAMPED = datetime.min.replace(tzinfo=UTC)


def age_order(info: FileInfo) -> tuple[datetime, str]:
    """Oldest first across workers (names sort by worker first, so sort by the stamp)."""
    return (shard_time(info.name) or _UNSTAMPED, info.path)


@dataclass(frozen=True)
class Fetched:
    """A shard read from the hub: parsed, or the reason it is set aside."""

    path: str
    shard: Shard | None
    error: str
    surplus: bool = False  # set aside unread: newer shards hold what the learner can use

    @property
    def examples(self) -> int:
        return 0 if self.shard is None else self.shard.meta.n_examples


@dataclass
class IngestReport:
    shards: int = 0
    examples: dict[str, int] = field(default_factory=dict)  # source -> examples kept
    games: int = 0  # self-play games
    # What the shards held, per source, kept or not (the fleet's production, for sizing).
    shard_examples: dict[str, int] = field(default_factory=dict)
    shard_games: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    surplus: int = 0  # shards set aside unread (what the fleet made beyond the learner's use)
    newest_created: datetime | None = None
    selfplay_lag: list[int] = field(default_factory=list)
    interrupted: str = ""  # the hub error that stopped this ingest part way ("" = none)


class Ingestor:
    """Takes every shard on the hub that the learner has not seen yet, exactly once."""

    def __init__(
        self,
        experiment: Experiment,
        ingested: set[str],
        rejected: dict[str, str],
        count_after: datetime | None = None,  # games of older shards are counted already
    ):
        self.experiment = experiment
        self.ingested = ingested
        self.rejected = rejected
        self.count_after = count_after
        self.last_new_at = time.monotonic()
        self.cursor: dict | None = None  # object storage: where each worker's listing ended
        self.fetched: set[str] = set()  # read already, applied or waiting to be
        # Listed and not read yet (a fetch reads at most `limit`, a hub error stops it): a
        # cursor never lists them again, so they wait here for the next fetch.
        self.unread: list[FileInfo] = []
        self._read_bytes = 0  # of the shards read: their bytes per example sizes the surplus
        self._read_examples = 0

    def new_shards(self) -> list[FileInfo]:
        """Shards not seen yet, oldest first: by cursor in object storage (only what is new
        is listed), by one listing of the folder in a repo."""
        listing, cursor = self.experiment.list_new_examples(SOURCES, self.cursor)
        self.cursor = cursor
        known = (self.ingested, self.rejected, self.fetched)
        merged = {info.path: info for info in [*self.unread, *listing]}
        fresh = [info for info in merged.values() if not any(info.path in k for k in known)]
        self.unread = sorted(fresh, key=age_order)
        return self.unread

    def fetch(
        self, limit: int | None = None, keep_examples: int | None = None
    ) -> tuple[list[Fetched], str]:
        """Read and check new shards from the hub (the I/O half, safe beside training): up to
        `limit`, oldest first, and the hub error that stopped it part way ("" if none). With
        `keep_examples`, shards older than that many examples of newer ones are set aside as
        surplus, unread."""
        out: list[Fetched] = []
        try:
            fresh = self.new_shards()
            if keep_examples is not None:
                fresh, out = self._set_aside_surplus(fresh, keep_examples)
            for info in fresh[:limit]:
                out.append(self._read(info))
                self.fetched.add(info.path)
        except HubError as exc:
            return out, str(exc)
        return out, ""

    def _set_aside_surplus(
        self, fresh: list[FileInfo], keep_examples: int
    ) -> tuple[list[FileInfo], list[Fetched]]:
        """Split the unread shards (oldest first) into the newest ones that hold about
        `keep_examples` examples, and the surplus before them. Sizes are estimated from the
        listing's bytes at the bytes per example of the shards read so far (none read yet, or
        sizes unknown: nothing is surplus)."""
        if not self._read_examples:
            return fresh, []
        bytes_per_example = self._read_bytes / self._read_examples
        newer = 0.0
        cut = 0
        for index in range(len(fresh) - 1, -1, -1):
            newer += fresh[index].size / bytes_per_example
            if newer > keep_examples:
                cut = index  # the shard that crosses the line is kept, older ones are not
                break
        surplus = [
            Fetched(info.path, None, f"surplus: {newer:.0f}+ newer examples", surplus=True)
            for info in fresh[:cut]
        ]
        self.fetched.update(item.path for item in surplus)
        return fresh[cut:], surplus

    def apply(
        self, fetched: list[Fetched], replay: ReplayBuffer, cycle: int, rng: np.random.Generator
    ) -> IngestReport:
        """Put fetched shards into the replay buffer (the training thread's half)."""
        report = IngestReport()
        for item in fetched:
            if item.path in self.ingested or item.path in self.rejected:
                continue
            self._apply_one(item, replay, cycle, rng, report)
        if report.shards or report.rejected:
            self.last_new_at = time.monotonic()
        return report

    def ingest(self, replay: ReplayBuffer, cycle: int, rng: np.random.Generator) -> IngestReport:
        """Fetch and apply every new shard now, oldest first. A hub failure stops the ingest
        part way and the report says so: what was read before it is in the replay."""
        fetched, interrupted = self.fetch()
        report = self.apply(fetched, replay, cycle, rng)
        report.interrupted = interrupted
        return report

    def _read(self, info: FileInfo) -> Fetched:
        data = self.experiment.read_example(info.path)
        try:
            shard = shard_from_bytes(data, info.path)
        except ShardError as exc:
            return Fetched(info.path, None, str(exc))
        self._read_bytes += len(data)
        self._read_examples += shard.meta.n_examples
        return Fetched(info.path, shard, "")

    def _apply_one(
        self,
        item: Fetched,
        replay: ReplayBuffer,
        cycle: int,
        rng: np.random.Generator,
        report: IngestReport,
    ) -> None:
        if item.surplus:  # in the ledger beside rejected shards: never read, pruned alike
            self.rejected[item.path] = item.error
            report.surplus += 1
            return
        if item.shard is None:
            self.rejected[item.path] = item.error
            report.rejected += 1
            log.warning("set aside shard %s", item.error)
            return
        shard = item.shard
        result = replay.ingest(shard, cycle, rng)
        self.ingested.add(item.path)
        report.shards += 1
        report.examples[result.source] = report.examples.get(result.source, 0) + result.kept
        meta = shard.meta
        produced = ((report.shard_examples, meta.n_examples), (report.shard_games, meta.n_games))
        for table, n in produced:
            table[meta.source] = table.get(meta.source, 0) + n
        created = shard.meta.created_at
        if shard.meta.source == SELFPLAY:
            if self.count_after is None or created > self.count_after:
                report.games += shard.meta.n_games
            report.selfplay_lag.append(max(cycle - shard.meta.model_cycle, 0))
        report.newest_created = max(report.newest_created or created, created)


def prune(experiment: Experiment, saved: set[str], keep: int, pruned: set[str]) -> int:
    """Delete, in one commit, the oldest shards beyond `keep` per source, among those the saved
    ledger holds (a shard the saved snapshot does not hold is never deleted). Object storage is
    not listed for it: the ledger knows its shards, and `pruned` what is gone already."""
    if experiment.examples_by_cursor:
        by_source: dict[str, list[str]] = {}
        for path in saved - pruned:
            by_source.setdefault(path.split("/")[1], []).append(path)
        files = {s: [FileInfo(p, 0) for p in paths] for s, paths in by_source.items()}
    else:
        files = experiment.list_examples()
    doomed: list[str] = []
    for infos in files.values():
        ordered = sorted(infos, key=age_order)
        doomed += [f.path for f in ordered[: max(len(ordered) - keep, 0)] if f.path in saved]
    if doomed:
        experiment.delete_examples(doomed)
        pruned.update(doomed)
        log.info("pruned %d old shard(s)", len(doomed))
    return len(doomed)
