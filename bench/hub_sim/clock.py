"""Simulated time for the hub-scale bench: every clock and sleep of the hub code runs on it."""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable

from hub_sim.common import log

# -- simulated time --------------------------------------------------------------------------------


class SimCancelled(BaseException):
    """The run is over: raised in every thread waiting on simulated time, to unwind it (a
    BaseException, so that no retry loop of the hub code takes it for a hub error)."""


class _Waiter:
    __slots__ = ("thread", "actor", "event", "done", "owner")

    def __init__(self, thread: threading.Thread, actor: bool, owner: SimEvent | None) -> None:
        self.thread, self.actor, self.owner = thread, actor, owner
        self.event = threading.Event()
        self.done = False


class Sim:
    """A conservative discrete-event clock over real threads.

    Actors (threads registered with `add_actor`) count as running unless they wait in `wait`;
    `busy_checks` say when other threads (the Publisher's) are at work. One ticker thread moves the
    clock to the next timer only when nothing runs, never past `horizon`, and at most `speedup`
    times faster than real time since its last step. Timers either wake a waiting thread or call a
    function on the ticker thread (the simulated play loops and the learner's training thread).
    """

    def __init__(self, speedup: float) -> None:
        self.speedup = speedup
        self.now = 0.0
        self.cond = threading.Condition()
        self.running = 0
        self.actors: set[threading.Thread] = set()
        self.sleeping: set[threading.Thread] = set()
        self.busy_checks: list[Callable[[], bool]] = []
        self.horizon = 0.0
        self.at_horizon = False
        self.cancelled = False
        self._waiting: set[_Waiter] = set()
        self.errors: list[str] = []
        self.steps = 0
        self._heap: list = []
        self._seq = itertools.count()
        self._stop = False
        self._thread = threading.Thread(target=self._tick, name="sim-ticker", daemon=True)

    # -- what the hub code is given ----------------------------------------------------------------

    def nominal(self) -> float:
        """The clock in 'real' seconds: simulated seconds / speedup (what scaled intervals use)."""
        return self.now / self.speedup

    def sleep(self, nominal_s: float) -> None:
        self.wait(nominal_s * self.speedup)

    # -- waiting and timers ------------------------------------------------------------------------

    def wait(self, seconds: float | None, event: SimEvent | None = None) -> bool:
        """Wait `seconds` simulated seconds, or until `event` is set; True if it is set."""
        me = threading.current_thread()
        waiter = _Waiter(me, me in self.actors, event)
        with self.cond:
            if self.cancelled:
                raise SimCancelled
            if event is not None:
                if event.flag:
                    return True
                event.waiters.append(waiter)
            if seconds is not None:
                heapq.heappush(self._heap, (self.now + max(seconds, 0.0), next(self._seq), waiter))
            self._waiting.add(waiter)
            self.sleeping.add(me)
            if waiter.actor:
                self.running -= 1
            self.cond.notify_all()
        waiter.event.wait()
        if self.cancelled:
            raise SimCancelled
        return event.flag if event is not None else True

    def cancel(self) -> None:
        """End the run: stop the ticker; every wait, now or later, raises SimCancelled."""
        self.stop()
        with self.cond:
            self.cancelled = True
            for waiter in list(self._waiting):
                self._wake(waiter)
            self._heap.clear()

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        with self.cond:
            heapq.heappush(self._heap, (max(when, self.now), next(self._seq), fn))
            self.cond.notify_all()

    def _wake(self, waiter: _Waiter) -> None:  # under self.cond
        if waiter.done:
            return
        waiter.done = True
        self._waiting.discard(waiter)
        self.sleeping.discard(waiter.thread)
        if waiter.actor:
            self.running += 1
        if waiter.owner is not None and waiter in waiter.owner.waiters:
            waiter.owner.waiters.remove(waiter)
        waiter.event.set()

    # -- actors ------------------------------------------------------------------------------------

    def add_actor(self, thread: threading.Thread) -> None:
        """Count `thread` as running from now until it waits (call before starting it)."""
        with self.cond:
            self.actors.add(thread)
            self.running += 1

    def actor_gone(self, thread: threading.Thread) -> None:
        """`thread` ended (while counted as running)."""
        with self.cond:
            if thread in self.actors:
                self.actors.discard(thread)
                self.running -= 1
                self.cond.notify_all()

    # -- the ticker --------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self.cond:
            self._stop = True
            self.cond.notify_all()
        if self._thread.ident is not None:
            self._thread.join(10)

    def run_to(self, when: float, until: Callable[[], bool] | None = None, tick=None) -> None:
        """Let simulated time run to `when` (or until `until()` holds, checked at each step)."""
        with self.cond:
            self.horizon = when
            self.at_horizon = False
            self.cond.notify_all()
        last_tick = time.monotonic()
        while True:
            with self.cond:
                self.cond.wait(0.05)
                done = self.at_horizon and self.now >= when
            if self.errors:
                raise RuntimeError(f"simulation failed: {self.errors[0]}")
            if done or (until is not None and until()):
                return
            if tick is not None and time.monotonic() - last_tick >= 10:
                tick()
                last_tick = time.monotonic()

    def _idle(self) -> bool:
        return self.running <= 0 and not any(check() for check in self.busy_checks)

    def _tick(self) -> None:
        last_real, last_sim = time.perf_counter(), self.now
        while True:
            with self.cond:
                while not self._stop and not self._idle():
                    self.cond.wait(0.002)
                if self._stop:
                    return
                nxt = self._heap[0][0] if self._heap else math.inf
                target = min(nxt, self.horizon)
                if (target <= self.now and nxt > self.now) or math.isinf(target):
                    self.at_horizon = target <= self.now
                    self.cond.notify_all()
                    self.cond.wait(0.01)
                    continue
            delay = last_real + (target - last_sim) / self.speedup - time.perf_counter()
            if delay > 0:
                time.sleep(min(delay, 0.02))
                continue
            calls: list[Callable[[], None]] = []
            with self.cond:
                if not self._idle():
                    continue
                self.now = max(self.now, target)
                self.steps += 1
                last_real, last_sim = time.perf_counter(), self.now
                while self._heap and self._heap[0][0] <= self.now:
                    item = heapq.heappop(self._heap)[2]
                    if isinstance(item, _Waiter):
                        self._wake(item)
                    else:
                        calls.append(item)
            for fn in calls:
                try:
                    fn()
                except Exception as exc:  # noqa: BLE001 - reported by run_to, not swallowed
                    log.exception("simulated step failed")
                    self.errors.append(f"{type(exc).__name__}: {exc}")


class SimEvent:
    """A threading.Event on simulated time; `wait(timeout)` takes nominal seconds (for Fetcher)."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.flag = False
        self.waiters: list[_Waiter] = []

    def is_set(self) -> bool:
        return self.flag

    def set(self) -> None:
        with self.sim.cond:
            self.flag = True
            for waiter in list(self.waiters):
                self.sim._wake(waiter)
            self.waiters.clear()

    def clear(self) -> None:
        with self.sim.cond:
            self.flag = False

    def wait(self, timeout: float | None = None) -> bool:
        seconds = None if timeout is None else timeout * self.sim.speedup
        return self.sim.wait(seconds, self)


class TimeShim:
    """The `time` module of a patched module: sleep and monotonic on simulated time."""

    def __init__(self, sim: Sim) -> None:
        self._sim = sim

    def sleep(self, seconds: float) -> None:
        self._sim.sleep(seconds)

    def monotonic(self) -> float:
        return self._sim.nominal()

    def __getattr__(self, name: str):
        return getattr(time, name)


def _ignore_cancelled_threads() -> None:
    """The Fetcher's and Publisher's threads end by SimCancelled at the end of a mode: quietly."""
    previous = threading.excepthook

    def hook(args) -> None:
        if not issubclass(args.exc_type, SimCancelled):
            previous(args)

    threading.excepthook = hook
