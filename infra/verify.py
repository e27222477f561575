"""The health checks of an experiment: the original's verify list and what users need besides.

    fleets healthy        every fleet of this machine at its target, every worker ok (a dry-run
                          health pass: nothing is changed)
    examples              self-play shards under EXP/ (stage 1: eval-aux shards too)
    eval mix              the learner's last cycle drew eval-aux rows near the fraction it was
                          configured with
    controls applied      the learner's last cycle used the controls the state holds now
    eval-aux policy 0     eval-aux trains value and belief only
    W&B lineage           a W&B run id in the state
    learner alive         a learner cycle within `recent_s`
    weights published     a publish within `recent_s`

Each check says what to do when it fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from infra.experiment import Experiment
from infra.experiment_state import ExperimentState
from infra.fleet.health import HealthReport
from infra.fleet.hub_view import ROLE_SOURCE

MIX_TOLERANCE = 0.02  # absolute; or half the configured fraction, whichever is larger


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Evidence:
    """What the checks look at, gathered by the caller (the hub, the fleets, the learner)."""

    state: ExperimentState
    sources: set[str]  # example source families present under EXP/
    status: dict[str, Any] | None  # the learner's last status.json, if any
    fleets: list[HealthReport]  # dry-run health passes, one per fleet of this machine
    now: datetime
    recent_s: float = 900.0


def gather_sources(experiment: Experiment) -> set[str]:
    return set(experiment.list_examples())


def run_checks(evidence: Evidence) -> list[Check]:
    checks: list[Callable[[Evidence], Check]] = [
        fleets_healthy,
        examples_present,
        eval_mix,
        controls_applied,
        eval_aux_policy_zero,
        wandb_lineage,
        learner_alive,
        weights_published,
    ]
    return [check(evidence) for check in checks]


def stage(state: ExperimentState) -> int:
    return 1 if state.controls.eval_aux_enabled else 0


def fleets_healthy(e: Evidence) -> Check:
    fix = "zeb fleet health --exp EXP (or wait for the fleet-health schedule); zeb fleet status"
    if not e.fleets:
        return Check("fleets healthy", False, "no fleet on this machine", "zeb fleet up, or learn")
    bad = [r for r in e.fleets if not r.healthy]
    detail = "; ".join(
        f"{r.fleet}: {sum(v.health == 'ok' for v in r.verdicts)}/{r.target} ok"
        + "".join(f" ({line})" for line in (r.sizing.lines() if r.sizing else []))
        for r in e.fleets
    )
    return Check("fleets healthy", not bad, detail, "" if not bad else fix)


def examples_present(e: Evidence) -> Check:
    wanted = {ROLE_SOURCE["selfplay"]} | ({ROLE_SOURCE["evalaux"]} if stage(e.state) else set())
    missing = sorted(wanted - e.sources)
    detail = f"stage {stage(e.state)}: " + ", ".join(
        f"{s} {'present' if s in e.sources else 'MISSING'}" for s in sorted(wanted)
    )
    fix = "check that the fleets produce and upload (zeb fleet status)" if missing else ""
    return Check("examples under EXP/", not missing, detail, fix)


def eval_mix(e: Evidence) -> Check:
    if e.status is None:
        return Check("eval mix", False, "no learner cycle seen", "start learn")
    actual = float(e.status.get("train/eval_aux_fraction", 0.0))
    wanted = float(e.status.get("controls/eval_aux_batch_fraction", 0.0))
    wanted *= float(e.status.get("controls/eval_aux_enabled", 0.0))
    ok = abs(actual - wanted) <= max(MIX_TOLERANCE, 0.5 * wanted)
    detail = f"cycle {e.status.get('cycle')}: actual {actual:.3f}, configured {wanted:.3f}"
    fix = "" if ok else "eval-aux rows are missing: check the eval-aux fleet and its shards"
    return Check("eval mix", ok, detail, fix)


def controls_applied(e: Evidence) -> Check:
    if e.status is None:
        return Check("controls applied", False, "no learner cycle seen", "start learn")
    c = e.state.controls
    used = (
        bool(e.status.get("controls/eval_aux_enabled", 0.0)),
        float(e.status.get("controls/eval_aux_batch_fraction", 0.0)),
    )
    ok = used == (c.eval_aux_enabled, c.eval_aux_batch_fraction)
    detail = f"state: eval-aux {_onoff(c.eval_aux_enabled)} at {c.eval_aux_batch_fraction:.3f}; "
    detail += f"last cycle: {_onoff(used[0])} at {used[1]:.3f}"
    fix = "" if ok else "a running learner applies them within one cycle; else start learn"
    return Check("controls applied", ok, detail, fix)


def eval_aux_policy_zero(e: Evidence) -> Check:
    weight = e.state.controls.eval_aux_policy_weight
    fix = "" if weight == 0 else "zeb rollback, or learn stage 1 (it writes policy weight 0)"
    return Check("eval-aux policy weight 0", weight == 0, f"weight {weight}", fix)


def wandb_lineage(e: Evidence) -> Check:
    run_id = e.state.wandb_run_id
    fix = "" if run_id else "run learn once (or zeb create): it starts the lineage"
    return Check("W&B run id", bool(run_id), run_id or "none in the state", fix)


def learner_alive(e: Evidence) -> Check:
    if e.status is None:
        return Check("learner alive", False, "no learner status on this machine", "start learn")
    updated = datetime.fromisoformat(e.status["updated_at"])
    age = (e.now - updated).total_seconds()
    ok = age <= e.recent_s
    detail = f"last cycle {e.status.get('cycle')} {age:.0f}s ago"
    return Check("learner alive", ok, detail, "" if ok else "start learn (learn/stage0 or 1)")


def weights_published(e: Evidence) -> Check:
    when = e.state.published_at
    if when is None:
        return Check("weights published", False, "never published", "start learn")
    age = (e.now - when).total_seconds()
    ok = age <= e.recent_s
    fix = "" if ok else "the learner is not publishing: check learn's log"
    return Check("weights published", ok, f"cycle {e.state.cycle}, {age:.0f}s ago", fix)


def _onoff(flag: bool) -> str:
    return "on" if flag else "off"
