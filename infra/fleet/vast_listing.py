"""Reading a Vast account: every instance, page by page, and the recent log of some of them.

The listing (`GET /api/v1/instances/`) pages by an opaque cursor, at most 25 instances a page
(show_instances.yaml in vast-ai/docs: `limit` default 25, maximum 25), so an account with
other instances than the fleet's takes several calls, each paced. A log is uploaded by the host
before its URL serves it: one not there yet is unknown this pass, never "no heartbeat".
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from vastai import VastAI

from infra.fleet.base import FleetError, WorkerLabel
from infra.fleet.vast_api import LogNotReady, VastApi, VastInstance

log = logging.getLogger("zeb.fleet")

INSTANCES_PAGE = 25  # the documented maximum of `limit`
MAX_PAGES = 400  # 10,000 instances: a runaway next_token cannot loop forever
LOG_TAIL_LINES = 400  # heartbeat lines are frequent: the newest few hundred lines suffice
LOG_THREADS = 8


def list_instances(api: VastApi, sdk: VastAI) -> list[VastInstance]:
    """Every instance of the account (rows that cannot be acted on are skipped, with a line)."""
    params: dict[str, Any] = {
        "select_filters": {},
        "order_by": [{"col": "id", "dir": "asc"}],
        "limit": INSTANCES_PAGE,
    }
    rows: list[object] = []
    for _ in range(MAX_PAGES):
        page = api.call("show_instances", sdk.show_instances_v1, dict(params))
        batch = page.get("instances") if isinstance(page, dict) else None
        if not isinstance(batch, list):
            raise FleetError("vast show_instances: malformed answer (no list of instances)")
        rows.extend(batch)
        token = page.get("next_token")
        if not token or not batch:
            break
        params["after_token"] = token  # opaque: passed back as it came
    else:
        log.warning("vast: over %d pages of instances; the rest are unseen", MAX_PAGES)
    return [i for row in rows if (i := _parse_instance(row)) is not None]


def _parse_instance(row: object) -> VastInstance | None:
    # The log line never shows the row: it carries the instance's env, tokens included.
    instance = VastInstance.model_validate(row) if isinstance(row, dict) else None
    if instance is None or instance.id is None:
        label = instance.label if instance and WorkerLabel.parse(instance.label) else "?"
        log.warning("vast: skipping an instance without a usable id (label %s)", label)
        return None
    return instance


def read_logs(api: VastApi, sdk: VastAI, ids: list[int], budget_s: float) -> dict[int, str]:
    """Each instance's recent log, fetched together within `budget_s`; an instance whose log
    could not be read (not uploaded yet, an error, late) is missing from the answer."""
    if not ids:
        return {}
    pool = ThreadPoolExecutor(min(LOG_THREADS, len(ids)), thread_name_prefix="vast-logs")
    futures = {pool.submit(api.call, "logs", sdk.logs, i, tail=str(LOG_TAIL_LINES)): i for i in ids}
    done, late = wait(futures, timeout=budget_s)
    pool.shutdown(wait=False, cancel_futures=True)  # late ones finish on their own
    texts = {}
    for future in done:
        try:
            text = future.result()
        except LogNotReady:
            log.info("vast: the log of instance %d is not uploaded yet", futures[future])
            continue
        except FleetError as exc:
            log.info("vast: no log of instance %d this pass: %s", futures[future], exc)
            continue
        texts[futures[future]] = text if isinstance(text, str) else ""
    if late:
        log.warning(
            "vast: logs of %d instance(s) not back within %.1f s; heartbeats unknown this pass",
            len(late),
            budget_s,
        )
    return texts
