"""The hub's view of a fleet: the newest shard each worker id has uploaded.

This view needs no provider: whatever a provider says about a machine, a worker whose shards keep
landing is producing. Shard names are `<worker>-<UTC time>-<seq>.npz` (`zeb_core.data.shards`),
so one listing per source tells every worker's newest upload without reading a shard.
"""

from __future__ import annotations

from datetime import datetime

from infra.experiment import Experiment
from infra.fleet.base import Role
from zeb_core.data.shards import EVAL_AUX, SELFPLAY, shard_time, shard_worker

ROLE_SOURCE: dict[Role, str] = {"selfplay": SELFPLAY, "evalaux": EVAL_AUX}


def newest_shards(experiment: Experiment, role: Role) -> dict[str, datetime]:
    """Worker id -> creation time of its newest shard of the role's source on the hub."""
    newest: dict[str, datetime] = {}
    for info in experiment.list_examples(ROLE_SOURCE[role]).get(ROLE_SOURCE[role], []):
        worker, created = shard_worker(info.name), shard_time(info.name)
        if worker is not None and created is not None:
            newest[worker] = max(newest.get(worker, created), created)
    return newest
