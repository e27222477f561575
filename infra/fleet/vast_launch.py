"""What a Vast instance is created with: one documented launch mode, and the request that asks
for it, checked against Vast's published input limits before it is sent.

Launch mode "args" (docs.vast.ai, "Creating Instances with the API", runtype): the image's own
ENTRYPOINT is kept and `args` are passed to it; Vast injects no ssh or jupyter. The worker image
(`infra/docker/Dockerfile`) has `infra/docker/entrypoint.sh` as its ENTRYPOINT, which `exec`s
`zeb worker <role>` with those arguments, so the worker is the container's main process and its
output is the log Vast's `logs` call returns (where the fleet reads heartbeat lines). No
`onstart` is sent: in args mode it would replace the entrypoint (the CLI sends its
`--entrypoint` there), and in the ssh/jupyter modes the image's entrypoint never runs.

The fleet's worker settings travel as those arguments (`zeb worker` options rendered from the
same model that generates them; up to 4096 characters with onstart and args_str together), so
the environment holds only short values: the hub's settings and token and the worker's identity,
each well under Vast's 256 characters a value. The environment and the registry login are
secrets: never logged; `masked()` shows the request with them hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.fleet.base import FleetError, FleetSpec, WorkerLabel
from infra.model_args import model_args
from infra.settings import Settings
from infra.worker.options import UNUSED_BY_ROLE

RUNTYPE = "args"
# x-input-validation of create_instance.yaml (vast-ai/docs, api-reference/openapi/yaml/).
MAX_ENV_VALUE = 256
MAX_ENV_TOTAL = 32768
MAX_ARGS_TOTAL = 4096  # args, args_str and onstart together
MAX_IMAGE = 1024
MAX_LABEL = 256
MIN_DISK_GB = 8.0
SECRET_ENV = frozenset({"HF_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"})
MASK = "***"


@dataclass(frozen=True)
class LaunchRequest:
    """The create request of one worker (the offer and price are the caller's)."""

    label: str
    image: str
    disk_gb: float
    args: list[str]
    env: dict[str, str] = field(repr=False)  # holds the hub token
    image_login: str | None = field(default=None, repr=False)
    runtype: str = RUNTYPE

    def sdk_kwargs(self) -> dict[str, object]:
        """Keyword arguments of `VastAI.create_instance` for this request."""
        return {
            "image": self.image,
            "disk": self.disk_gb,
            "env": dict(self.env),
            "label": self.label,
            "runtype": self.runtype,
            "args": list(self.args),
            "login": self.image_login,
        }

    def masked(self) -> dict[str, object]:
        """The request as it is sent, secrets hidden: what `--dry-run` prints."""
        shown = self.sdk_kwargs()
        shown["env"] = {k: MASK if k in SECRET_ENV else v for k, v in self.env.items()}
        shown["login"] = MASK if self.image_login else None
        return shown


def render_launch(spec: FleetSpec, settings: Settings, label: WorkerLabel) -> LaunchRequest:
    """The create request of worker `label` of `spec`; a FleetError names what is missing or
    beyond Vast's limits."""
    if not spec.owns(str(label)):
        raise FleetError(f"{label} is not a worker of fleet {spec.prefix} on {spec.provider}")
    vast = spec.vast
    if vast is None or not vast.image:
        raise FleetError(
            "a Vast fleet needs a worker image: build and push one (infra/docker/README.md), "
            "then pass --image REGISTRY/NAME:TAG"
        )
    login = settings.vast_image_login.get_secret_value() if settings.vast_image_login else None
    request = LaunchRequest(
        label=str(label),
        image=vast.image,
        disk_gb=vast.disk_gb,
        args=worker_args(spec),
        env={
            **hub_env(settings),
            "ZEB_EXP": spec.experiment,
            "ZEB_ROLE": spec.role,
            "ZEB_WORKER_LABEL": str(label),
        },
        image_login=login or None,
    )
    check_limits(request)
    return request


def check_limits(request: LaunchRequest) -> None:
    """Vast's documented input limits, checked here so a refusal never costs a create."""
    too_long = [k for k, v in request.env.items() if len(v) > MAX_ENV_VALUE]
    if too_long:
        raise FleetError(f"env {', '.join(too_long)}: over Vast's {MAX_ENV_VALUE} chars a value")
    if sum(len(k) + len(v) for k, v in request.env.items()) > MAX_ENV_TOTAL:
        raise FleetError(f"the worker's env is over Vast's {MAX_ENV_TOTAL} chars")
    if sum(len(a) for a in request.args) > MAX_ARGS_TOTAL:
        raise FleetError(f"the worker's options are over Vast's {MAX_ARGS_TOTAL} chars of args")
    if len(request.image) > MAX_IMAGE or len(request.label) > MAX_LABEL:
        raise FleetError(f"image (<= {MAX_IMAGE}) or label (<= {MAX_LABEL} chars) too long")
    if request.disk_gb < MIN_DISK_GB:
        raise FleetError(f"Vast rents at least {MIN_DISK_GB:g} GB of disk: raise --disk-gb")


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
    return env | examples_env(settings)


def examples_env(settings: Settings) -> dict[str, str]:
    """Where a remote worker puts its shards when they live in object storage."""
    if settings.examples != "s3":
        return {}
    if not settings.s3_access_key_id or not settings.s3_secret_access_key:
        raise FleetError("Vast workers writing to S3 need AWS_ACCESS_KEY_ID and the secret")
    env = {
        "ZEB_EXAMPLES": "s3",
        "ZEB_S3_BUCKET": settings.s3_bucket or "",
        "ZEB_S3_PREFIX": settings.s3_prefix,
        "ZEB_S3_REGION": settings.s3_region,
        "AWS_ACCESS_KEY_ID": settings.s3_access_key_id.get_secret_value(),
        "AWS_SECRET_ACCESS_KEY": settings.s3_secret_access_key.get_secret_value(),
    }
    if settings.s3_endpoint:
        env["ZEB_S3_ENDPOINT"] = settings.s3_endpoint
    return env


def worker_args(spec: FleetSpec) -> list[str]:
    """The fleet's worker settings as `zeb worker` options: rendered from the same model that
    generates the worker's command line, so no setting is left behind."""
    return model_args(spec.worker_settings(), exclude=UNUSED_BY_ROLE[spec.role])
