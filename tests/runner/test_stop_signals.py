"""Real signals sent to this test process, with ``StopSignals`` installed on its main thread."""

import os
import signal
import threading
import time

from django_taskqueue.runner.stop_signals import StopSignals
from tests.conftest import wait_for


def test_signals_reach_the_callback_in_order_on_another_thread_and_are_given_back():
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    calls: list[tuple[signal.Signals, bool]] = []
    stop_signals = StopSignals(
        lambda signum: calls.append((signum, threading.current_thread() is threading.main_thread()))
    )
    stop_signals.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        wait_for(lambda: len(calls) == 1, timeout=5)
        os.kill(os.getpid(), signal.SIGINT)
        wait_for(lambda: len(calls) == 2, timeout=5)
    finally:
        stop_signals.restore()
    assert calls == [(signal.SIGTERM, False), (signal.SIGINT, False)]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == previous


def test_a_signal_landing_while_the_main_thread_holds_a_lock_the_callback_needs():
    """The runner's callback sets an Event whose lock the main thread holds inside
    ``Event.wait()``; run on the main thread, that callback would deadlock."""
    lock = threading.Lock()
    calls: list[tuple[bool, bool]] = []

    def on_signal(signum: signal.Signals) -> None:
        acquired = lock.acquire(timeout=2)  # on the main thread this could never succeed
        calls.append((threading.current_thread() is threading.main_thread(), acquired))
        if acquired:
            lock.release()

    stop_signals = StopSignals(on_signal)
    stop_signals.install()
    try:
        with lock:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the Python-level handler runs during this, lock held
        wait_for(lambda: calls, timeout=5)
    finally:
        stop_signals.restore()
    assert calls == [(False, True)]


def test_off_the_main_thread_install_leaves_the_handlers_alone():
    before = signal.getsignal(signal.SIGTERM)
    stop_signals = StopSignals(lambda signum: None)
    worker = threading.Thread(target=stop_signals.install)
    worker.start()
    worker.join()
    assert signal.getsignal(signal.SIGTERM) is before
    stop_signals.restore()
