from bench.apps.common import record_start


def noop() -> None:
    return None


def latency(key: str) -> None:
    record_start(key)
