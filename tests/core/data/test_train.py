"""Losses and the train step: per-source weights, masking, and warm restarts."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from zeb_core.data.examples import Examples, one_hot_soft
from zeb_core.data.replay import TrainBatch
from zeb_core.data.shards import synthetic_examples
from zeb_core.data.train import (
    LossWeights,
    SourceWeights,
    TorchBatch,
    TrainConfig,
    Trainer,
    by_length,
    compute_losses,
)
from zeb_core.network.model import ZebModel

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run faster on one thread, and a second one stalls on a busy shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(belief: bool = True, dropout: float = 0.0, seed: int = 0) -> ZebModel:
    torch.manual_seed(seed)
    config = {"embed_dim": 32, "n_heads": 2, "n_layers": 1, "ff_dim": 64}
    return ZebModel(**config, belief_head=belief, dropout=dropout)


def make_batch(n: int = 24, n_eval: int = 6, seed: int = 0) -> TrainBatch:
    examples = synthetic_examples(n, np.random.default_rng(seed))
    return TrainBatch(
        examples=examples,
        is_eval_aux=np.arange(n) >= n - n_eval,
        weight=np.ones(n, np.float32),
    )


def with_examples(batch: TrainBatch, **changes: np.ndarray) -> TrainBatch:
    ex = batch.examples
    fields = {k: getattr(ex, k) for k in ex.__dataclass_fields__}
    return TrainBatch(Examples(**{**fields, **changes}), batch.is_eval_aux, batch.weight)


def gradients(model: ZebModel, batch: TrainBatch, weights: SourceWeights) -> list[torch.Tensor]:
    model.zero_grad(set_to_none=False)
    tb = TorchBatch.from_batch(batch, CPU)
    compute_losses(*model(tb.tokens, tb.token_mask), tb, weights).total.backward()
    return [p.grad.clone() for p in model.parameters()]


def reversed_policy_on(batch: TrainBatch, rows: np.ndarray) -> TrainBatch:
    """Other valid policy targets on `rows`: all mass on the last legal slot."""
    policy = batch.examples.policy.copy()
    legal = batch.examples.legal
    last = 6 - np.argmax(legal[:, ::-1], axis=1)
    policy[rows] = 0
    policy[rows, last[rows]] = 1
    return with_examples(batch, policy=policy)


def test_losses_are_finite_and_decrease_on_a_fixed_batch() -> None:
    batch = make_batch(32, 8)
    trainer = Trainer(tiny_model(), TrainConfig(lr=5e-3), device="cpu")
    history = [trainer.step(batch) for _ in range(12)]
    assert all(np.isfinite(list(h.values())).all() for h in history)
    first, last = history[0], history[-1]
    for key in ("loss/total", "loss/selfplay/policy", "loss/selfplay/value"):
        assert last[key] < first[key] * 0.9, key
    assert last["loss/selfplay/belief"] < first["loss/selfplay/belief"]
    assert trainer.steps == 12


def test_eval_aux_policy_weight_zero_gives_no_policy_gradient() -> None:
    model, batch = tiny_model(), make_batch()
    changed = reversed_policy_on(batch, batch.is_eval_aux)
    base = gradients(model, batch, SourceWeights())
    same = gradients(model, changed, SourceWeights())
    assert all(torch.equal(a, b) for a, b in zip(base, same, strict=True))
    # The check can fail: with an eval-aux policy weight the same change moves the gradient.
    on = SourceWeights(eval_aux=LossWeights(policy=1.0, value=1.0, belief=0.5))
    moved = gradients(model, changed, on)
    assert not all(
        torch.equal(a, b) for a, b in zip(gradients(model, batch, on), moved, strict=True)
    )


def test_masked_belief_entries_contribute_nothing() -> None:
    model, batch = tiny_model(), make_batch(16, 0)
    belief = batch.examples.belief.copy()
    belief[:4] = -1  # whole rows masked
    soft = one_hot_soft(belief)
    tb = TorchBatch.from_batch(with_examples(batch, belief=belief, belief_soft=soft), CPU)
    policy, value, logits = model(tb.tokens, tb.token_mask)
    logits.retain_grad()
    losses = compute_losses(policy, value, logits, tb, SourceWeights())
    losses.total.backward()
    masked = tb.belief < 0
    assert (logits.grad[masked] == 0).all() and (logits.grad[~masked] != 0).any()
    unmasked_ce = torch.nn.functional.cross_entropy(logits[~masked], tb.belief[~masked])
    assert losses.parts["selfplay/belief"].item() == pytest.approx(unmasked_ce.item(), rel=1e-5)


def test_total_is_the_batch_mean_of_weighted_row_losses() -> None:
    model, batch = tiny_model(), make_batch(20, 5)
    tb = TorchBatch.from_batch(batch, CPU)
    losses = compute_losses(*model(tb.tokens, tb.token_mask), tb, SourceWeights())
    p = losses.parts
    selfplay = p["selfplay/policy"] + p["selfplay/value"] + 0.5 * p["selfplay/belief"]
    eval_aux = p["eval_aux/value"] + 0.5 * p["eval_aux/belief"]
    assert losses.total.item() == pytest.approx((0.75 * selfplay + 0.25 * eval_aux).item())


def test_no_belief_head_reports_no_belief_loss() -> None:
    trainer = Trainer(tiny_model(belief=False), device="cpu")
    out = trainer.step(make_batch())
    assert not any("belief" in k for k in out)
    assert {"loss/total", "loss/eval_aux/value", "grad_norm"} <= set(out)


def test_restored_trainer_takes_the_identical_next_step() -> None:
    batches = [make_batch(seed=s) for s in range(3)]
    config = TrainConfig(lr=1e-3)
    trainer = Trainer(tiny_model(dropout=0.1), config, device="cpu")
    for b in batches[:2]:
        trainer.step(b)
    weights = copy.deepcopy(trainer.model.state_dict())
    buf = io.BytesIO()
    torch.save(trainer.state_dict(), buf)  # as the learner's checkpoint stores it
    buf.seek(0)
    state = torch.load(buf, weights_only=True)

    def next_step(t: Trainer) -> tuple[dict[str, float], list[torch.Tensor]]:
        torch.manual_seed(11)  # same dropout masks
        return t.step(batches[2]), [p.detach().clone() for p in t.model.parameters()]

    expected = next_step(trainer)
    restored_model = tiny_model(dropout=0.1, seed=99)
    restored_model.load_state_dict(weights)
    restored = Trainer(restored_model, config, device="cpu")
    restored.load_state_dict(state)
    assert restored.steps == 2
    got = next_step(restored)
    assert got[0] == expected[0]
    assert all(torch.equal(a, b) for a, b in zip(got[1], expected[1], strict=True))
    cold_model = tiny_model(dropout=0.1, seed=99)
    cold_model.load_state_dict(weights)
    cold = next_step(Trainer(cold_model, config, device="cpu"))  # fresh Adam moments differ
    assert not all(torch.equal(a, b) for a, b in zip(cold[1], expected[1], strict=True))


def test_length_buckets_compute_the_same_outputs() -> None:
    model = tiny_model().eval()
    tb = TorchBatch.from_batch(make_batch(30, 0), CPU)
    with torch.no_grad():
        plain = model(tb.tokens, tb.token_mask)
        chunked = by_length(model.forward, 3)(tb.tokens, tb.token_mask)
    legal = tb.legal  # logits of played slots are padding, meaningless either way
    torch.testing.assert_close(plain[0][legal], chunked[0][legal], rtol=1e-5, atol=1e-5)
    for a, b in zip(plain[1:], chunked[1:], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_a_non_finite_gradient_skips_the_step_on_cpu() -> None:
    trainer = Trainer(tiny_model(), device="cpu")
    batch = make_batch()
    value = batch.examples.value.copy()
    value[0] = np.nan  # cannot come from a validated shard; stands in for a diverged step
    before = [p.detach().clone() for p in trainer.model.parameters()]
    out = trainer.step(with_examples(batch, value=value))
    assert out["skipped"] == 1.0 and not np.isfinite(out["grad_norm"])
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))
    assert trainer.step(batch)["skipped"] == 0.0


def test_restart_takes_lr_from_the_config_and_refuses_other_formats() -> None:
    old = Trainer(tiny_model(), TrainConfig(lr=1e-3), device="cpu")
    old.step(make_batch())
    new = Trainer(tiny_model(), TrainConfig(lr=5e-4, belief_lr_scale=3.0), device="cpu")
    new.load_state_dict(old.state_dict())
    lrs = {g["name"]: g["lr"] for g in new.optimizer.param_groups}
    assert lrs == {"trunk": 5e-4, "belief": pytest.approx(1.5e-3)}  # the belief head's own lr
    assert new.optimizer.state  # the Adam moments came along
    with pytest.raises(ValueError, match="format"):
        new.load_state_dict({**old.state_dict(), "format": 99})


def test_inference_after_optimizer_steps_uses_the_current_weights():
    """The fused AdamW step changes weights without bumping their version counters; the cached
    fused embedding table of inference must not go stale (it did: logits off by ~0.4)."""
    from zeb_core.data.shards import synthetic_examples
    from zeb_core.data.train import TrainConfig, Trainer
    from zeb_core.network.checkpoint import checkpoint_from_model
    from zeb_core.network.model import preset_config

    model = ZebModel.from_config(preset_config("small", belief_head=True)).eval()
    rng = np.random.default_rng(0)
    examples = synthetic_examples(64, rng)
    batch = TrainBatch(examples, np.zeros(64, bool), np.ones(64, np.float32))
    tokens, mask = torch.from_numpy(examples.tokens), torch.from_numpy(examples.token_mask)
    trainer = Trainer(model, TrainConfig(lr=1e-2), "cpu")
    with torch.inference_mode():
        model.eval()(tokens, mask)  # fills the cache with the initial weights
    for _ in range(5):
        trainer.step(batch)
    fresh = checkpoint_from_model(model).build_model()
    with torch.inference_mode():
        got, _, _ = model.eval()(tokens, mask)
        want, _, _ = fresh.eval()(tokens, mask)
    assert torch.allclose(got, want, atol=1e-5)


def test_the_belief_target_mixes_the_posterior_and_the_true_holder() -> None:
    model, batch = tiny_model(), make_batch(8, 0)
    belief = batch.examples.belief
    soft = np.zeros((*belief.shape, 3), np.uint8)
    soft[belief >= 0] = (85, 85, 85)  # the posterior: no idea, a third each
    tb = TorchBatch.from_batch(with_examples(batch, belief_soft=soft), CPU)
    policy, value, logits = model(tb.tokens, tb.token_mask)
    hidden = tb.belief >= 0
    logp = torch.log_softmax(logits.float(), dim=-1)[hidden]  # [E, 3]
    true_ce = -logp.gather(1, tb.belief[hidden][:, None]).mean()
    uniform_ce = -logp.mean(dim=1).mean()
    for mix, want in ((1.0, uniform_ce), (0.0, true_ce), (0.5, (uniform_ce + true_ce) / 2)):
        losses = compute_losses(policy, value, logits, tb, SourceWeights(), belief_soft_mix=mix)
        assert losses.parts["selfplay/belief"].item() == pytest.approx(want.item(), rel=1e-4)
