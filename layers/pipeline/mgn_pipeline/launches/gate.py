"""Starting the cutover gate once a server's test passed (the gate itself is another capability)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from mgn_pipeline.shared.server import SourceServer


class CutoverGateStarter(Protocol):
    def start(
        self,
        server_id: str,
        test_job_id: str,
        observed: SourceServer | None = None,
        verified_test: Mapping[str, Any] | None = None,
    ) -> None:
        """Open the approval gate for ``server_id``; must tolerate being asked twice. ``observed``:
        the server as MGN has just returned it (READY_FOR_CUTOVER), which saves the gate a read;
        ``verified_test``: the passed verification (``jobId``, ``verifiedAt``, ``verdict``), the test
        evidence the approval is asked on."""
        ...
