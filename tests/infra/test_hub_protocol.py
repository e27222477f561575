"""The Hub protocol, run against every backend (LocalHub and HfHub on the fake server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.hub import Hub, HubError, HubNotFoundError, delete, write


def test_backends_satisfy_the_protocol(any_hub: Hub) -> None:
    assert isinstance(any_hub, Hub)
    assert any_hub.description


def test_commit_many_files_then_read_and_list(any_hub: Hub, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 40)
    before = any_hub.head("weights")
    rev = any_hub.commit(
        "weights", {"e.pt": big, "e-config.json": b'{"a": 1}', "e-state.json": b"{}"}, message="m"
    )
    assert rev is not None and rev != before and len(rev) == 40
    assert any_hub.head("weights") == rev
    assert any_hub.read("weights", "e.pt") == big.read_bytes()
    assert any_hub.download("weights", "e-config.json").read_bytes() == b'{"a": 1}'
    listed = any_hub.list("weights")
    assert [(f.path, f.size) for f in listed] == [
        ("e-config.json", 8),
        ("e-state.json", 2),
        ("e.pt", 10240),
    ]
    # The other repo is untouched.
    assert any_hub.list("examples") == []


def test_list_folder_is_recursive_and_missing_folder_is_empty(any_hub: Hub) -> None:
    any_hub.commit(
        "examples",
        {"e/selfplay-mcts/a.bin": b"1", "e/selfplay-mcts/b.bin": b"22", "e/eval-eq-zeb/c.bin": b""},
    )
    any_hub.commit("examples", {"other/selfplay-mcts/z.bin": b"9"})
    assert [f.path for f in any_hub.list("examples", "e")] == [
        "e/eval-eq-zeb/c.bin",
        "e/selfplay-mcts/a.bin",
        "e/selfplay-mcts/b.bin",
    ]
    shards = any_hub.list("examples", "e/selfplay-mcts/")
    assert [(f.path, f.name, f.size) for f in shards] == [
        ("e/selfplay-mcts/a.bin", "a.bin", 1),
        ("e/selfplay-mcts/b.bin", "b.bin", 2),
    ]
    assert any_hub.list("examples", "nothing-here") == []


def test_pinned_revision_reads_the_old_files(any_hub: Hub) -> None:
    r1 = any_hub.commit("weights", {"e.pt": b"v1", "e-state.json": b"s1"})
    r2 = any_hub.commit("weights", {"e.pt": b"v2", "e-state.json": b"s2"})
    assert r1 != r2
    assert any_hub.read("weights", "e.pt", r1) == b"v1"
    assert any_hub.download("weights", "e-state.json", r1).read_bytes() == b"s1"
    assert any_hub.read("weights", "e.pt") == b"v2"
    assert [f.size for f in any_hub.list("weights", revision=r1)] == [2, 2]


def test_delete_many_in_one_commit_and_missing_paths_are_ignored(any_hub: Hub) -> None:
    any_hub.commit("examples", {f"e/s/{i}.bin": bytes([i]) for i in range(6)})
    rev = delete(any_hub, "examples", ["e/s/0.bin", "e/s/1.bin", "e/s/2.bin", "e/s/404.bin"])
    assert [f.path for f in any_hub.list("examples", "e")] == [
        "e/s/3.bin",
        "e/s/4.bin",
        "e/s/5.bin",
    ]
    # Deleting only missing files, or rewriting identical bytes, makes no commit.
    assert delete(any_hub, "examples", ["e/s/0.bin"]) == rev
    assert write(any_hub, "examples", "e/s/3.bin", bytes([3])) == rev
    assert any_hub.head("examples") == rev


def test_revision_of_a_file_is_the_commit_that_last_wrote_it(any_hub: Hub) -> None:
    r1 = any_hub.commit("weights", {"a.pt": b"a", "b.pt": b"b"})
    r2 = any_hub.commit("weights", {"b.pt": b"b2"})
    assert any_hub.revision("weights", "a.pt") == r1
    assert any_hub.revision("weights", "b.pt") == r2
    assert any_hub.revision("weights", "missing.pt") is None


def test_missing_files_and_revisions_raise_not_found(any_hub: Hub) -> None:
    any_hub.commit("weights", {"a.pt": b"a"})
    with pytest.raises(HubNotFoundError):
        any_hub.read("weights", "nope.pt")
    with pytest.raises(HubNotFoundError):
        any_hub.read("weights", "a.pt", revision="0" * 40)


@pytest.mark.parametrize("path", ["", "/abs", "a//b", "../up", ".hidden", "a/./b", "sp ace", "é"])
def test_unsafe_paths_are_rejected(any_hub: Hub, path: str) -> None:
    with pytest.raises(HubError, match="invalid hub path"):
        any_hub.commit("weights", {path: b"x"})
