"""Start-up of zeb's long-running processes (`zeb worker`, `zeb learner`, `zeb ladder --update`):
log lines with times, quiet HTTP libraries, and the hub from the environment's settings."""

from __future__ import annotations

import logging

from infra.hub.base import Hub
from infra.settings import Settings, SettingsError, load_settings, make_hub
from zeb_cli.errors import fail


def setup_process(verbose: bool = False) -> tuple[Settings, Hub]:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        force=True,  # replace handlers a library (Prefect, W&B) may have put on the root logger
    )
    for noisy in ("httpx", "httpcore", "huggingface_hub", "filelock", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = load_settings()
        return settings, make_hub(settings)
    except SettingsError as exc:
        raise fail(exc) from None
