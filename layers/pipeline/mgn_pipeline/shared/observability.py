"""Logger, Metrics and Tracer, each created once per container and shared by every module.

Service name, metrics namespace and log level come from the POWERTOOLS_* variables that the
template's Globals set.

Tracing: ``Tracing: Active`` gives every invocation its X-Ray segment without any SDK. The
Powertools Tracer (which imports the X-Ray SDK, about 0.2-0.6 s of cold start, well over the
budget in ``benchmarks/cold_start.py``) is created only when an operator turns SDK tracing on
(template parameter ``XRaySdkTracing`` -> ``POWERTOOLS_TRACE_DISABLED=false``), and then at the
first invocation, once.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger()
metrics = Metrics()

_tracer: Tracer | None = None


def get_tracer() -> Tracer:
    """The container's one Tracer, created on first use."""
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer()
    return _tracer


def sdk_tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() in {"false", "0"}


def trace_handler[HandlerT: Callable[..., Any]](handler: HandlerT) -> HandlerT:
    """``tracer.capture_lambda_handler`` when SDK tracing is on; the plain handler otherwise."""
    traced: Callable[..., Any] | None = None

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        nonlocal traced
        if not sdk_tracing_enabled():
            return handler(event, context)
        if traced is None:
            traced = get_tracer().capture_lambda_handler(handler)
        return traced(event, context)

    return wrapper  # type: ignore[return-value]
