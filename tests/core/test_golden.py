"""Exact compatibility with the original: replay all 60 recorded games."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zeb_core.game.engine import from_deals, seat_outcomes, step
from zeb_core.game.tokenizer import observe
from zeb_core.network.checkpoint import load_checkpoint


def _replay(golden):
    games = golden["games"]
    state = from_deals(
        np.array([g["hands"] for g in games]),
        np.array([g["decl_id"] for g in games]),
        np.array([g["bidder"] for g in games]),
        np.array([g["bid"] for g in games]),
    )
    observations = []
    for k in range(28):
        observations.append(observe(state))
        state = step(state, np.array([g["steps"][k]["action_slot"] for g in games]))
    return state, observations


def test_dominoes_table(golden):
    from zeb_core.game.rules import HIGH, LOW

    assert golden["dominoes"] == [[int(h), int(lo)] for h, lo in zip(HIGH, LOW, strict=True)]


def test_replay_legal_slots_tokens_points_outcomes(golden):
    games = golden["games"]
    final, observations = _replay(golden)
    for k, obs in enumerate(observations):
        for i, g in enumerate(games):
            s = g["steps"][k]
            assert np.flatnonzero(obs.legal[i]).tolist() == s["legal_slots"], (i, k)
            np.testing.assert_array_equal(obs.tokens[i], s["tokens"], err_msg=f"game {i} step {k}")
            np.testing.assert_array_equal(obs.token_mask[i], np.array(s["token_mask"], bool))
            assert g["hands"][s["player"]][s["action_slot"]] == s["domino"]
    np.testing.assert_array_equal(final.team_points, [g["team_points"] for g in games])
    expected = np.array([g["outcome_by_seat"] for g in games])
    np.testing.assert_allclose(seat_outcomes(final, "bid"), expected, atol=1e-5)


@pytest.mark.parametrize("forward", ["forward", "forward_padded"])
def test_reference_model_outputs(golden, reference_ckpt, forward):
    model = load_checkpoint(reference_ckpt).build_model("cpu")
    steps = [s for g in golden["games"] for s in g["steps"]]
    tokens = torch.tensor([s["tokens"] for s in steps], dtype=torch.uint8)
    mask = torch.tensor([s["token_mask"] for s in steps], dtype=torch.bool)
    with torch.inference_mode():
        policy, value, belief = getattr(model, forward)(tokens, mask)
    assert belief is None
    np.testing.assert_allclose(value.numpy(), [s["value"] for s in steps], atol=1e-4)
    held = tokens[:, 1:8, 7].numpy() == 1  # logits of played slots carry no meaning
    golden_logits = np.array([s["policy_logits"] for s in steps])
    assert np.abs(policy.numpy() - golden_logits)[held].max() < 1e-4
