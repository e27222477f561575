"""The command line's tests run in the infra tests' isolated environment, with their hubs."""

from tests.infra.conftest import _isolated_env, fake_hf, hf_hub, local_hub  # noqa: F401
