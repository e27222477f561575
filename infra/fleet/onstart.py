"""What a Vast instance is started with: the onstart command and the environment.

The worker image (`infra/docker/Dockerfile`) holds `infra/docker/onstart.sh` at `ONSTART_SCRIPT`;
that script reads the environment rendered here and `exec`s `zeb worker <role> ...`, so the
worker's output is the container's log (where the fleet reads its heartbeat lines). Everything a
worker needs travels in the environment, tokens included (`ZEB_WORKER_ARGS` carries the fleet's
worker settings as `zeb worker` options); the command itself holds no value at all, so it can be
shown, logged and compared freely. The environment must never be logged.
"""

from __future__ import annotations

import shlex

from infra.fleet.base import FleetError, FleetSpec, WorkerLabel
from infra.model_args import model_args
from infra.settings import Settings
from infra.worker.options import UNUSED_BY_ROLE

ONSTART_SCRIPT = "/opt/zeb/onstart.sh"
ONSTART_COMMAND = f"exec {ONSTART_SCRIPT}"


def render_onstart(
    spec: FleetSpec, settings: Settings, label: WorkerLabel
) -> tuple[str, dict[str, str]]:
    """(onstart command, environment) of the instance that runs worker `label` of `spec`."""
    if not spec.owns(str(label)):
        raise FleetError(f"{label} is not a worker of fleet {spec.prefix} on {spec.provider}")
    return ONSTART_COMMAND, {
        **hub_env(settings),
        "ZEB_EXP": spec.experiment,
        "ZEB_ROLE": spec.role,
        "ZEB_WORKER_LABEL": str(label),
        "ZEB_WORKER_ARGS": worker_args(spec),
    }


def hub_env(settings: Settings) -> dict[str, str]:
    """The hub settings a remote worker needs: Hugging Face only (it cannot see a local folder)."""
    if settings.hub != "hf":
        raise FleetError("Vast workers need a hub they can reach: set ZEB_HUB=hf")
    if not settings.hf_weights_repo or not settings.hf_examples_repo:
        raise FleetError("Vast workers need ZEB_HF_WEIGHTS_REPO and ZEB_HF_EXAMPLES_REPO")
    if settings.hf_token is None:
        raise FleetError("Vast workers need HF_TOKEN to upload to the hub")
    env = {
        "ZEB_HUB": "hf",
        "ZEB_HF_WEIGHTS_REPO": settings.hf_weights_repo,
        "ZEB_HF_EXAMPLES_REPO": settings.hf_examples_repo,
        "HF_TOKEN": settings.hf_token.get_secret_value(),
    }
    if settings.hf_endpoint:
        env["ZEB_HF_ENDPOINT"] = settings.hf_endpoint
    return env


def worker_args(spec: FleetSpec) -> str:
    """The fleet's worker settings as `zeb worker` options, shell-quoted: rendered from the same
    model that generates the worker's command line, so no setting is left behind."""
    return shlex.join(model_args(spec.worker, exclude=UNUSED_BY_ROLE[spec.role]))
