"""Finding, validating and ingesting new shards from the hub, and pruning old ones."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from infra.experiment import Experiment
from infra.hub.base import FileInfo, HubError
from zeb_core.data.replay import ReplayBuffer
from zeb_core.data.shards import SELFPLAY, ShardError, shard_from_bytes

log = logging.getLogger("zeb.learner")
_STAMP = re.compile(r"-(\d{8}T\d{6}Z)-(\d+)\.npz$")


def shard_time(name: str) -> datetime | None:
    """The UTC creation time written into a shard's name, if it has one."""
    match = _STAMP.search(name)
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def age_order(info: FileInfo) -> tuple[str, str]:
    """Oldest first across workers (names sort by worker first, so sort by the stamp)."""
    match = _STAMP.search(info.path)
    return (match.group(1) if match else "", info.path)


@dataclass
class IngestReport:
    shards: int = 0
    examples: dict[str, int] = field(default_factory=dict)  # source -> examples kept
    games: int = 0  # self-play games
    rejected: int = 0
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

    def new_shards(self) -> list[FileInfo]:
        listing = self.experiment.list_examples()
        fresh = [
            info
            for files in listing.values()
            for info in files
            if info.path not in self.ingested and info.path not in self.rejected
        ]
        return sorted(fresh, key=age_order)

    def ingest(self, replay: ReplayBuffer, cycle: int, rng: np.random.Generator) -> IngestReport:
        """Every new shard, oldest first. A hub failure stops the ingest part way and the report
        says so: what was read before it is in the replay and in the report."""
        report = IngestReport()
        try:
            for info in self.new_shards():
                self._ingest_one(info, replay, cycle, rng, report)
        except HubError as exc:
            report.interrupted = str(exc)
        if report.shards or report.rejected:
            self.last_new_at = time.monotonic()
        return report

    def _ingest_one(
        self,
        info: FileInfo,
        replay: ReplayBuffer,
        cycle: int,
        rng: np.random.Generator,
        report: IngestReport,
    ) -> None:
        data = self.experiment.read_example(info.path)
        try:
            shard = shard_from_bytes(data, info.path)
        except ShardError as exc:
            self.rejected[info.path] = str(exc)
            report.rejected += 1
            log.warning("set aside shard %s", exc)
            return
        result = replay.ingest(shard, cycle, rng)
        self.ingested.add(info.path)
        report.shards += 1
        report.examples[result.source] = report.examples.get(result.source, 0) + result.kept
        created = shard.meta.created_at
        if shard.meta.source == SELFPLAY:
            if self.count_after is None or created > self.count_after:
                report.games += shard.meta.n_games
            report.selfplay_lag.append(max(cycle - shard.meta.model_cycle, 0))
        report.newest_created = max(report.newest_created or created, created)


def prune(experiment: Experiment, saved: set[str], keep: int) -> int:
    """Delete, in one commit, the oldest shards beyond `keep` per source, among those the saved
    ledger holds (a shard the saved snapshot does not hold is never deleted)."""
    doomed: list[str] = []
    for files in experiment.list_examples().values():
        ordered = sorted(files, key=age_order)
        doomed += [f.path for f in ordered[: max(len(ordered) - keep, 0)] if f.path in saved]
    if doomed:
        experiment.delete_examples(doomed)
        log.info("pruned %d old shard(s)", len(doomed))
    return len(doomed)
