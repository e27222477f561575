"""HfHub against the fake Hub server: batching, repo creation, retries, errors and quiet logs.

huggingface_hub runs for real; only the server is fake (see tests/fakes/fake_hf_server.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from huggingface_hub.utils import are_progress_bars_disabled

from infra.hub import CommitBudget, HubAuthError, HubNotFoundError, HubUnavailableError, RetryPolicy
from tests.fakes.fake_hf_server import FakeHfServer

COMMIT = r"/api/models/zeb-test/examples/commit/"


def test_many_files_make_one_commit(hf_hub, fake_hf: FakeHfServer) -> None:
    shards = {f"e/selfplay-mcts/w0-{i}.bin": bytes([i]) * 100 for i in range(25)}
    rev = hf_hub.commit("examples", shards, message="upload interval")
    assert fake_hf.count("POST", COMMIT) == 1
    assert fake_hf.commits("zeb-test/examples")[-1].oid == rev
    assert len(hf_hub.list("examples", "e/selfplay-mcts")) == 25
    hf_hub.commit("examples", deletes=list(shards)[:20], message="prune")
    assert fake_hf.count("POST", COMMIT) == 2
    assert len(fake_hf.files("zeb-test/examples")) == 1 + 5  # .gitattributes + 5 shards


def test_missing_repos_are_created_private_once(hf_hub, fake_hf, hf_hub_factory) -> None:
    hf_hub.head("weights")
    hf_hub.head("weights")
    hf_hub.head("examples")
    assert fake_hf.count("POST", "/api/repos/create") == 2
    assert fake_hf.repos[("model", "zeb-test/weights")].private
    # A second process finds the repos already there (409) and carries on.
    again = hf_hub_factory(fake_hf, Path("/nonexistent-cache"))
    assert again.head("weights") == hf_hub.head("weights")


def test_dataset_repos_and_paginated_listing(fake_hf, tmp_path, hf_hub_factory) -> None:
    fake_hf.page_size = 4
    hub = hf_hub_factory(fake_hf, tmp_path, examples_type="dataset")
    hub.commit("examples", {f"e/s/{i:02d}.bin": b"x" for i in range(11)})
    assert ("dataset", "zeb-test/examples") in fake_hf.repos
    assert [f.name for f in hub.list("examples", "e/s")] == [f"{i:02d}.bin" for i in range(11)]
    assert fake_hf.count("GET", "/api/datasets/zeb-test/examples/tree/") >= 3  # several pages


@pytest.mark.parametrize(
    "fault", ["429", "412", "500", "502", "503", "timeout", "reset", "malformed"]
)
def test_commit_survives_transient_faults(hf_hub, fake_hf: FakeHfServer, fault: str) -> None:
    hf_hub.head("examples")
    before = len(fake_hf.commits("zeb-test/examples"))
    times = 1 if fault == "timeout" else 2  # a timeout costs the client's whole timeout
    fake_hf.add_fault(fault, path=COMMIT, times=times, delay_s=1.3)
    rev = hf_hub.commit("examples", {"e/s/a.bin": b"a", "e/s/b.bin": b"b"})
    commits = fake_hf.commits("zeb-test/examples")
    assert len(commits) == before + 1 and commits[-1].oid == rev
    assert fake_hf.count("POST", COMMIT) == times + 1  # the faults, then success


def test_start_up_retries_repo_creation(fake_hf, tmp_path, hf_hub_factory) -> None:
    fake_hf.add_fault("503", path="/api/repos/create", times=2)
    fake_hf.add_fault("reset", path="/api/repos/create", times=1)
    hub = hf_hub_factory(fake_hf, tmp_path)
    assert hub.head("weights") is not None
    assert fake_hf.count("POST", "/api/repos/create") == 4


def test_reads_survive_faults_on_every_endpoint(hf_hub, fake_hf: FakeHfServer) -> None:
    rev = hf_hub.commit("weights", {"e.pt": b"weights", "e-state.json": b"{}"})
    fake_hf.add_fault("503", path="/api/models/zeb-test/weights$")  # repo_info (head)
    fake_hf.add_fault("500", path="/resolve/", method="HEAD")  # file metadata
    fake_hf.add_fault("502", path="/resolve/", method="GET")  # file body
    fake_hf.add_fault("timeout", path="/paths-info/", delay_s=1.3)
    assert hf_hub.read("weights", "e.pt") == b"weights"
    assert hf_hub.revision("weights", "e.pt") == rev
    fake_hf.add_fault("malformed", path="/tree/")
    assert [f.path for f in hf_hub.list("weights")] == ["e-state.json", "e.pt"]


def test_a_retried_prune_whose_first_try_landed_succeeds(hf_hub, fake_hf: FakeHfServer) -> None:
    hf_hub.commit("examples", {f"e/s/{i}.bin": b"x" for i in range(4)})
    # The server applies the commit but answers after the client gave up; the retry must not
    # fail on the files that are already gone.
    fake_hf.add_fault("slow", path=COMMIT, delay_s=1.3)
    hf_hub.commit("examples", deletes=["e/s/0.bin", "e/s/1.bin"])
    assert [f.name for f in hf_hub.list("examples", "e")] == ["2.bin", "3.bin"]


def test_persistent_failure_gives_up_with_a_clear_error(fake_hf, tmp_path, hf_hub_factory) -> None:
    hub = hf_hub_factory(fake_hf, tmp_path, retry=RetryPolicy(attempts=3, base_s=0.001, max_s=0.01))
    hub.head("examples")
    fake_hf.add_fault("503", path=COMMIT, times=99)
    with pytest.raises(HubUnavailableError, match="after every retry.*503"):
        hub.commit("examples", {"e/s/a.bin": b"a"})
    assert fake_hf.count("POST", COMMIT) == 3


def test_bad_token_fails_at_start_up_without_retrying(fake_hf: FakeHfServer, tmp_path) -> None:
    from infra.hub.hf import HfHub

    hub = HfHub("zeb-test/weights", "zeb-test/examples", token="hf_wrong", endpoint=fake_hf.url)
    with pytest.raises(HubAuthError, match="HTTP 401.*HF_TOKEN"):
        hub.head("weights")
    assert fake_hf.count("POST", "/api/repos/create") == 1


@pytest.mark.parametrize(("status", "error"), [("403", HubAuthError), ("404", HubNotFoundError)])
def test_403_and_404_are_not_retried(hf_hub, fake_hf: FakeHfServer, status: str, error) -> None:
    hf_hub.head("examples")
    fake_hf.add_fault(status, path=COMMIT, times=5)
    with pytest.raises(error, match=f"HTTP {status}"):
        hf_hub.commit("examples", {"e/s/a.bin": b"a"})
    assert fake_hf.count("POST", COMMIT) == 1


def test_missing_file_is_not_found_without_retry(hf_hub, fake_hf: FakeHfServer) -> None:
    hf_hub.commit("weights", {"e.pt": b"w"})
    with pytest.raises(HubNotFoundError):
        hf_hub.read("weights", "nope.pt")
    assert fake_hf.count("HEAD", "/resolve/.*/nope.pt") == 1


def test_commit_budget_spaces_commits(fake_hf, tmp_path, hf_hub_factory) -> None:
    clock = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        clock[0] += s

    budget = CommitBudget(per_window=2, window_s=3600, clock=lambda: clock[0], sleep=sleep)
    hub = hf_hub_factory(fake_hf, tmp_path, budget=budget)
    for i in range(3):
        clock[0] += 10
        hub.commit("examples", {f"e/s/{i}.bin": b"x"})
    # The third commit waited until the first left the one-hour window.
    assert waits == [pytest.approx(3600 - 20)]
    assert budget.wait_time("zeb-test/weights") == 0.0


def test_retry_delays_grow_with_jitter_and_respect_retry_after() -> None:
    import random

    policy = RetryPolicy(base_s=1.0, max_s=30.0, rng=random.Random(0))
    for attempt in range(8):
        cap = min(30.0, 2.0**attempt)
        assert cap / 2 <= policy.delay(attempt) <= cap
    assert policy.delay(0, at_least=7.0) == 7.0
    assert len({policy.delay(3) for _ in range(5)}) > 1  # jitter


def test_token_never_appears_in_any_output(
    fake_hf, tmp_path, hf_hub_factory, hf_token, caplog, capfd
) -> None:
    caplog.set_level(logging.DEBUG)
    hub = hf_hub_factory(fake_hf, tmp_path)
    fake_hf.add_fault("429", path="/commit/")
    fake_hf.add_fault("503", path="/resolve/")
    hub.commit("weights", {"e.pt": b"w" * 5000})
    hub.download("weights", "e.pt")
    fake_hf.add_fault("403", path="/commit/")
    with pytest.raises(HubAuthError) as failure:
        hub.commit("weights", {"e.pt": b"v"})
    out, err = capfd.readouterr()
    assert f"Bearer {hf_token}" in fake_hf.auth_seen  # the token was really used...
    for text in (caplog.text, out, err, str(failure.value), repr(hub), hub.description):
        assert hf_token not in text  # ...and never shown
    assert "retry" in caplog.text  # the retries were logged
    assert are_progress_bars_disabled() and "%|" not in err  # no progress bars in logs


def test_preupload_fault_is_survived(hf_hub, fake_hf: FakeHfServer) -> None:
    # huggingface_hub retries preupload itself (about 1 s); our retry sits on top of it.
    hf_hub.head("weights")
    fake_hf.add_fault("500", path="/preupload/")
    rev = hf_hub.commit("weights", {"e.pt": b"w"})
    assert fake_hf.commits("zeb-test/weights")[-1].oid == rev


def test_fingerprint_is_one_resolver_request_and_follows_the_file(hf_hub, fake_hf) -> None:
    """Workers poll for new weights with this: a HEAD on /resolve/ (HF's Resolvers bucket,
    five times the API bucket), no Hub API call."""
    assert hf_hub.fingerprint("weights", "e.pt") is None
    rev = hf_hub.commit("weights", {"e.pt": b"one"})
    first = hf_hub.fingerprint("weights", "e.pt")
    assert first.head == rev  # X-Repo-Commit: a pull at it needs no request for the head
    api_calls, resolves = fake_hf.count("GET", "/api/"), fake_hf.count("HEAD", "/resolve/")
    assert hf_hub.fingerprint("weights", "e.pt") == first
    assert fake_hf.count("HEAD", "/resolve/") == resolves + 1
    assert fake_hf.count("GET", "/api/") == api_calls
    hf_hub.commit("weights", {"e.pt": b"two"})
    assert hf_hub.fingerprint("weights", "e.pt") not in (None, first)
    # Every look counts against a quota the fleet shares: a bigger fleet looks less often.
    assert hf_hub.weights_poll_s(1) == 60.0 and hf_hub.weights_poll_s(200) == 300.0


def test_reads_by_resolve_url_create_no_repo_and_spend_no_api_call(hf_hub, fake_hf) -> None:
    """A worker's look for weights on a repo it never touched: one resolver request, no
    create_repo (a fleet of 200 starting at once would spend 200 Hub API calls on it)."""
    assert hf_hub.fingerprint("weights", "e.pt") is None  # the repo does not exist yet
    assert fake_hf.count("POST", "^/api/") + fake_hf.count("GET", "^/api/") == 0
    rev = hf_hub.commit("weights", {"e.pt": b"w"})  # a write creates it
    api_calls = fake_hf.count("POST", "^/api/") + fake_hf.count("GET", "^/api/")
    assert hf_hub.read("weights", "e.pt", rev) == b"w"
    assert fake_hf.count("POST", "^/api/") + fake_hf.count("GET", "^/api/") == api_calls
