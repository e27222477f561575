"""Constants, progress lines and small helpers of the hub-scale bench."""

from __future__ import annotations

import logging
import math
import os
import re
import sys
from collections import Counter

from infra.learner.options import LearnerSettings
from infra.worker.options import WorkerOptions, WorkerSettings

EXP = "scale"
TOKEN = "hf_zebHubScaleBenchToken"  # the fleet's one token: one user's quota for everyone
BUCKET = "zeb-examples"
S3_KEYS = {"aws_access_key_id": "zebbenchkey", "aws_secret_access_key": "zebbenchsecret"}
# Examples per game: zeb_core keeps no constant for it; 16.5 is the brief's figure for the current
# self-play settings (28 decisions a hand less forced moves and the bidding's share).
EXAMPLES_PER_GAME = 16.5
TARGET_SHARE = 0.5  # every documented limit under half used
TARGET_P95_S = 600.0
PLAY = WorkerSettings()
LEARN = LearnerSettings()
RETRY_WAIT_S = WorkerOptions.model_fields["retry_wait_s"].default
S3_PUT_CLASS = {"PutObject", "DeleteObjects", "DeleteObject", "CopyObject"}
log = logging.getLogger("bench.hub_scale")


def say(message: str) -> None:
    print(f"[hub_scale] {message}", file=sys.stderr, flush=True)


# -- helpers ---------------------------------------------------------------------------------------

_CATEGORIES = [
    ("resolve_head", "HEAD", re.compile(r"/resolve/")),
    ("resolve_get", "GET", re.compile(r"/resolve/")),
    ("repo_info", "GET", re.compile(r"^/api/models/[^/]+/[^/]+(/revision/[^/]+)?$")),
    ("tree", "GET", re.compile(r"/tree/")),
    ("paths_info", "POST", re.compile(r"/paths-info/")),
    ("preupload", "POST", re.compile(r"/preupload/")),
    ("commit", "POST", re.compile(r"/commit/")),
    ("create_repo", "POST", re.compile(r"/api/repos/create")),
]


def _categories(log_rows: list[tuple[str, str, int]]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for method, path, status in list(log_rows):
        name = next((n for n, m, p in _CATEGORIES if m == method and p.search(path)), "other")
        out[name if status != 429 else f"{name}_429"] += 1
    return dict(sorted(out.items()))


def _per_hour(counts: dict[str, int], hours: float) -> dict[str, float]:
    return {k: round(v / hours, 1) for k, v in counts.items()}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    value = values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))]
    return None if math.isinf(value) else round(value, 1)


def _shm() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _no_tqdm_monitor() -> None:
    """tqdm (under huggingface_hub) starts a monitor thread on first use; none is wanted here."""
    try:
        import tqdm
    except ImportError:
        return
    tqdm.tqdm.monitor_interval = 0


def _quiet() -> None:
    for name in (
        "huggingface_hub",
        "infra",
        "zeb",
        "botocore",
        "boto3",
        "urllib3",
        "werkzeug",
        "moto",
    ):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr, format="%(name)s: %(message)s")
    log.setLevel(logging.ERROR)
