"""Flow `evaluate` under the test harness: two published checkpoints rated on the ladder against
the anchors, the ladder stored with the experiment and shown as an artifact, a rerun that plays
nothing new; the `evaluate/ladder` deployment triggers on published weights."""

from __future__ import annotations

import io

import torch
import yaml
from prefect import get_client

from flows.create import create_experiment
from flows.evaluate import evaluate_experiment
from infra.experiment import Experiment
from infra.hub.local import LocalHub
from infra.ladder_store import read_ladder
from infra.settings import load_settings
from tests.conftest import REFERENCE, REPO
from zeb_core.evaluation.elo_ladder import LadderConfig
from zeb_core.network.checkpoint import init_checkpoint

TINY = LadderConfig(games=2, every=10, neighbours=1)


def _publish(experiment: Experiment, cycle: int, seed: int) -> str:
    buffer = io.BytesIO()
    ckpt = init_checkpoint("small", seed=seed)
    torch.save(ckpt.to_dict(), buffer)
    state = experiment.read_state().model_copy(update={"cycle": cycle, "step": 10 * cycle})
    return experiment.publish_weights(buffer.getvalue(), ckpt.config.to_checkpoint_dict(), state)


def test_two_checkpoints_are_rated_and_a_rerun_plays_nothing_new(zeb_home):
    create_experiment(exp="a", size="small")
    experiment = Experiment(LocalHub(load_settings().local_hub_dir), "a")
    first, second = _publish(experiment, 10, seed=1), _publish(experiment, 20, seed=2)
    evaluate_experiment(exp="a", revision=first, ladder=TINY, reference_dir=REFERENCE, device="cpu")
    rows = evaluate_experiment(
        exp="a", revision=second, ladder=TINY, reference_dir=REFERENCE, device="cpu"
    )
    rated = {r["player"] for r in rows}
    assert {"random", "heuristic", "c10-greedy", "c20-greedy"} <= rated
    assert next(r for r in rows if r["player"] == "random")["rating"] == 0  # the anchor
    stored = read_ladder(experiment)
    matches = len(stored.matches)
    assert {p.name for p in stored.players if p.cycle is not None} == {"c10-greedy", "c20-greedy"}
    evaluate_experiment(
        exp="a", revision=second, ladder=TINY, reference_dir=REFERENCE, device="cpu"
    )
    assert len(read_ladder(experiment).matches) == matches  # nothing played twice
    with get_client(sync_client=True) as client:
        keys = {artifact.key for artifact in client.read_latest_artifacts()}
    assert "a-ladder" in keys


def test_the_ladder_deployment_triggers_on_published_weights():
    spec = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())
    (ladder,) = [d for d in spec["deployments"] if d["entrypoint"].endswith(":evaluate_experiment")]
    assert ladder["name"] == "ladder" and ladder["concurrency_limit"]["limit"] == 1
    (trigger,) = ladder["triggers"]
    # zeb.ladder.due at threshold 1: a count of publishes `within` a window fired once a day
    assert trigger["expect"] == ["zeb.ladder.due"] and trigger["enabled"]
    assert trigger["threshold"] == 1 and "within" not in trigger
    assert trigger["parameters"]["exp"] == "{{ event.resource.name }}"
