"""Starting the cutover gate once a server's test passed (the gate itself is another capability)."""

from __future__ import annotations

from typing import Protocol


class CutoverGateStarter(Protocol):
    def start(self, server_id: str, test_job_id: str) -> None:
        """Open the approval gate for ``server_id``; must tolerate being asked twice."""
        ...
