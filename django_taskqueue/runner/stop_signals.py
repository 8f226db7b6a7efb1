"""SIGTERM and SIGINT for a runner process, handled without taking locks in the handler.

A Python signal handler runs on the main thread between two bytecodes, possibly while that
thread holds a lock: inside ``Event.wait()``, ``Event.clear()`` or a logging call. A handler
that then calls ``Event.set()`` waits for a lock its own thread holds, and the runner hangs
instead of stopping. So the handler only puts the signal number on a ``queue.SimpleQueue``,
whose ``put()`` is documented as safe to call from a signal handler, and a relay thread does
the real work.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Route SIGTERM and SIGINT to ``on_signal``, called on a relay thread, one at a time."""

    def __init__(self, on_signal: Callable[[signal.Signals], None]) -> None:
        self._on_signal = on_signal
        self._received: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._previous: dict[int, object] = {}
        self._relay: threading.Thread | None = None

    def install(self) -> None:
        """Take over the stop signals; a no-op off the main thread, where Python forbids it
        (a runner embedded in another program is stopped with ``QueueRunner.stop()``)."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._relay = threading.Thread(
            target=self._relay_signals, name="taskqueue-signals", daemon=True
        )
        self._relay.start()
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        """Give the signals back to their previous handlers and end the relay thread."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)  # type: ignore[arg-type]
        self._previous.clear()
        if self._relay is not None:
            self._received.put(None)
            self._relay.join(timeout=5)
            self._relay = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._received.put(signum)

    def _relay_signals(self) -> None:
        while (signum := self._received.get()) is not None:
            self._on_signal(signal.Signals(signum))
