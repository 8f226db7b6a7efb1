from typing import Any

from bench.apps.common import record_start
from django_taskqueue import handler


@handler("Noop", queue="bench")
def noop(*args: Any, **kwargs: Any) -> None:
    return None


@handler("Latency", queue="bench")
def latency(*args: Any, **kwargs: Any) -> None:
    # the payload may arrive as keyword arguments or as one dict
    payload = kwargs or (args[0] if args and isinstance(args[0], dict) else {})
    record_start(str(payload.get("key", "")))
