"""The lr over a run of known length: constant, then a linear anneal; the trainer applies it."""

from __future__ import annotations

import pytest

from tests.core.data.test_train import make_batch, tiny_model
from zeb_core.data.lr_schedule import LinearAnneal
from zeb_core.data.train import TrainConfig, Trainer


def test_the_anneal_holds_then_falls_linearly_to_its_final_scale() -> None:
    anneal = LinearAnneal(start=0.5, final_scale=0.1)
    assert [anneal.scale(p) for p in (0.0, 0.25, 0.5)] == [1.0, 1.0, 1.0]
    assert anneal.scale(0.75) == pytest.approx(0.55)
    assert anneal.scale(1.0) == pytest.approx(0.1)
    assert anneal.scale(1.7) == pytest.approx(0.1)  # a run that overshoots its end stays there


@pytest.mark.parametrize("start, final", [(1.0, 0.1), (-0.1, 0.1), (0.5, 0.0), (0.5, 1.5)])
def test_an_anneal_out_of_range_is_refused(start: float, final: float) -> None:
    with pytest.raises(ValueError):
        LinearAnneal(start=start, final_scale=final)


def test_the_trainer_scales_every_group_and_keeps_the_belief_multiple() -> None:
    trainer = Trainer(tiny_model(), TrainConfig(lr=1e-3, belief_lr_scale=3.0), device="cpu")
    trainer.set_lr_scale(0.25)
    lrs = {g["name"]: g["lr"] for g in trainer.optimizer.param_groups}
    assert lrs == {"trunk": pytest.approx(2.5e-4), "belief": pytest.approx(7.5e-4)}
    assert trainer.lr == pytest.approx(2.5e-4)
    trainer.step(make_batch())  # and the step runs at it
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(2.5e-4)
