"""The learner's local snapshot: a replay file and the ledger naming it are one consistent pair,
whatever moment a kill comes."""

from __future__ import annotations

import numpy as np
import pytest

from infra.learner import local_state
from infra.learner.local_state import Ledger, LocalState
from tests.infra.learner_helpers import shard_bytes
from zeb_core.data.replay import ReplayBuffer, ReplayConfig
from zeb_core.data.shards import shard_from_bytes

CONFIG = ReplayConfig(selfplay_capacity=1000, eval_aux_capacity=100)


def _replay_with(shards: list[tuple[str, bytes]]) -> ReplayBuffer:
    replay = ReplayBuffer(CONFIG)
    for name, data in shards:
        replay.ingest(shard_from_bytes(data, name), 0, np.random.default_rng(0))
    return replay


def test_a_kill_between_replay_and_ledger_at_the_same_cycle_keeps_the_pair(tmp_path, monkeypatch):
    """Saved twice at one cycle (a periodic save, then the one at shutdown): the second save
    must not overwrite the replay file the current ledger names before the new ledger lands."""
    state = LocalState(tmp_path, lineage="L")
    first = [shard_bytes(40, 1)]
    state.save_snapshot(Ledger(lineage="L", ingested=[first[0][0]]), _replay_with(first), tag=5)

    second = first + [shard_bytes(30, 2)]
    real_write = local_state.atomic_write_bytes

    def killed(path, data):  # the process dies as it writes the new ledger
        if path.name == "ledger.json":
            raise KeyboardInterrupt("SIGKILL")
        return real_write(path, data)

    monkeypatch.setattr(local_state, "atomic_write_bytes", killed)
    names = [first[0][0], second[1][0]]
    with pytest.raises(KeyboardInterrupt):
        state.save_snapshot(Ledger(lineage="L", ingested=names), _replay_with(second), tag=5)
    monkeypatch.undo()

    restored = LocalState(tmp_path, lineage="L").load_snapshot(CONFIG, use_replay=True)
    assert restored.ingested == {first[0][0]}
    assert len(restored.replay.selfplay) == 40  # the replay the ledger names, not the newer one
