"""Where a learner step's time goes, on the device the learner would use (CUDA when present).

    python bench/learner_profile.py [--size small] [--no-belief] [--batch N] [--device auto]
        [--steps 60] [--threads N] [--dropout 0]

Built for the question a GPU run left open: on an H200 the learner ran ~30 steps/s at batch 64
and at batch 512 alike, so a step there is bound by per-step work on the host, not by the GPU.
This measures, in one run and on one device:

- steps/s of `Trainer.step` with zeb's packed forward and with the original's padded forward
  (the packed one finds each row's tokens with index ops; on a GPU some of those wait for it);
- the replay sampling that precedes every step (numpy, on the host), in ms per batch;
- a torch.profiler pass over the packed step: the time in each labelled phase of
  `Trainer.step` (to_device, forward, loss, backward, clip, readout, optimizer; host time, and
  on CUDA the span of each phase's kernels, idle gaps included), the ops that cost the host
  most, and on CUDA the kernel launches a step.

What it found on an H200 (2026-12-04, small preset, belief head): 40.9 steps/s packed and 45.6
padded at batch 512, 51.7 and 45.4 at batch 64. The forward's kernels span ~16 ms a step at
either batch while cudaLaunchKernel alone takes ~6 ms of the host's: the step is bound by
launching many small kernels, not by the GPU's arithmetic. On CUDA the backward's kernels are
launched from autograd's own thread, outside the label, so "backward" shows almost no device
span there; its host time is what the engine takes to launch them.

Batches come from a replay buffer of synthetic examples with real token-count spread, 5%
eval-aux, as `bench/learner.py` builds them. Batch size defaults to the learner's by device
(64 on CPU, 512 on CUDA). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import report  # noqa: E402
from bench._training import make_trainer, synthetic_replay  # noqa: E402
from infra.learner.options import default_batch_size  # noqa: E402
from zeb_core.data.replay import ReplayBuffer, TrainBatch  # noqa: E402
from zeb_core.data.train import Trainer  # noqa: E402
from zeb_core.network.checkpoint import resolve_device  # noqa: E402
from zeb_core.network.model import count_parameters  # noqa: E402

PHASE_PREFIX = "zeb."  # the labels of Trainer.step's phases
EVAL_AUX_FRACTION = 0.05
TOP_OPS = 12
KERNEL_LAUNCHES = ("cudaLaunchKernel", "cuLaunchKernel", "cuLaunchKernelEx")


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    batch = args.batch or default_batch_size(device.type)
    buffer = synthetic_replay(50_000, 5_000, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    sample_ms, batches = time_sampling(buffer, batch, args.steps, rng)
    rates = {
        form: steps_per_s(_trainer(args, device, form), batches, device)
        for form in ("packed", "padded")
    }
    profiled = _trainer(args, device, "packed")
    phases, top_ops, launches = profile_step(profiled, batches[:20], device)
    print_summary(args, device, batch, sample_ms, rates, phases, top_ops, launches)
    report(
        {
            "bench": "learner_profile",
            "device": device.type,
            "size": args.size,
            "params": count_parameters(profiled.model),
            "belief_head": args.belief,
            "dropout": args.dropout,
            "batch": batch,
            "threads": torch.get_num_threads(),
            "steps": args.steps,
            "steps_per_s": {k: round(v, 2) for k, v in rates.items()},
            "sample_ms_per_batch": round(sample_ms, 2),
            "phases_ms_per_step": phases,
            "top_host_ops_ms_per_step": top_ops,
            "kernel_launches_per_step": launches,
        }
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", help="model preset (small, medium, large)")
    parser.add_argument("--belief", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--batch", type=int, default=None, help="default: the learner's by device")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per forward")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--dropout", type=float, default=0.0, help="in training (the learner's)")
    args = parser.parse_args()
    if args.steps < 20:
        parser.error("--steps must be at least 20 (the profile takes 20 of them)")
    return args


def time_sampling(
    buffer: ReplayBuffer, batch: int, n: int, rng: np.random.Generator
) -> tuple[float, list[TrainBatch]]:
    """Median ms of one `ReplayBuffer.sample`, and the n batches drawn."""
    batches, times = [], []
    for _ in range(n):
        start = time.perf_counter()
        batches.append(buffer.sample(batch, EVAL_AUX_FRACTION, rng))
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times), batches


def _trainer(args: argparse.Namespace, device: torch.device, form: str) -> Trainer:
    return make_trainer(args.size, args.belief, args.dropout, form == "padded", device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def warm_up(trainer: Trainer, batches: list[TrainBatch], device: torch.device) -> None:
    """A few steps off the clock: allocator, kernels, lazy init."""
    for batch in batches[:3]:
        trainer.step(batch)
    sync(device)


def steps_per_s(trainer: Trainer, batches: list[TrainBatch], device: torch.device) -> float:
    warm_up(trainer, batches, device)
    start = time.perf_counter()
    for batch in batches:
        trainer.step(batch)
    sync(device)
    return len(batches) / (time.perf_counter() - start)


def profile_step(
    trainer: Trainer, batches: list[TrainBatch], device: torch.device
) -> tuple[dict[str, dict[str, float]], dict[str, float], int]:
    """Per phase: host and device ms per step; the host's costliest ops, ms per step; and the
    kernel launches per step (0 on CPU)."""
    warm_up(trainer, batches, device)
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        for batch in batches:
            trainer.step(batch)
        sync(device)
    n = len(batches)
    events = prof.key_averages()
    phases = _phases(events, n)
    ops = sorted(
        (e for e in events if not e.key.startswith(PHASE_PREFIX)),
        key=lambda e: e.self_cpu_time_total,
        reverse=True,
    )
    top = {e.key: round(e.self_cpu_time_total / 1000 / n, 3) for e in ops[:TOP_OPS]}
    launches = sum(e.count for e in events if e.key in KERNEL_LAUNCHES)
    return phases, top, round(launches / n)


def _phases(events, n: int) -> dict[str, dict[str, float]]:
    """Host and device ms per step of each labelled phase.

    On CUDA a label appears twice, as the host's range (host time) and as a GPU annotation
    (device time: the span from its first kernel's start to its last one's end, idle gaps
    included), so the two are merged by name.
    """
    phases: dict[str, dict[str, float]] = {}
    for e in events:
        if not e.key.startswith(PHASE_PREFIX):
            continue
        phase = phases.setdefault(e.key.removeprefix(PHASE_PREFIX), {"host": 0.0, "device": 0.0})
        phase["host"] = max(phase["host"], round(e.cpu_time_total / 1000 / n, 3))
        phase["device"] = max(phase["device"], round(_device_time_total(e) / 1000 / n, 3))
    return phases


def _device_time_total(event) -> float:
    """The event's device microseconds (the attribute's name changed across torch versions)."""
    for name in ("device_time_total", "cuda_time_total"):
        if hasattr(event, name):
            return float(getattr(event, name))
    return 0.0


def print_summary(args, device, batch, sample_ms, rates, phases, top_ops, launches) -> None:
    belief = "with" if args.belief else "without"
    print(
        f"{args.size} preset {belief} belief head, batch {batch}, dropout {args.dropout:g}, "
        f"on {device.type}"
    )
    print(f"  replay sample: {sample_ms:.2f} ms a batch (host)")
    for form, rate in rates.items():
        print(f"  {form:6s} forward: {rate:6.1f} steps/s ({1000 / rate:.1f} ms a step)")
    print("  phases of the packed step, ms a step (host / device span):")
    for name, ms in sorted(phases.items(), key=lambda kv: -kv[1]["host"]):
        print(f"    {name:10s} {ms['host']:8.2f} / {ms['device']:.2f}")
    print("  the host's costliest ops, ms a step (self time):")
    for name, ms in top_ops.items():
        print(f"    {name:40s} {ms:8.3f}")
    if launches:
        print(f"  kernel launches: {launches} a step")


if __name__ == "__main__":
    main()
