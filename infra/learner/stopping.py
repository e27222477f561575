"""When the learner should stop: a signal (SIGTERM, Ctrl-C) or its supervisor gone.

The learner checks `requested` between training steps, so a stop always ends on a whole step
and the shutdown can save everything.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

log = logging.getLogger("zeb.learner")


class StopSignal:
    def __init__(self) -> None:
        self.requested = False

    def install_handlers(self) -> None:
        def request_stop(signum, frame) -> None:
            log.info("signal %d: stopping after this step", signum)
            self.requested = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    def watch_parent(self, parent_pid: int | None) -> None:
        """If the supervising process dies without stopping us (SIGKILL), save and exit rather
        than train on where no one can stop or take over this learner."""
        if parent_pid is None:
            return

        def watch() -> None:
            while not self.requested:
                if os.getppid() != parent_pid:
                    log.warning("the supervising process %d is gone: stopping", parent_pid)
                    self.requested = True
                    return
                time.sleep(1.0)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()

    def sleep(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking early when a stop is requested."""
        end = time.monotonic() + seconds
        while not self.requested and time.monotonic() < end:
            time.sleep(min(0.2, seconds))
