"""Where the local functions' logs go when a person watches the terminal (the demo, the endpoint)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


@contextlib.contextmanager
def function_logs_to(path: Path) -> Iterator[TextIO]:
    """The handlers' JSON logs (Powertools writes to stdout) go to a file; the block gets the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    terminal = sys.stdout
    with path.open("w") as logs:
        sys.stdout = logs
        try:
            yield terminal
        finally:
            sys.stdout = terminal
