"""Settings: one place, read from the environment, one-line errors, the token kept hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.hub import LocalHub
from infra.settings import SettingsError, load_settings, make_hub, parse_repo_spec

HF = {"ZEB_HUB": "hf", "ZEB_HF_WEIGHTS_REPO": "me/w", "ZEB_HF_EXAMPLES_REPO": "datasets/me/ex"}


def test_defaults_are_a_local_hub_and_offline_tracking() -> None:
    settings = load_settings({})
    assert settings.hub == "local" and settings.local_hub_dir == Path(".zeb/hub")
    assert settings.wandb_mode == "offline" and settings.wandb_project == "zeb"
    assert isinstance(make_hub(settings), LocalHub)


def test_wandb_mode_follows_the_api_key_unless_set() -> None:
    assert load_settings({"WANDB_API_KEY": "k"}).wandb_mode == "online"
    assert load_settings({"WANDB_API_KEY": "k", "WANDB_MODE": "disabled"}).wandb_mode == "disabled"
    assert load_settings({"WANDB_MODE": "dryrun"}).wandb_mode == "offline"
    assert load_settings({"ZEB_WANDB_MODE": "online", "WANDB_MODE": "offline"}).wandb_mode == (
        "online"
    )


def test_hf_settings_make_an_hf_hub(tmp_path: Path) -> None:
    env = {**HF, "HF_TOKEN": "hf_secret", "ZEB_HF_ENDPOINT": "http://127.0.0.1:9/"}
    settings = load_settings({**env, "ZEB_HF_CACHE_DIR": str(tmp_path)})
    assert settings.hf_endpoint == "http://127.0.0.1:9"
    assert "hf_secret" not in repr(settings) and "hf_secret" not in str(settings.model_dump())
    hub = make_hub(settings)  # builds the client; no request is made yet
    assert type(hub).__name__ == "HfHub" and "me/w,me/ex" in hub.description
    assert hub._repos["examples"] == ("me/ex", "dataset")  # type: ignore[attr-defined]
    assert load_settings({**HF, "HF_ENDPOINT": "https://mirror.example"}).hf_endpoint == (
        "https://mirror.example"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ZEB_HUB": "s3"}, "bad setting ZEB_HUB='s3'"),
        ({"ZEB_HUB": "hf"}, "ZEB_HUB=hf needs ZEB_HF_WEIGHTS_REPO and ZEB_HF_EXAMPLES_REPO"),
        ({**HF, "ZEB_HF_WEIGHTS_REPO": "no-slash"}, "ZEB_HF_WEIGHTS_REPO='no-slash'"),
        ({**HF, "ZEB_HF_EXAMPLES_REPO": "a/b--c"}, "ZEB_HF_EXAMPLES_REPO='a/b--c'"),
        ({"ZEB_HF_COMMITS_PER_HOUR": "500"}, "ZEB_HF_COMMITS_PER_HOUR='500'"),
        ({"ZEB_HF_COMMITS_PER_HOUR": "many"}, "ZEB_HF_COMMITS_PER_HOUR='many'"),
        ({"ZEB_HF_ENDPOINT": "ftp://x"}, "ZEB_HF_ENDPOINT='ftp://x': must be an http(s) URL"),
        ({"ZEB_WANDB_MODE": "loud"}, "ZEB_WANDB_MODE='loud'"),
        ({"ZEB_HF_PRIVATE": "perhaps"}, "ZEB_HF_PRIVATE='perhaps'"),
    ],
)
def test_bad_settings_give_one_line_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({**env, "HF_TOKEN": "hf_secret"})
    text = str(err.value)
    assert message in text and "\n" not in text and "hf_secret" not in text


def test_repo_specs() -> None:
    assert parse_repo_spec("jasonyandell/zeb-42") == ("jasonyandell/zeb-42", "model")
    assert parse_repo_spec("datasets/me/ex") == ("me/ex", "dataset")
    assert parse_repo_spec("models/me/w") == ("me/w", "model")
    for bad in ("me", "me/", "/w", "a/b/c", "me/w.", "me/w..x", "spaces/me/s"):
        with pytest.raises(ValueError):
            parse_repo_spec(bad)
