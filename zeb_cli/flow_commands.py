"""`zeb create`, `zeb learn`, `zeb rollback`, `zeb verify`: the Prefect flows, from a shell.

Each command runs the same flow function a deployment runs (the UI and the CLI run the same
code), with options generated from the flow's own parameters. With `PREFECT_API_URL` set the run
shows up on that server; without it Prefect starts a temporary local API first, which takes
10-40 s on a small machine (`prefect server start` once, then `export PREFECT_API_URL=...`,
makes every command start at once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from flows.create import create_experiment
from flows.learn import learn_experiment
from zeb_cli.errors import err, fail
from zeb_cli.model_options import (
    ModelGroup,
    OptionError,
    build_model,
    model_options,
    signature_model,
)
from zeb_cli.prefect_runtime import prepare_prefect

out = Console()
CREATE_PARAMS = signature_model(create_experiment.fn, exclude=frozenset({"exp"}))
LEARN_PARAMS = signature_model(learn_experiment.fn, exclude=frozenset({"exp"}))
ExpOption = Annotated[str, typer.Option("--exp", help="Experiment name (the hub namespace).")]
# Errors a user can cause (exit 2) and failures of the work itself (exit 1).
USER_ERRORS = (
    "UserError",
    "SourceError",
    "FleetError",
    "CreditError",
    "ExperimentError",
    "SettingsError",
    "OptionError",
    "LearnerError",
)


def _run(flow_fn: Callable[..., Any], **params: Any) -> Any:
    """Run a flow in this process; its exceptions become one `error:` line."""
    prepare_prefect(err)
    try:
        return flow_fn(**params)
    except Exception as exc:  # noqa: BLE001 - sorted into user errors and failures below
        name = type(exc).__name__
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else name
        raise fail(first, 2 if name in USER_ERRORS else 1) from None


@model_options(params=ModelGroup(CREATE_PARAMS))
def create_command(exp: ExpOption, params: dict | None = None) -> None:
    """Create an experiment: random weights, hf:<experiment or weights file> or local:<path>."""
    values = _validated(CREATE_PARAMS, params)
    summary = _run(create_experiment, exp=exp, **values)
    out.print(summary["message"], highlight=False)
    if summary["created"]:
        out.print(
            f"{summary['parameters']:,} parameters, config {summary['model_config']}; "
            f"W&B run {summary['wandb_run_id']}",
            highlight=False,
        )


@model_options(
    params=ModelGroup(
        LEARN_PARAMS,
        panel="Learn",
        nested_prefix={"selfplay": "selfplay-", "evalaux": "evalaux-"},
    )
)
def learn_command(exp: ExpOption, params: dict | None = None) -> None:
    """Train: the stage's controls, its fleets up, then the learner until it stops (Ctrl-C stops
    it cleanly; the fleets keep running until `zeb fleet down`)."""
    values = _validated(LEARN_PARAMS, params)
    summary = _run(learn_experiment, exp=exp, **values)
    out.print(
        f"{exp}: {summary['cycles']} cycle(s), last cycle {summary['last_cycle']}, "
        f"loss {summary['loss']}, eval mix {summary['eval_mix']}; log {summary['log']}",
        highlight=False,
    )


def rollback_command(exp: ExpOption) -> None:
    """Turn eval-aux off now (fraction 0); the fleets are not touched."""
    from flows.rollback import rollback

    result = _run(rollback, exp=exp)
    out.print(f"{exp}: eval-aux off; controls {result['controls']}", highlight=False)


def verify_command(
    exp: ExpOption,
    recent_s: Annotated[
        float, typer.Option(help="How recent a learner cycle and a publish must be (s).")
    ] = 900.0,
) -> None:
    """Check an experiment's health: a pass/fail table; exits 1 when a check fails."""
    from flows.verify import verify

    prepare_prefect(err)
    state = verify(exp=exp, recent_s=recent_s, return_state=True)
    result = state.result(raise_on_failure=False)
    checks = getattr(result, "checks", None) or (result if isinstance(result, list) else None)
    if checks is None:
        raise fail(str(result).splitlines()[0] if str(result) else "verify failed", 2)
    _print_checks(exp, checks)
    if not all(c["ok"] for c in checks):
        raise typer.Exit(1)


def _validated(model, values: dict | None) -> dict[str, Any]:
    try:
        parsed = build_model(model, values or {})
    except OptionError as exc:
        raise fail(exc) from None
    return {name: getattr(parsed, name) for name in type(parsed).model_fields}


def _print_checks(exp: str, checks: list[dict[str, Any]]) -> None:
    table = Table(title=f"{exp}: verify", title_justify="left")
    for column in ("check", "result", "detail", "what to do"):
        table.add_column(column)
    for c in checks:
        mark = "[green]PASS[/green]" if c["ok"] else "[red]FAIL[/red]"
        table.add_row(c["name"], mark, c["detail"], c["fix"])
    out.print(table)
