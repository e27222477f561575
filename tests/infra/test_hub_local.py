"""LocalHub specifics: atomic commits, concurrent writers, readers that never see half a commit."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from infra.hub import HubNotFoundError, LocalHub
from infra.hub import local as local_module


def _trio(version: int) -> dict[str, bytes]:
    tag = str(version).encode()
    return {"e.pt": b"ckpt-" + tag * 1000, "e-config.json": b"cfg-" + tag, "e-state.json": tag}


def test_a_commit_killed_before_the_head_flip_leaves_the_old_head(
    local_hub: LocalHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    r1 = local_hub.commit("weights", _trio(1))
    real_write = local_module.atomic_write_bytes

    def crash_on_head(path: Path, data: bytes) -> None:
        if path.name == "HEAD":
            raise KeyboardInterrupt("killed")  # as if the process died right here
        real_write(path, data)

    monkeypatch.setattr(local_module, "atomic_write_bytes", crash_on_head)
    with pytest.raises(KeyboardInterrupt):
        local_hub.commit("weights", _trio(2))
    monkeypatch.setattr(local_module, "atomic_write_bytes", real_write)
    assert local_hub.head("weights") == r1
    assert local_hub.read("weights", "e-state.json") == b"1"
    # The next writer carries on from the old head; no temporary file is left visible.
    r3 = local_hub.commit("weights", _trio(3))
    assert local_hub.read("weights", "e.pt", r3) == _trio(3)["e.pt"]
    leftovers = [p for p in (local_hub.root / "weights").rglob("*.tmp")]
    assert leftovers == []


def test_readers_never_see_a_half_written_trio(local_hub: LocalHub) -> None:
    local_hub.commit("weights", _trio(0))
    done = threading.Event()
    mismatches: list[tuple[bytes, bytes, bytes]] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not done.is_set():
            rev = local_hub.head("weights")
            ckpt = local_hub.read("weights", "e.pt", rev)
            cfg = local_hub.read("weights", "e-config.json", rev)
            state = local_hub.read("weights", "e-state.json", rev)
            if ckpt[5:] != state * 1000 or cfg[4:] != state:
                mismatches.append((ckpt[:8], cfg, state))
            reads += 1

    thread = threading.Thread(target=reader)
    thread.start()
    for version in range(1, 25):
        local_hub.commit("weights", _trio(version))
    done.set()
    thread.join()
    assert reads > 0 and mismatches == []


def _worker(root: str, worker: int, commits: int) -> None:
    hub = LocalHub(root)
    for i in range(commits):
        hub.commit("examples", {f"e/selfplay-mcts/w{worker}-{i}.bin": b"x" * (i + 1)})


def test_concurrent_writer_processes_lose_no_commit(tmp_path: Path) -> None:
    root = tmp_path / "hub"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(str(root), w, 8)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    hub = LocalHub(root)
    names = {f.name for f in hub.list("examples", "e")}
    assert names == {f"w{w}-{i}.bin" for w in range(4) for i in range(8)}


def test_revision_ids_chain_and_old_revisions_are_collected(tmp_path: Path) -> None:
    hub = LocalHub(tmp_path / "hub", keep_revisions=3)
    revs = [hub.commit("weights", _trio(v)) for v in range(6)]
    assert len(set(revs)) == 6 and all(r and len(r) == 40 for r in revs)
    # The last three revisions stay readable; older ones (and their blobs) are gone.
    for rev, version in zip(revs[-3:], range(3, 6), strict=True):
        assert hub.read("weights", "e-state.json", rev) == str(version).encode()
    with pytest.raises(HubNotFoundError, match="garbage-collected"):
        hub.read("weights", "e.pt", revs[0])
    blobs = list((hub.root / "weights" / "blobs").iterdir())
    assert len(blobs) == 3 * 3  # three kept revisions, three distinct files each


def test_the_revision_that_wrote_a_file_at_head_stays_readable(tmp_path: Path) -> None:
    hub = LocalHub(tmp_path / "hub", keep_revisions=3)
    hub.commit("weights", _trio(0))
    trio = _trio(1) | {"e-config.json": _trio(0)["e-config.json"]}  # the config unchanged
    written = hub.commit("weights", trio)
    for i in range(5):  # later commits of another file (a ladder, say)
        hub.commit("weights", {"e-ladder.json": str(i).encode()})
    assert hub.revision("weights", "e.pt") == written
    for path in ("e.pt", "e-config.json", "e-state.json"):  # the whole trio, as it was
        assert hub.read("weights", path, written) == hub.read("weights", path)
    hub.commit("weights", _trio(2))
    for i in range(3):
        hub.commit("weights", {"e-ladder.json": f"x{i}".encode()})
    with pytest.raises(HubNotFoundError, match="garbage-collected"):
        hub.read("weights", "e.pt", written)  # no file at head names it any more
    blobs = list((hub.root / "weights" / "blobs").iterdir())
    # The last three commits hold the trio v2 and ladders x0-x2; the trio's own commit, named
    # by head, keeps its ladder (4) too.
    assert len(blobs) == 3 + 3 + 1


def test_identical_content_is_stored_once(local_hub: LocalHub) -> None:
    local_hub.commit("examples", {"e/s/a.bin": b"same", "e/s/b.bin": b"same"})
    assert len(list((local_hub.root / "examples" / "blobs").iterdir())) == 1
    assert local_hub.read("examples", "e/s/b.bin") == b"same"


def test_unknown_repo_is_an_error(local_hub: LocalHub) -> None:
    with pytest.raises(Exception, match="unknown repo"):
        local_hub.head("models")  # type: ignore[arg-type]
