from procrastinate.contrib.django import app

from bench.apps.common import record_start


@app.task(queue="bench")
def noop() -> None:
    return None


@app.task(queue="bench")
def latency(key: str) -> None:
    record_start(key)
