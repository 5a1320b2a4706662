"""Botocore event handlers for the local cloud's instruments (call counter, crashes, races).

A handler must reach every client made while it is installed: botocore copies its built-in handler
list into each new session, and boto3's default session may already exist (it copied the list when
it was made), so the handler goes into both. Clients made before stay without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.handlers

Hook = tuple[str, Callable[..., Any]]


@contextmanager
def botocore_hooks(hooks: Sequence[Hook], *, name: str, first: bool = False) -> Iterator[None]:
    """Install ``hooks`` ((event, handler) pairs) for new sessions and the default one; ``first``
    runs them before botocore's own handlers for the same event."""
    for hook in hooks:
        if first:
            botocore.handlers.BUILTIN_HANDLERS.insert(0, hook)
        else:
            botocore.handlers.BUILTIN_HANDLERS.append(hook)
    default = boto3.DEFAULT_SESSION
    if default is not None:
        for event, handler in hooks:
            register = default.events.register_first if first else default.events.register
            register(event, handler, unique_id=f"{name} {event}")
    try:
        yield
    finally:
        for hook in hooks:
            botocore.handlers.BUILTIN_HANDLERS.remove(hook)
        if default is not None:
            for event, handler in hooks:
                default.events.unregister(event, handler, unique_id=f"{name} {event}")
