"""Fleet status and health reports as plain rows: the CLI prints them with rich, the flows publish
them as Prefect table artifacts, `--json` prints them as they are."""

from __future__ import annotations

from datetime import datetime

from infra.fleet.base import CostSummary, WorkerRecord
from infra.fleet.health import HealthReport
from infra.fleet.memory import FleetMemory


def _age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "-"
    seconds = max((now - then).total_seconds(), 0.0)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.3f}"


def short_label(label: str) -> str:
    """`worker-<provider>-<i>`: the table's title already names the fleet."""
    at = label.rfind("-worker-")
    return label[at + 1 :] if at >= 0 else label


def status_rows(
    records: list[WorkerRecord], now: datetime, short: bool = True
) -> list[dict[str, str]]:
    rows = []
    for r in records:
        beat = r.heartbeat
        rows.append(
            {
                "worker": short_label(r.label) if short else r.label,
                "id": r.provider_id,
                "state": r.state + (f" ({beat.phase})" if beat else ""),
                "started": _age(now, r.started_at),
                "batches": str(beat.batches) if beat else "-",
                "games": str(beat.games) if beat else "-",
                "games/s": f"{beat.games_per_s:.2f}" if beat else "-",
                "spooled": str(beat.spooled_games) if beat else "-",
                "last batch": _age(now, beat.last_batch_at if beat else None),
                "last shard": _age(now, r.last_shard_at),
                "$/h": _money(r.dph),
                "machine": r.machine or "-",
                "gpu": r.gpu or "-",
            }
        )
    return rows


def cost_line(cost: CostSummary) -> str:
    per_1000 = _money(cost.dollars_per_1000_games)
    return f"${cost.dph:.3f}/h now, {cost.games_per_s:.2f} games/s, {per_1000} per 1000 games"


def memory_lines(memory: FleetMemory, now: datetime) -> list[str]:
    lines = [f"health passes: {memory.passes}, last {_age(now, memory.last_pass_at)}"]
    if memory.lost_games:
        lines.append(f"games lost with destroyed machines (never uploaded): {memory.lost_games}")
    if memory.waiting_for_credit(now):
        until = memory.credit_wait_until
        lines.append(f"waiting for credit until {until:%H:%M:%S} UTC: {memory.credit_message}")
    strikes = {m: n for m, n in memory.machine_strikes.items() if n}
    if strikes:
        shown = ", ".join(
            f"{m}: {n}" + (" (blacklisted)" if memory.blacklisted(m) else "")
            for m, n in sorted(strikes.items())
        )
        lines.append(f"machine strikes: {shown}")
    for label, trial in memory.trials.items():
        lines.append(
            f"trial {label} (since {_age(now, trial.started_at)}) may replace {trial.replaces}"
        )
    for label, seen in sorted(memory.workers.items()):
        lines.append(
            f"{label}: {seen.batches} batches seen, progress {_age(now, seen.progress_at)}, "
            f"{seen.state or '?'} since {_age(now, seen.state_since)}"
        )
    return lines


def health_rows(report: HealthReport, short: bool = True) -> list[dict[str, str]]:
    return [
        {
            "worker": (short_label(v.label) if short else v.label)
            + (" (trial)" if v.trial else ""),
            "id": v.provider_id,
            "health": v.health,
            "why": v.reason or "-",
            "batches": str(v.batches),
            "games/s": f"{v.games_per_s:.2f}",
            "progress": "-" if v.progress_age_s is None else f"{v.progress_age_s:.0f}s ago",
            "$/h": _money(v.dph),
            "action": v.action or "-",
        }
        for v in report.verdicts
    ]


def health_summary(report: HealthReport) -> list[str]:
    verdict = "healthy" if report.healthy else "NOT healthy"
    lines = [
        f"{report.fleet} ({report.provider}): {verdict}, {len(report.verdicts)} worker(s) for a "
        f"target of {report.target}; pass took {report.seconds:.1f}s"
        + (" (dry run)" if report.dry_run else ""),
        "cost: " + cost_line(report.cost),
    ]
    lines += ["sizing: " + line for line in (report.sizing.lines() if report.sizing else [])]
    lines += [f"action: {a}" for a in report.actions]
    lines += [f"note: {n}" for n in report.notes]
    lines += [f"error: {e}" for e in report.errors]
    return lines
