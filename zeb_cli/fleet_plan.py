"""What `zeb fleet up --dry-run` and `zeb fleet canary` print: see before you spend."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.fleet.base import LIVE_STATES, Fleet, FleetSpec, free_indices
from infra.fleet.canary import MILESTONES, CanaryReport


def print_plan(fleet: Fleet, spec: FleetSpec, out: Console) -> None:
    """The workers `up` would start, and on Vast the offers and the exact create request."""
    plan = getattr(fleet, "plan", None)
    if plan is None:  # local processes cost nothing: the labels say it all
        records = fleet.status()
        missing = spec.initial_workers - sum(1 for r in records if r.state in LIVE_STATES)
        labels = [str(spec.label(i)) for i in free_indices(records, max(missing, 0))]
        out.print(f"{spec.prefix}: would start {len(labels)} worker(s): {', '.join(labels)}")
        return
    planned = plan(spec.initial_workers)
    table = Table(title=f"{spec.prefix}: would rent {len(planned)} (dry run)", title_justify="left")
    for column in ("worker", "offer", "machine", "gpu", "$/h", "$/1000 games"):
        table.add_column(column)
    for p in planned:
        offer = p.offer.offer
        table.add_row(
            p.label,
            offer.offer_id,
            offer.machine,
            offer.gpu,
            f"{offer.dph:.3f}",
            f"{offer.dollars_per_1000_games:.3f}",
        )
    out.print(table)
    total = sum(p.offer.offer.dph for p in planned)
    out.print(f"total ${total:.3f}/h of the fleet's ${spec.vast.max_dph_fleet:.2f}/h budget")
    if planned:
        first = planned[0]
        out.print(f"create request of {first.label} (secrets masked): {first.path}")
        out.print_json(json.dumps(first.body()))


def print_canary(report: CanaryReport, out: Console) -> None:
    steps = ", ".join(f"{m} {report.seconds[m]:.0f}s" for m in MILESTONES if m in report.seconds)
    out.print(f"canary {report.label} on offer {report.offer or '-'}: {steps or 'nothing'}")
    out.print(f"took {report.total_s:.0f}s at ${report.dph:.3f}/h: cost about ${report.cost:.4f}")
    if report.left_billing:
        out.print(
            "[red]NOT destroyed, still billing:[/red] " + escape("; ".join(report.left_billing)),
            highlight=False,
        )
    if report.failure:
        out.print(f"[red]failed:[/red] {escape(report.failure)}", highlight=False)
    elif report.ok:
        out.print("[green]ok:[/green] the worker ran, beat and uploaded; the fleet can grow")
