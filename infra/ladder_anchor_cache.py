"""Results between the ladder's anchors, kept once per machine.

Every experiment's ladder has the same anchors (random, heuristic, the reference checkpoints,
E[Q]) playing the same deals of the same seed, and their games are deterministic, so a pair of
anchors is played once on a machine, ever: a new experiment's first ladder run starts with those
results instead of spending its budget on them. The cache file is named by a signature of the
anchors (their specs and the sha256 of their checkpoint files), so other anchors or other
reference files never share results.
"""

from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from infra.experiment import sha256_file
from zeb_core.atomic_files import atomic_write_bytes
from zeb_core.evaluation.elo_ladder import Ladder, LadderPlayer, MatchRecord, add_result

log = logging.getLogger("zeb.ladder")
ANCHOR_CACHE_FORMAT = "zeb-ladder-anchors-1"


class AnchorResults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = ANCHOR_CACHE_FORMAT
    anchors: list[str]
    matches: list[MatchRecord] = []


def anchor_cache_file(cache_dir: Path, anchors: list[LadderPlayer], reference: Path | None) -> Path:
    return cache_dir.expanduser() / f"anchors-{_signature(anchors, reference)}.json"


def with_cached_results(ladder: Ladder, cache_file: Path) -> Ladder:
    """The ladder with every cached result between two of its anchors."""
    anchors = {p.name for p in ladder.players if p.anchor}
    for record in _read(cache_file).matches:
        if record.a in anchors and record.b in anchors:
            ladder = add_result(ladder, record)
    return ladder


def remember(ladder: Ladder, record: MatchRecord, cache_file: Path) -> None:
    """Keep a result if both its players are anchors (written atomically)."""
    if not all(ladder.player(n).anchor for n in (record.a, record.b)):
        return
    cached = _read(cache_file)
    if any(m.key == record.key for m in cached.matches):
        return
    names = sorted(p.name for p in ladder.players if p.anchor)
    updated = AnchorResults(anchors=names, matches=[*cached.matches, record])
    atomic_write_bytes(cache_file, updated.model_dump_json(indent=1).encode())


def _read(cache_file: Path) -> AnchorResults:
    if not cache_file.is_file():
        return AnchorResults(anchors=[])
    try:
        return AnchorResults.model_validate_json(cache_file.read_bytes())
    except (ValidationError, OSError) as err:  # a bad cache costs games, never a wrong rating
        log.warning("ignoring the anchors' result cache %s: %s", cache_file, err)
        return AnchorResults(anchors=[])


def _signature(anchors: list[LadderPlayer], reference: Path | None) -> str:
    parts = []
    for player in sorted(anchors, key=lambda p: p.name):
        files = None
        if player.checkpoint is not None and reference is not None:
            files = _file_sha(reference / player.checkpoint)
        parts.append([player.name, player.spec(), files])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _file_sha(path: Path) -> str | None:
    if not path.is_file():
        return None
    stat = path.stat()
    return _sha_of(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _sha_of(path: str, size: int, mtime_ns: int) -> str:  # size and mtime key the cache
    return sha256_file(Path(path))
