"""Shared by the task modules: record when a latency task started."""

import os
import time


def record_start(key: str) -> None:
    line = f"{key} {time.time():.6f}\n".encode()
    fd = os.open(os.environ["BENCH_LATENCY_FILE"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
