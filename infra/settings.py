"""Where the hub and the tracker live: one settings model, read from the environment in one place.

    ZEB_HOME                 zeb's local folder: hub (by default), spools, fleets, logs (`./.zeb`)
    ZEB_HUB                  `local` (a folder, the default) or `hf` (Hugging Face)
    ZEB_HUB_DIR              the LocalHub folder (default `$ZEB_HOME/hub`)
    ZEB_HF_WEIGHTS_REPO      `user/name` of the weights repo (`datasets/user/name`: a dataset repo)
    ZEB_HF_EXAMPLES_REPO     the examples repo, same form
    HF_TOKEN                 Hugging Face token (else the one saved by `hf auth login`)
    ZEB_HF_ENDPOINT          Hub URL (else `HF_ENDPOINT`, else huggingface.co)
    ZEB_HF_PRIVATE           create missing repos private (default true)
    ZEB_HF_COMMITS_PER_HOUR  per-process commit budget per repo (default 100; HF allows ~128/h)
    ZEB_HF_CACHE_DIR         cache for pinned downloads (else huggingface_hub's cache)
    ZEB_HF_RETRY_ATTEMPTS    tries of a transient failure before giving up (default 10)
    ZEB_HF_RETRY_BASE_S      first backoff in seconds, doubling per try (default 2)
    ZEB_HF_TIMEOUT_S         per-request timeout in seconds (default 60)
    ZEB_EXAMPLES             where example shards live: `repo` (the hub's examples repo: the
                             seed's layout, small fleets) or `s3` (S3-compatible object storage:
                             Hugging Face Storage Buckets, S3, R2, MinIO; any fleet size)
    ZEB_S3_BUCKET            the bucket (`ZEB_EXAMPLES=s3`)
    ZEB_S3_PREFIX            key prefix inside it (default none)
    ZEB_S3_ENDPOINT          the S3 endpoint (https://s3.hf.co for Hugging Face buckets; default
                             AWS's)
    ZEB_S3_REGION            the region (default us-east-1)
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   the store's keys (Hugging Face: S3 credentials
                             generated from a token); never printed
    ZEB_WANDB_MODE           `online`, `offline` or `disabled` (else `WANDB_MODE`; default `online`
                             if `WANDB_API_KEY` is set, else `offline`)
    WANDB_PROJECT            W&B project of new lineages (default `zeb`)
    VAST_API_KEY             Vast.ai API key (only for Vast fleets; never printed)
    ZEB_VAST_URL             Vast API server (default https://console.vast.ai)
    ZEB_VAST_TIMEOUT_S       per-request timeout of the Vast client (default 20; the SDK's is 120)
    ZEB_VAST_IMAGE_LOGIN     registry login for a private worker image, in Vast's `image_login`
                             form `-u USER -p TOKEN REGISTRY` (never printed)
    ZEB_VAST_PACE_SCALE      scales Vast's documented rate limits (default 1; below 1 only against
                             a fake API that scales its own limits the same way, as tests do)
    ZEB_REFERENCE_DIR        the original's checkpoints, the ladder's anchors (../shared/reference)

Bad values raise `SettingsError` with a one-line message naming the variable (never the token).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from infra.hub.base import Hub
from infra.hub.local import LocalHub

TrackingMode = Literal["online", "offline", "disabled"]

# Settings field -> environment variable.
ENV_VARS: dict[str, str] = {
    "home": "ZEB_HOME",
    "hub": "ZEB_HUB",
    "hub_dir": "ZEB_HUB_DIR",
    "hf_weights_repo": "ZEB_HF_WEIGHTS_REPO",
    "hf_examples_repo": "ZEB_HF_EXAMPLES_REPO",
    "hf_token": "HF_TOKEN",
    "hf_endpoint": "ZEB_HF_ENDPOINT",
    "hf_private": "ZEB_HF_PRIVATE",
    "hf_commits_per_hour": "ZEB_HF_COMMITS_PER_HOUR",
    "hf_cache_dir": "ZEB_HF_CACHE_DIR",
    "hf_retry_attempts": "ZEB_HF_RETRY_ATTEMPTS",
    "hf_retry_base_s": "ZEB_HF_RETRY_BASE_S",
    "hf_timeout_s": "ZEB_HF_TIMEOUT_S",
    "examples": "ZEB_EXAMPLES",
    "s3_bucket": "ZEB_S3_BUCKET",
    "s3_prefix": "ZEB_S3_PREFIX",
    "s3_endpoint": "ZEB_S3_ENDPOINT",
    "s3_region": "ZEB_S3_REGION",
    "s3_access_key_id": "AWS_ACCESS_KEY_ID",
    "s3_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "wandb_mode": "ZEB_WANDB_MODE",
    "wandb_project": "WANDB_PROJECT",
    "vast_api_key": "VAST_API_KEY",
    "vast_url": "ZEB_VAST_URL",
    "vast_timeout_s": "ZEB_VAST_TIMEOUT_S",
    "vast_image_login": "ZEB_VAST_IMAGE_LOGIN",
    "vast_pace_scale": "ZEB_VAST_PACE_SCALE",
    "reference_dir": "ZEB_REFERENCE_DIR",
}
_SECRET_FIELDS = {
    "hf_token",
    "vast_api_key",
    "vast_image_login",
    "s3_access_key_id",
    "s3_secret_access_key",
}
_REPO_SPEC = re.compile(
    r"^(?:(models|datasets)/)?([A-Za-z0-9][\w.-]{0,95})/([A-Za-z0-9][\w.-]{0,95})$"
)
_WANDB_ALIASES = {"run": "online", "dryrun": "offline"}  # older spellings wandb still accepts


class SettingsError(ValueError):
    """A setting is missing or malformed; the message is one line naming the variable."""


def parse_repo_spec(spec: str) -> tuple[str, str]:
    """`user/name` -> (`user/name`, `model`); `datasets/user/name` -> (`user/name`, `dataset`)."""
    match = _REPO_SPEC.match(spec)
    if not match or "--" in spec or ".." in spec or spec.endswith((".", "-")):
        raise ValueError("must look like 'user/name' or 'datasets/user/name'")
    kind = "dataset" if match.group(1) == "datasets" else "model"
    return f"{match.group(2)}/{match.group(3)}", kind


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Path(".zeb")
    hub: Literal["local", "hf"] = "local"
    hub_dir: Path | None = None  # None: <home>/hub
    hf_weights_repo: str | None = None
    hf_examples_repo: str | None = None
    hf_token: SecretStr | None = None  # SecretStr: repr() and logs show '**********'
    hf_endpoint: str | None = None
    hf_private: bool = True
    hf_commits_per_hour: int = Field(100, ge=1, le=120)
    hf_cache_dir: Path | None = None
    hf_retry_attempts: int = Field(10, ge=1, le=100)
    hf_retry_base_s: float = Field(2.0, gt=0, le=600)
    hf_timeout_s: float = Field(60.0, gt=0, le=3600)
    examples: Literal["repo", "s3"] = "repo"
    s3_bucket: str | None = Field(None, min_length=3, max_length=63)
    s3_prefix: str = ""
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    wandb_mode: TrackingMode = "offline"
    wandb_project: str = Field("zeb", min_length=1)
    vast_api_key: SecretStr | None = None
    vast_url: str = "https://console.vast.ai"
    vast_timeout_s: float = Field(20.0, gt=0, le=600)
    vast_image_login: SecretStr | None = None  # `-u USER -p TOKEN REGISTRY` (Vast's image_login)
    vast_pace_scale: float = Field(1.0, gt=0, le=1)  # 1: Vast's own limits
    # The original's checkpoints (the ladder's greedy anchors): ../shared/reference beside a clone.
    reference_dir: Path = Path(__file__).resolve().parents[2] / "shared" / "reference"

    @property
    def local_hub_dir(self) -> Path:
        return self.hub_dir if self.hub_dir is not None else self.home / "hub"

    @field_validator("hf_weights_repo", "hf_examples_repo")
    @classmethod
    def _repo_spec(cls, value: str | None) -> str | None:
        if value is not None:
            parse_repo_spec(value)
        return value

    @field_validator("hf_endpoint", "vast_url", "s3_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `env` (default `os.environ`); raise SettingsError on a bad value."""
    env = os.environ if env is None else env
    raw: dict[str, str] = {}
    for field, var in ENV_VARS.items():
        value = env.get(var, "").strip()
        if value:
            raw[field] = value
    if "hf_endpoint" not in raw and env.get("HF_ENDPOINT", "").strip():
        raw["hf_endpoint"] = env["HF_ENDPOINT"].strip()
    mode = raw.get("wandb_mode") or env.get("WANDB_MODE", "").strip().lower()
    if mode:
        raw["wandb_mode"] = _WANDB_ALIASES.get(mode, mode)
    else:
        raw["wandb_mode"] = "online" if env.get("WANDB_API_KEY", "").strip() else "offline"
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as err:
        raise SettingsError(_one_line(err, raw)) from None
    if settings.hub == "hf":
        missing = [
            ENV_VARS[f] for f in ("hf_weights_repo", "hf_examples_repo") if not getattr(settings, f)
        ]
        if missing:
            raise SettingsError(f"ZEB_HUB=hf needs {' and '.join(missing)} to be set")
    return settings


def _one_line(err: ValidationError, raw: Mapping[str, str]) -> str:
    first = err.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    var = ENV_VARS.get(field, field)
    shown = "<hidden>" if field in _SECRET_FIELDS else repr(raw.get(field, ""))
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"bad setting {var}={shown}: {message}{more}"


def make_hub(settings: Settings) -> Hub:
    """The hub the settings name: a LocalHub folder or an HfHub on its two repos, with the
    examples in object storage when ZEB_EXAMPLES=s3."""
    weights = _weights_hub(settings)
    if settings.examples == "repo":
        return weights
    from infra.hub.object_examples import ObjectExamplesHub  # boto3 only when it is used

    return ObjectExamplesHub(weights, make_object_store(settings))


def make_object_store(settings: Settings):
    """The examples bucket of ZEB_EXAMPLES=s3 (boto3 on any S3-compatible endpoint)."""
    import boto3
    from botocore.config import Config

    from infra.hub.object_store import ObjectStore
    from infra.hub.retry import RetryPolicy

    if not settings.s3_bucket:
        raise SettingsError("ZEB_EXAMPLES=s3 needs ZEB_S3_BUCKET (and the store's AWS_* keys)")
    keys = {}
    if settings.s3_access_key_id and settings.s3_secret_access_key:
        keys = {
            "aws_access_key_id": settings.s3_access_key_id.get_secret_value(),
            "aws_secret_access_key": settings.s3_secret_access_key.get_secret_value(),
        }
    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        region_name=settings.s3_region,
        # zeb retries (infra.hub.limits): botocore's own retries would multiply the waits
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=settings.hf_timeout_s,
            read_timeout=settings.hf_timeout_s,
        ),
        **keys,
    )
    retry = RetryPolicy(attempts=settings.hf_retry_attempts, base_s=settings.hf_retry_base_s)
    return ObjectStore(client, settings.s3_bucket, settings.s3_prefix, retry)


def _weights_hub(settings: Settings) -> Hub:
    if settings.hub == "local":
        return LocalHub(settings.local_hub_dir)
    from infra.hub.hf import HfHub  # imported here so local runs never load huggingface_hub
    from infra.hub.retry import CommitBudget, RetryPolicy

    examples_repo = settings.hf_examples_repo
    if settings.examples == "s3":  # the examples repo is never used: the bucket holds them
        examples_repo = examples_repo or settings.hf_weights_repo
    if not settings.hf_weights_repo or not examples_repo:
        raise SettingsError("ZEB_HUB=hf needs ZEB_HF_WEIGHTS_REPO and ZEB_HF_EXAMPLES_REPO")
    weights, weights_type = parse_repo_spec(settings.hf_weights_repo)
    examples, examples_type = parse_repo_spec(examples_repo)
    return HfHub(
        weights,
        examples,
        token=settings.hf_token.get_secret_value() if settings.hf_token else None,
        endpoint=settings.hf_endpoint,
        weights_type=weights_type,
        examples_type=examples_type,
        private=settings.hf_private,
        cache_dir=settings.hf_cache_dir,
        budget=CommitBudget(per_window=settings.hf_commits_per_hour),
        retry=RetryPolicy(attempts=settings.hf_retry_attempts, base_s=settings.hf_retry_base_s),
        timeout_s=settings.hf_timeout_s,
    )
