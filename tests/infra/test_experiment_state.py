"""The state schema of `EXP-state.json`: control defaults, strict validation, format upgrade."""

from __future__ import annotations

import json

import pytest

from infra.experiment_state import Controls, ExperimentState, Origin, StateError


def origin() -> Origin:
    return Origin(checkpoint="boot.pt", sha256="0" * 64)


def test_control_defaults_are_the_original_stage_flags() -> None:
    c = Controls()
    assert (c.eval_aux_enabled, c.eval_aux_batch_fraction, c.eval_aux_policy_weight) == (
        False,
        0.0,
        0.0,
    )
    assert (c.eval_aux_value_weight, c.eval_aux_belief_weight) == (1.0, 0.5)
    assert (c.eval_aux_max_model_lag, c.eval_aux_lag_half_life) == (400, 200.0)
    assert c.eval_aux_min_keep_weight == 0.10
    s1 = Controls.stage1()
    assert s1.eval_aux_enabled and s1.eval_aux_batch_fraction == 0.05


def test_state_schema_rejects_unknown_keys_bad_values_and_other_formats() -> None:
    good = json.loads(ExperimentState(experiment="e", created_from=origin()).to_json())
    assert good["format"] == "zeb-state-3"
    assert ExperimentState.from_json(json.dumps(good).encode(), "x").experiment == "e"
    v1 = {k: v for k, v in good.items() if k not in ("published_at", "control_history")}
    old = ExperimentState.from_json(json.dumps({**v1, "format": "zeb-state-1"}).encode(), "v1")
    assert old.format == "zeb-state-3" and old.control_history == []  # version 1 still reads
    v2 = {k: v for k, v in good.items() if k != "throughput"}
    assert ExperimentState.from_json(json.dumps({**v2, "format": "zeb-state-2"}).encode(), "v2")
    cases = {
        "typo": {**good, "cycel": 3},
        "control typo": {**good, "controls": {**good["controls"], "eval_aux_fracton": 0.1}},
        "negative": {**good, "step": -1},
        "fraction": {**good, "controls": {**good["controls"], "eval_aux_batch_fraction": 2}},
        "format": {**good, "format": "zeb-state-99"},
    }
    for case, data in cases.items():
        with pytest.raises(StateError, match="not a valid zeb-state-3"):
            ExperimentState.from_json(json.dumps(data).encode(), case)
    with pytest.raises(StateError):
        ExperimentState.from_json(b"{not json", "garbage")
