"""One health pass over one fleet: observe every worker, classify it, act, and report.

There is no loop inside: a scheduler (the `fleet-health` flow, or `zeb fleet health` by hand) calls
`health_pass` again. What a pass must remember (progress seen and when, strikes per machine,
trials, credit waits) lives in the fleet's memory file (`memory.py`), so passes in different
processes continue one another and no pass spends a hub commit. What each health means, and how
a worker gets it, is `classify.py`.

A fleet whose target is `auto` is held at the size the learner can use (`sizing.py`), read from
the experiment's state; every report carries that sizing when the learner has measured.

Actions, in order: stop duplicates of a label (keeping the one that produces, else the newest),
replace the broken (striking their machine), stop what is beyond the target, start what is missing
(a few per pass, unless the account waits for credit), and, when every worker is ok and an offer
is at least `trial_gain` cheaper per game than the worst worker, start one trial worker and stop
the worst once the trial produces. `dry_run` reports the plan and changes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime

from infra.experiment_state import ExperimentState
from infra.fleet.base import LIVE_STATES, CostSummary, CreditError, Fleet, FleetError, WorkerRecord
from infra.fleet.classify import Health, HealthConfig, classify, observe
from infra.fleet.memory import FleetMemory, FleetStore, TrialMemory, utcnow
from infra.fleet.sizing import FleetSizing, fleet_sizing, resolve_target

log = logging.getLogger("zeb.fleet")
BROKEN: tuple[Health, ...] = ("error", "stalled")


@dataclass
class Verdict:
    label: str
    provider_id: str
    health: Health
    reason: str
    batches: int
    games_per_s: float
    dph: float | None
    progress_age_s: float | None  # seconds since its last progress, None before the first
    trial: bool = False
    action: str = ""
    lost_games: int = 0  # spooled games its machine takes with it when this pass destroys it


@dataclass
class HealthReport:
    fleet: str
    provider: str
    target: int
    at: datetime
    dry_run: bool
    verdicts: list[Verdict] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cost: CostSummary = CostSummary(0.0, 0.0, None)
    sizing: FleetSizing | None = None  # what the learner can use of this fleet, once measured
    seconds: float = 0.0

    @property
    def healthy(self) -> bool:
        """Every worker ok, as many as the target, and no error on the way."""
        ok = [v for v in self.verdicts if v.health == "ok" and not v.trial]
        return not self.errors and len(ok) == self.target == len(
            [v for v in self.verdicts if not v.trial]
        )

    def to_json_dict(self) -> dict:
        out = asdict(self)
        out["at"] = self.at.isoformat()
        out["healthy"] = self.healthy
        return out


# -- the pass ----------------------------------------------------------------------------------


class _Pass:
    """The state of one pass: what was seen, what was done, and the time budget."""

    def __init__(
        self,
        fleet: Fleet,
        memory: FleetMemory,
        config: HealthConfig,
        dry_run: bool,
        now: datetime | None,
    ) -> None:
        self.fleet = fleet
        self.memory = memory
        self.config = config
        self.dry_run = dry_run
        self.started = time.monotonic()
        self.now = now or utcnow()
        self.target = fleet.spec.initial_workers  # resolved once the workers are seen
        self.report = HealthReport(
            fleet=fleet.spec.prefix,
            provider=fleet.spec.provider,
            target=self.target,
            at=self.now,
            dry_run=dry_run,
        )

    def stop_worker(self, what: str, record: WorkerRecord, verdict: Verdict, fn, *args) -> bool:
        """Stop or replace one worker, counting the games its spool loses with its machine."""
        lost = _spooled_games(record) if self.fleet.destroys_spool else 0
        if lost:
            what += f"; its {lost} spooled game(s) are lost with the machine"
        done = self.act(what, fn, *args)
        if done and lost:
            verdict.lost_games = lost
            if not self.dry_run:
                self.memory.lost_games += lost
        return done

    def act(self, what: str, fn, *args) -> bool:
        """Do (or, dry, only report) one action; False when it failed or the budget is spent."""
        if time.monotonic() - self.started > self.config.time_budget_s:
            self.report.notes.append(f"deferred to the next pass (time budget spent): {what}")
            return False
        self.report.actions.append(("would " if self.dry_run else "") + what)
        if self.dry_run:
            return True
        try:
            fn(*args)
            return True
        except CreditError as exc:
            self._credit_wait(str(exc))
        except FleetError as exc:
            self.report.errors.append(f"{what}: {exc}")
        return False

    def _credit_wait(self, message: str) -> None:
        self.memory.start_credit_wait(self.now, message, self.config.credit_probe_s)
        self.report.notes.append(
            f"account lacks credit ({message}); not growing until "
            f"{self.memory.credit_wait_until:%H:%M:%S} UTC"
        )


def health_pass(
    fleet: Fleet,
    store: FleetStore,
    config: HealthConfig | None = None,
    dry_run: bool = False,
    now: datetime | None = None,  # tests move the clock; passes use the wall clock
    state: ExperimentState | None = None,  # the learner's throughput and controls (sizing)
) -> HealthReport:
    """Observe, classify and act on one fleet once; return what was seen and done."""
    run = _Pass(fleet, store.load_memory(), config or HealthConfig(), dry_run, now)
    try:
        records = fleet.status()
    except FleetError as exc:
        run.report.errors.append(f"status: {exc}")
        return _finish(run, store)
    verdicts = _classify_all(run, records)
    _size(run, records, state)
    _stop_duplicates(run, records, verdicts)
    _resolve_trials(run, records, verdicts)
    _replace_broken(run, records, verdicts)
    _stop_extras(run, records, verdicts)
    _replenish(run, records, verdicts)
    _maybe_trial(run, records, verdicts)
    run.report.verdicts = [verdicts[id(r)] for r in records]
    run.report.cost = CostSummary.of(records)
    return _finish(run, store)


def _finish(run: _Pass, store: FleetStore) -> HealthReport:
    run.memory.passes += 1
    run.memory.last_pass_at = run.now
    if not run.dry_run:
        store.save_memory(run.memory)
    run.report.seconds = time.monotonic() - run.started
    for line in run.report.actions + run.report.errors:
        log.info("%s: %s", run.report.fleet, line)
    return run.report


def _size(run: _Pass, records: list[WorkerRecord], state: ExperimentState | None) -> None:
    spec = run.fleet.spec
    run.report.sizing = fleet_sizing(spec.role, records, state)
    live = sum(1 for r in records if r.state in LIVE_STATES and r.label not in run.memory.trials)
    run.target = run.report.target = resolve_target(spec, run.report.sizing, live)


def _classify_all(run: _Pass, records: list[WorkerRecord]) -> dict[int, Verdict]:
    verdicts: dict[int, Verdict] = {}
    for record in records:
        seen = observe(record, run.memory, run.now)
        health, reason = classify(record, seen, run.now, run.config)
        if health == "ok" and record.heartbeat and record.heartbeat.games_per_s > 0:
            run.memory.observe_throughput(record.gpu, record.machine, record.games_per_s)
        age = (run.now - seen.progress_at).total_seconds() if seen.progress_at else None
        verdicts[id(record)] = Verdict(
            label=record.label,
            provider_id=record.provider_id,
            health=health,
            reason=reason,
            batches=seen.batches,
            games_per_s=record.games_per_s,
            dph=record.dph,
            progress_age_s=age,
            trial=record.label in run.memory.trials,
        )
    seen = {r.label for r in records}
    run.memory.workers = {k: v for k, v in run.memory.workers.items() if k in seen}
    run.memory.trials = {k: v for k, v in run.memory.trials.items() if k in seen}
    return verdicts


def _live(records: list[WorkerRecord], verdicts: dict[int, Verdict]) -> list[WorkerRecord]:
    """Workers that still count: live (billing) and not stopped by this pass."""
    return [
        r
        for r in records
        if r.state in LIVE_STATES and verdicts[id(r)].action not in ("stop", "replace")
    ]


def _stop_duplicates(run: _Pass, records: list[WorkerRecord], verdicts: dict[int, Verdict]) -> None:
    by_label: dict[str, list[WorkerRecord]] = {}
    for record in _live(records, verdicts):
        by_label.setdefault(record.label, []).append(record)
    for label, same in by_label.items():
        if len(same) < 2:
            continue
        keep = max(same, key=lambda r: _keep_rank(r, verdicts[id(r)]))
        for record in same:
            if record is not keep:
                verdict = verdicts[id(record)]
                verdict.action = "stop"
                what = f"stop duplicate {label} ({record.provider_id})"
                run.stop_worker(what, record, verdict, run.fleet.stop, record)


def _keep_rank(record: WorkerRecord, verdict: Verdict) -> tuple:
    """Among duplicates keep the one producing, then the most batches, then the newest."""
    started = record.started_at.timestamp() if record.started_at else 0.0
    return (verdict.health == "ok", verdict.batches, started)


def _resolve_trials(run: _Pass, records: list[WorkerRecord], verdicts: dict[int, Verdict]) -> None:
    for record in records:
        trial = run.memory.trials.get(record.label)
        verdict = verdicts[id(record)]
        if trial is None or verdict.action:
            continue
        if verdict.health == "ok":
            worst = [r for r in _live(records, verdicts) if r.label == trial.replaces]
            for old in worst:
                verdicts[id(old)].action = "stop"
                what = f"stop {old.label}: trial {record.label} produces"
                run.stop_worker(what, old, verdicts[id(old)], run.fleet.stop, old)
            run.memory.trials.pop(record.label, None)
            verdict.trial = False  # from now on a regular worker of the fleet
        elif verdict.health in BROKEN:
            verdict.action = "stop"
            run.memory.strike(record.machine if run.fleet.spec.provider != "local" else None)
            what = f"stop failed trial {record.label}: {verdict.reason}"
            run.stop_worker(what, record, verdict, run.fleet.stop, record)
            run.memory.trials.pop(record.label, None)


def _replace_broken(run: _Pass, records: list[WorkerRecord], verdicts: dict[int, Verdict]) -> None:
    live_labels = {
        r.label for r in _live(records, verdicts) if verdicts[id(r)].health not in BROKEN
    }
    done: set[str] = set()
    for record in records:
        verdict = verdicts[id(record)]
        if verdict.health not in BROKEN or verdict.trial or verdict.action:
            continue
        if record.label in live_labels or record.label in done:
            verdict.action = "forget"  # a healthy worker already holds this label
            continue
        verdict.action = "replace"
        done.add(record.label)
        if run.fleet.spec.provider != "local":
            run.memory.strike(record.machine)
        what = f"replace {record.label} ({verdict.health}: {verdict.reason})"
        run.stop_worker(what, record, verdict, run.fleet.replace, record.label)


def _stop_extras(run: _Pass, records: list[WorkerRecord], verdicts: dict[int, Verdict]) -> None:
    regular = [r for r in _live(records, verdicts) if not verdicts[id(r)].trial]
    replaced = sum(1 for v in verdicts.values() if v.action == "replace")
    extra = len(regular) + replaced - run.target
    for record in sorted(regular, key=lambda r: -r.index)[: max(extra, 0)]:
        verdicts[id(record)].action = "stop"
        what = f"stop {record.label}: beyond the target of {run.target}"
        run.stop_worker(what, record, verdicts[id(record)], run.fleet.stop, record)


def _replenish(run: _Pass, records: list[WorkerRecord], verdicts: dict[int, Verdict]) -> None:
    regular = [r for r in _live(records, verdicts) if not verdicts[id(r)].trial]
    replaced = sum(1 for v in verdicts.values() if v.action == "replace")
    missing = run.target - len(regular) - replaced
    if missing <= 0:
        return
    if run.memory.waiting_for_credit(run.now):
        run.report.notes.append(
            f"not starting {missing} worker(s): waiting for credit until "
            f"{run.memory.credit_wait_until:%H:%M:%S} UTC ({run.memory.credit_message})"
        )
        return
    count = min(missing, run.config.replenish_batch)
    trials = sum(1 for r in _live(records, verdicts) if verdicts[id(r)].trial)
    n = len(regular) + replaced + trials + count
    run.act(f"start {count} worker(s) toward the target of {run.target}", run.fleet.up, n)


def _spooled_games(record: WorkerRecord) -> int:
    return record.heartbeat.spooled_games if record.heartbeat else 0


def _maybe_trial(run: _Pass, records: list[WorkerRecord], verdicts: dict[int, Verdict]) -> None:
    live = _live(records, verdicts)
    if run.memory.trials or run.report.actions or len(live) != run.target:
        return
    if not live or any(verdicts[id(r)].health != "ok" for r in live):
        return
    costs = {id(r): r.dph / r.games_per_s / 3.6 for r in live if r.dph and r.games_per_s > 0}
    if len(costs) < len(live) or run.memory.waiting_for_credit(run.now):
        return
    try:
        offers = run.fleet.offers()
    except FleetError as exc:
        run.report.errors.append(f"offers: {exc}")
        return
    if not offers:
        return
    worst = max(live, key=lambda r: costs[id(r)])
    best = offers[0]
    if best.dollars_per_1000_games > (1 - run.config.trial_gain) * costs[id(worst)]:
        return
    index = max(r.index for r in records) + 1
    label = str(run.fleet.spec.label(index))
    what = (
        f"start trial {label} on {best.gpu} (${best.dollars_per_1000_games:.3f}/1000 games vs "
        f"${costs[id(worst)]:.3f} for {worst.label})"
    )
    if run.act(what, run.fleet.start, label) and not run.dry_run:
        run.memory.trials[label] = TrialMemory(replaces=worst.label, started_at=run.now)
