"""Example shards: the files self-play and eval-aux workers upload and the learner ingests.

Format `zeb-shard` version 2 (`SHARD_FORMAT`), one `.npz` archive (zip, deflate-compressed, no
pickled objects anywhere, so it is read with `allow_pickle=False`):

    tokens      uint8   [N, 36, 8]   tokenizer v1 observation
    token_mask  bool    [N, 36]
    legal       bool    [N, 7]
    policy      float32 [N, 7]       normalized root visits (policy target)
    value       float32 [N]          value target, from the deciding seat's view (`value_target`)
    belief      int8    [N, 28]      holder as relative seat - 1 (0..2), -1 = masked
    belief_soft uint8   [N, 28, 3]   sampled posterior of the holder, in 255ths (version 2)
    seat        int8    [N]
    meta        str     []           one JSON object, the `ShardMeta` fields below

Every array shares the leading dimension N (== meta.n_examples). Files are written atomically
(temporary name, then rename) and named `<worker>-<UTC time>-<seq>.npz` (`shard_name`), so names
from one worker sort oldest first. Reading checks the format version, the engine and tokenizer
versions, the metadata schema, every array's dtype and shape and the value ranges
(`Examples.validate`); anything wrong raises `ShardError` with one line naming the shard.
Version 1 shards (no `belief_soft`) still read: their soft target is the true holder.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from zeb_core.atomic_files import atomic_write_bytes
from zeb_core.data.examples import EXAMPLE_FIELDS, Examples, one_hot_soft
from zeb_core.game.engine import ENGINE_VERSION
from zeb_core.game.rules import N_DOMINOES
from zeb_core.game.tokenizer import FEATURE_CARDINALITY, N_TOKENS, TOKENIZER_VERSION

SHARD_FORMAT = 2
READABLE_FORMATS = (1, 2)  # 1: before belief_soft
SHARD_SUFFIX = ".npz"
SELFPLAY = "selfplay-mcts"
EVAL_AUX = "eval-eq-zeb"
Source = Literal["selfplay-mcts", "eval-eq-zeb"]
# Worker ids end up in file names and hub paths: letters, digits, '.', '_', '-'. Up to 127
# characters: a fleet label (`zeb-<EXP>-<role>-worker-<provider>-<i>`) with a 64-character EXP
# fits, and a shard name stays under the hub's 200-character path segment.
WORKER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,126}$"


class ShardError(ValueError):
    """A shard is corrupt, truncated, of another version or out of range (one-line message)."""


class ShardMeta(BaseModel):
    """What produced a shard. `model_cycle` is what eval-aux model lag is measured against."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = SHARD_FORMAT
    engine_version: int = ENGINE_VERSION
    tokenizer_version: str = TOKENIZER_VERSION
    source: Source
    model_cycle: int = Field(ge=0)  # learner cycle of the weights that played (state `cycle`)
    model_step: int = Field(ge=0)  # training steps of those weights (state `step`)
    weights_revision: str = ""  # hub revision the weights were pulled at ("" = unknown / local)
    worker_id: str = Field(pattern=WORKER_ID_PATTERN)
    created_at: AwareDatetime
    n_games: int = Field(ge=0)
    n_examples: int = Field(ge=0)
    value_target: Literal["win"] = "win"  # +1/-1/0 by the team with more of the 42 points
    value_root_mix: float = Field(0.0, ge=0.0, le=1.0)  # share of the search's root value in it
    eq_win_rate: float | None = Field(None, ge=0.0, le=1.0)  # eval-aux: E[Q] player vs model
    eq_margin: float | None = Field(None, allow_inf_nan=False)  # eval-aux: mean point margin

    @model_validator(mode="after")
    def _eval_aux_reports_eq(self) -> ShardMeta:
        if self.source == EVAL_AUX and (self.eq_win_rate is None or self.eq_margin is None):
            raise ValueError("eval-aux shards must record eq_win_rate and eq_margin")
        return self


@dataclass(frozen=True)
class Shard:
    examples: Examples
    meta: ShardMeta


def shard_name(worker_id: str, created_at: datetime, seq: int) -> str:
    """`<worker>-<YYYYmmddTHHMMSSZ>-<seq>.npz`; the time is converted to UTC."""
    if not re.match(WORKER_ID_PATTERN, worker_id):
        raise ValueError(f"invalid worker id {worker_id!r}")
    stamp = created_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{worker_id}-{stamp}-{seq:06d}{SHARD_SUFFIX}"


_NAME_STAMP = re.compile(r"-(\d{8}T\d{6}Z)-(\d+)\.npz$")


def shard_time(name: str) -> datetime | None:
    """The UTC creation time written into a shard's name (None for names zeb did not write)."""
    match = _NAME_STAMP.search(name)
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def shard_seq(name: str) -> int | None:
    """The sequence number written into a shard's name (None for names zeb did not write)."""
    match = _NAME_STAMP.search(name)
    return int(match.group(2)) if match else None


def shard_worker(name: str) -> str | None:
    """The worker id a shard name starts with (None for names zeb did not write)."""
    parts = name.rsplit("-", 2)  # <worker>, <stamp>, <seq>.npz
    return parts[0] if len(parts) == 3 and shard_time(name) is not None else None


# -- writing --------------------------------------------------------------------------------------


def shard_to_bytes(examples: Examples, meta: ShardMeta) -> bytes:
    """Encode a shard; a producer bug (mismatched count, bad ranges) raises ValueError here."""
    if meta.n_examples != len(examples):
        raise ValueError(f"meta.n_examples={meta.n_examples} but {len(examples)} examples")
    examples.validate()
    buf = io.BytesIO()
    arrays = {f.name: getattr(examples, f.name) for f in fields(Examples)}
    np.savez_compressed(buf, meta=np.array(meta.model_dump_json()), **arrays)
    return buf.getvalue()


def write_shard(path: str | Path, examples: Examples, meta: ShardMeta) -> Path:
    """Write atomically: readers see either no file or the whole shard."""
    return atomic_write_bytes(Path(path), shard_to_bytes(examples, meta))


# -- reading --------------------------------------------------------------------------------------


def read_shard(path: str | Path) -> Shard:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ShardError(f"{path}: unreadable ({exc.strerror or type(exc).__name__})") from None
    return shard_from_bytes(data, str(path))


def shard_from_bytes(data: bytes, name: str = "<bytes>") -> Shard:
    """Decode and validate a shard; every problem is a one-line `ShardError` naming `name`."""
    arrays, meta_text = _decode(data, name)
    meta = _parse_meta(meta_text, name)
    if meta.format == 1:  # before soft belief targets: the true holder is the target
        arrays["belief_soft"] = one_hot_soft(arrays["belief"])
    elif "belief_soft" not in arrays:
        raise ShardError(f"{name}: arrays missing ['belief_soft'] (required from format 2)")
    examples = Examples(**arrays)
    try:
        examples.validate()
        _check_tokens(examples)
    except ValueError as exc:
        raise ShardError(f"{name}: {exc}") from None
    if meta.n_examples != len(examples):
        raise ShardError(
            f"{name}: meta says {meta.n_examples} examples, arrays hold {len(examples)}"
        )
    return Shard(examples=examples, meta=meta)


def _decode(data: bytes, name: str) -> tuple[dict[str, np.ndarray], str]:
    """Every array read in full here, so a truncated or corrupt archive fails now, not later."""
    expected = {*EXAMPLE_FIELDS, "meta"}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            present = set(npz.files)
            if present != expected and present != expected - {"belief_soft"}:
                missing, extra = sorted(expected - present), sorted(present - expected)
                raise ShardError(f"{name}: arrays missing {missing}, unexpected {extra}")
            arrays = {key: npz[key] for key in EXAMPLE_FIELDS if key in present}
            meta = npz["meta"]
    except ShardError:
        raise
    except Exception as exc:  # zipfile, zlib, numpy and OS errors all mean "not a readable shard"
        raise ShardError(f"{name}: not a readable shard archive ({_one_line(exc)})") from None
    if meta.shape != () or meta.dtype.kind != "U":
        raise ShardError(f"{name}: meta must be one JSON string, got {meta.dtype}{meta.shape}")
    return arrays, str(meta)


def _parse_meta(text: str, name: str) -> ShardMeta:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ShardError(f"{name}: meta is not JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise ShardError(f"{name}: meta is not a JSON object")
    # Versions first, so a newer shard says "version" rather than some schema detail.
    if raw.get("format") not in READABLE_FORMATS:
        raise ShardError(
            f"{name}: shard format {raw.get('format')!r}, this zeb reads {READABLE_FORMATS}"
        )
    for key, ours in (("engine_version", ENGINE_VERSION), ("tokenizer_version", TOKENIZER_VERSION)):
        if raw.get(key) != ours:
            raise ShardError(f"{name}: {key} {raw.get(key)!r}, this zeb has {ours!r}")
    try:
        return ShardMeta.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise ShardError(f"{name}: bad meta: {loc}: {first['msg']}") from None


_CARDINALITY = np.array(FEATURE_CARDINALITY, dtype=np.uint8)


def _check_tokens(examples: Examples) -> None:
    """Token features inside their embedding tables (an out-of-range id would crash training)."""
    if (examples.tokens >= _CARDINALITY).any():
        raise ValueError("field tokens: a feature outside its range")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


# -- synthetic examples (tests and benchmarks) ----------------------------------------------------


def synthetic_examples(n: int, rng: np.random.Generator) -> Examples:
    """Valid random examples shaped like real decisions (tests and benchmarks, not training).

    Decision d (0..27) of a hand: the mover has played d // 4 of its 7 dominoes, so it sees the
    declaration, 7 - d // 4 hand tokens and d play tokens (real token-count spread, which matters
    for the packed forward); the belief target hides the 28 - (7 - d // 4) - d unseen dominoes.
    """
    d = rng.integers(0, N_DOMINOES, n)
    held = 7 - d // 4
    tokens = (rng.random((n, N_TOKENS, len(_CARDINALITY))) * _CARDINALITY).astype(np.uint8)
    slot_rank = rng.random((n, 7)).argsort(axis=1).argsort(axis=1)  # random held slots
    hand_mask = slot_rank < held[:, None]  # [n, 7]
    play_mask = np.arange(N_TOKENS - 8)[None, :] < d[:, None]  # [n, 28]
    token_mask = np.concatenate([np.ones((n, 1), bool), hand_mask, play_mask], axis=1)
    tokens[~token_mask] = 0
    legal = hand_mask & ((rng.random((n, 7)) < 0.6) | (slot_rank == 0))  # never empty
    policy = np.where(legal, rng.random((n, 7)) + 1e-3, 0).astype(np.float32)
    policy /= policy.sum(axis=1, keepdims=True)
    belief = rng.integers(0, 3, (n, N_DOMINOES)).astype(np.int8)
    seen = rng.random((n, N_DOMINOES)).argsort(axis=1) < (held + d)[:, None]
    belief[seen] = -1
    return Examples(
        tokens=tokens,
        token_mask=token_mask,
        legal=legal,
        policy=policy,
        value=rng.choice(np.array([-1, 0, 1], np.float32), n),
        belief=belief,
        belief_soft=one_hot_soft(belief),
        seat=rng.integers(0, 4, n).astype(np.int8),
    )
