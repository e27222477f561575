"""ZebModel: presets, heads, and the packed forward against the plain padded one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.core.game_helpers import random_playout
from zeb_core.game.engine import new_games
from zeb_core.game.tokenizer import observe
from zeb_core.network.model import ModelConfig, ZebModel, count_parameters, preset_config


def _observations(rng, games=6):
    record: list = []
    random_playout(new_games(rng, games), rng, record)
    obs = [observe(state) for state, _ in record]
    tokens = torch.from_numpy(__import__("numpy").concatenate([o.tokens for o in obs]))
    mask = torch.from_numpy(__import__("numpy").concatenate([o.token_mask for o in obs]))
    return tokens, mask  # every decision index, so the batch mixes sequence lengths


def test_presets_and_parameter_count():
    assert count_parameters(ZebModel.from_config(preset_config("medium"))) == 556_970
    small = ZebModel.from_config(preset_config("small", belief_head=True))
    assert small.belief_queries is not None and small.belief_head is None  # zeb's head
    original = preset_config("small", belief_head=True, belief_head_type="pooled")
    assert ZebModel.from_config(original).belief_head is not None
    assert "belief_head_type" not in original.to_checkpoint_dict()  # the original's keys only
    with pytest.raises(ValueError, match="belief_head_type"):
        preset_config("small", belief_head=True, belief_head_type="mlp")
    with pytest.raises(ValueError, match="unknown model size"):
        preset_config("huge")
    with pytest.raises(ValueError, match="unknown model_config key"):
        ModelConfig.from_dict({"embed_dim": 64, "n_heads": 2, "n_layers": 2, "ff_dim": 8, "x": 1})
    with pytest.raises(ValueError, match="tokenizer"):
        preset_config("small", tokenizer="v9")


@pytest.mark.parametrize(
    "size,belief",
    [("small", "constrained"), ("medium", False), ("large", "constrained"), ("small", "pooled")]
    + [("small", "queries")],
)
def test_packed_forward_matches_padded(rng, size, belief):
    torch.manual_seed(0)
    config = preset_config(size, belief_head=bool(belief), belief_head_type=belief or "pooled")
    model = ZebModel.from_config(config).eval()
    tokens, mask = _observations(rng)
    with torch.inference_mode():
        p1, v1, b1 = model(tokens, mask)
        p2, v2, b2 = model.forward_padded(tokens, mask)
    held = tokens[:, 1:8, 7] == 1
    assert p1.shape == (tokens.shape[0], 7) and v1.shape == (tokens.shape[0],)
    torch.testing.assert_close(p1[held], p2[held], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(v1, v2, atol=1e-5, rtol=1e-4)
    assert ((v1 >= -1) & (v1 <= 1)).all()
    if belief:
        assert b1.shape == (tokens.shape[0], 28, 3)
        torch.testing.assert_close(b1, b2, atol=1e-5, rtol=1e-4)
        assert model(tokens, mask, belief=False)[2] is None  # search skips the head
    else:
        assert b1 is None


@pytest.mark.parametrize("head", ["constrained", "queries", "pooled"])
def test_the_learned_belief_is_the_head_less_the_rules_prior(rng, head):
    from zeb_core.game.tokenizer import Observation
    from zeb_core.network.evaluator import ModelEvaluator
    from zeb_core.network.holding_prior import HoldingPrior

    torch.manual_seed(0)
    model = ZebModel.from_config(preset_config("small", True, belief_head_type=head)).eval()
    tokens, mask = _observations(rng)
    evaluator = ModelEvaluator(model, "cpu", max_batch=7)  # several chunks
    legal = np.ones((len(tokens), 7), bool)  # not read
    obs = Observation(tokens=tokens.numpy(), token_mask=mask.numpy(), legal=legal)
    tilt = evaluator.belief_tilt(obs)
    if head != "constrained":
        assert model.learned_belief(tokens, mask) is None and tilt is None
        return
    with torch.inference_mode():
        _, _, logits = model(tokens, mask)
        prior = HoldingPrior()(tokens, mask)[2]
    torch.testing.assert_close(torch.from_numpy(tilt), logits - prior, atol=1e-5, rtol=1e-4)
    assert tilt.std() > 0  # a learned part beside the prior, not a constant


def test_a_file_without_a_belief_readout_builds_the_raw_mlp():
    new = preset_config("small", True)
    assert new.to_checkpoint_dict()["belief_readout"] == "normed"  # what new models get
    older = new.to_checkpoint_dict()
    older.pop("belief_readout")
    config = ModelConfig.from_dict(older)
    assert config.belief_readout == "mlp"
    assert ZebModel.from_config(config).belief_queries.read_norm is None
    assert "belief_readout" not in config.to_checkpoint_dict()  # written back as it was read
    with pytest.raises(ValueError, match="belief_readout"):
        ModelConfig.from_dict({**older, "belief_readout": "deep"})


@pytest.mark.parametrize("readout", ["mlp", "normed"])
def test_the_belief_correction_still_learns_once_its_units_are_dead(rng, readout):
    """In 20-minute runs every GELU unit of the raw readout went negative for every input, which
    stops the gradient to everything the head learns; the normed readout keeps a linear path."""
    torch.manual_seed(0)
    raw = {**preset_config("small", True).__dict__, "dropout": 0.0, "belief_readout": readout}
    model = ZebModel.from_config(ModelConfig(**raw)).train()
    with torch.no_grad():
        model.belief_queries.out[0].bias.fill_(-1e3)  # every unit dead
    tokens, mask = _observations(rng, games=2)
    _, _, belief = model(tokens, mask)
    (-torch.log_softmax(belief, dim=-1)[..., 0].mean()).backward()
    reach = model.belief_queries.attn.in_proj_weight.grad.abs().sum()
    assert (reach == 0) if readout == "mlp" else (reach > 1e-4)


def test_the_belief_reads_its_queries_as_the_attention_module_would(rng):
    """`BeliefQueries._attend` writes out `nn.MultiheadAttention`'s call (for speed) on the same
    weights: values and gradients must be the module's, padding included."""
    torch.manual_seed(0)
    head = ZebModel.from_config(preset_config("small", True)).belief_queries.train()
    x = torch.randn(5, 9, 64)
    keep = torch.arange(9)[None, :] < torch.tensor([9, 1, 4, 7, 2])[:, None]
    queries = torch.randn(5, 28, 64) + head.queries
    outputs, grads = [], []
    for attend in (head._attend, lambda q, k, m: head.attn(q, k, k, key_padding_mask=~m)[0]):
        head.zero_grad()
        out = attend(queries, x, keep)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        outputs.append(out.detach())
        grads.append({n: t.grad.clone() for n, t in head.attn.named_parameters()})
    torch.testing.assert_close(outputs[0], outputs[1])
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name])


def test_packed_forward_gradients_match_padded(rng):
    torch.manual_seed(0)
    config = ModelConfig(**{**preset_config("small", True).__dict__, "dropout": 0.0})
    model = ZebModel.from_config(config).train()
    tokens, mask = _observations(rng, games=2)
    grads = []
    for forward in (model.forward, model.forward_padded):
        model.zero_grad()
        p, v, b = forward(tokens, mask)
        held = tokens[:, 1:8, 7] == 1
        (p[held].sum() + v.sum() + b.sum()).backward()
        grads.append({n: t.grad.clone() for n, t in model.named_parameters()})
    for name in grads[0]:  # float32 sums in two orders: tolerance scaled to each tensor
        scale = float(grads[1][name].abs().max()) + 1.0
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-5 * scale, rtol=1e-3)


def test_inference_embedding_cache_follows_weight_updates(rng):
    torch.manual_seed(0)
    model = ZebModel.from_config(preset_config("small")).eval()
    tokens, mask = _observations(rng, games=1)
    with torch.inference_mode():
        before = model(tokens, mask)[1]
    with torch.no_grad():  # what an optimizer step or a weight load does: in-place updates
        model.embeddings.decl_embed.weight.add_(0.5)
    with torch.inference_mode():
        after = model(tokens, mask)[1]
    fresh = model.forward_padded(tokens, mask)[1].detach()  # grad mode: no cache involved
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, fresh, atol=1e-5, rtol=1e-4)
