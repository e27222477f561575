"""What the flows share: the settings, the hub, task conventions and artifact keys.

Task conventions (Prefect docs, "Style we aim for" in DESIGN.md): tasks are small; only tasks
that do I/O retry, and only on trouble that waiting can fix (a hub or provider outage), never on
a user's mistake; no task that polls or has side effects uses Prefect's result cache.
"""

from __future__ import annotations

import inspect
import os
import re
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from prefect import get_client, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from pydantic.fields import FieldInfo

from infra.experiment import Experiment, ExperimentError
from infra.hub.base import HubUnavailableError
from infra.settings import Settings, load_settings, make_hub

F = TypeVar("F", bound=Callable[..., Any])
RETRY_DELAYS_S = [2, 10, 30]


class UserError(ValueError):
    """Something the caller must fix (a name, a source, a missing key): never retried."""


def _transient(task_obj: Any, task_run: Any, state: Any) -> bool:
    """Retry only what waiting can fix: an unavailable hub, a timeout, a dropped connection.
    (Fleet providers retry their own calls; a user's mistake is never retried.)"""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        try:
            state.result(raise_on_failure=True)
        except BaseException as raised:  # noqa: BLE001 - classified below
            exc = raised
    return isinstance(exc, (HubUnavailableError, TimeoutError, ConnectionError))


def io_task(fn: F | None = None, *, name: str | None = None, retries: int = 3) -> Any:
    """A task that does I/O: retried on transient trouble, never cached."""

    def wrap(f: F) -> Any:
        return task(
            f,
            name=name or f.__name__.replace("_", "-"),
            retries=retries,
            retry_delay_seconds=RETRY_DELAYS_S,
            retry_condition_fn=_transient,
            cache_policy=NO_CACHE,
        )

    return wrap(fn) if fn is not None else wrap


def step_task(fn: F | None = None, *, name: str | None = None) -> Any:
    """A task without retries (pure work, or a side effect that must not run twice)."""

    def wrap(f: F) -> Any:
        return task(f, name=name or f.__name__.replace("_", "-"), cache_policy=NO_CACHE)

    return wrap(fn) if fn is not None else wrap


# Tokens a flow may need, by environment variable, and the Prefect Secret block that can hold
# each instead (`prefect block create secret`, or the UI): never a flow parameter.
SECRET_BLOCKS = {
    "HF_TOKEN": "zeb-hf-token",
    "VAST_API_KEY": "zeb-vast-api-key",
    "ZEB_VAST_IMAGE_LOGIN": "zeb-vast-image-login",
    "WANDB_API_KEY": "zeb-wandb-api-key",
}


def settings() -> Settings:
    """zeb's settings in a flow run: the environment, with tokens it lacks taken from Secret
    blocks (exported to this process's environment, so the learner and local workers it starts
    get them the same way, never through a command line)."""
    load_secret_blocks()
    return load_settings()


def load_secret_blocks() -> None:
    from prefect.blocks.system import Secret

    for var, block in SECRET_BLOCKS.items():
        if os.environ.get(var) or block in _missing_blocks:
            continue
        try:
            os.environ[var] = str(Secret.load(block).get())
        except (ValueError, LookupError, RuntimeError):  # no such block: the env decides
            _missing_blocks.add(block)


_missing_blocks: set[str] = set()  # looked up once per process


def open_experiment(exp: str, must_exist: bool = True) -> Experiment:
    """The experiment on the configured hub; a one-line UserError when it does not exist."""
    try:
        experiment = Experiment(make_hub(settings()), exp)
    except ExperimentError as exc:
        raise UserError(str(exc)) from None
    if must_exist and not experiment.exists():
        raise UserError(
            f"experiment {exp} not found on {experiment.hub.description}: create it first "
            "(zeb create, or the create/default deployment)"
        )
    return experiment


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    key = "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts)
    return re.sub(r"-{2,}", "-", key).strip("-") or "zeb"


# -- how a run shows in Prefect -------------------------------------------------------------------


def documented(fn: F) -> F:
    """Append to a flow's docstring an `Args:` section built from its parameters' Annotated
    Field descriptions (put it under `@flow`).

    Prefect builds a parameter's description from the docstring's Args (Google style) and passes
    it to pydantic explicitly, None included, which drops the description in `Annotated`: the
    run form then showed no description, and a nested model's class docstring instead of the
    parameter's. The Annotated declaration stays the one source (the CLI reads it too)."""
    hints = typing.get_type_hints(fn, include_extras=True)
    lines = []
    for name in inspect.signature(fn).parameters:
        for meta in getattr(hints.get(name), "__metadata__", ()):
            if isinstance(meta, FieldInfo) and meta.description:
                lines.append(f"    {name}: {meta.description}")
    if lines:
        fn.__doc__ = inspect.cleandoc(fn.__doc__ or "") + "\n\nArgs:\n" + "\n".join(lines)
    return fn


def run_name(suffix: str) -> Callable[[], str]:
    """A flow run's name from its experiment: `{exp}-{suffix}` (`{stage}` filled in)."""

    def name() -> str:
        params = flow_run.parameters
        exp = params.get("exp") or "all"
        return f"{exp}-" + suffix.format(**params)

    return name


def tag_run(exp: str | None) -> None:
    """Tag this flow run `exp:EXP`, so the runs list filters by experiment."""
    run_id = flow_run.id
    if not exp or run_id is None:
        return
    with get_client(sync_client=True) as client:
        tags = set(client.read_flow_run(run_id).tags or []) | {f"exp:{exp}"}
        client.update_flow_run(run_id, tags=sorted(tags))
