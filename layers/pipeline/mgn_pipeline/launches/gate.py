"""Starting the cutover gate once a server's test passed (the gate itself is another capability)."""

from __future__ import annotations

from typing import Protocol

from mgn_pipeline.shared.observability import logger


class CutoverGateStarter(Protocol):
    def start(self, server_id: str, test_job_id: str) -> None:
        """Open the approval gate for ``server_id``; must tolerate being asked twice."""
        ...


class LoggingCutoverGate:
    """Until the cutover gate exists: log that it would start. The reconciler's OPEN_CUTOVER_GATE
    step picks the server up from its READY_FOR_CUTOVER state either way."""

    def start(self, server_id: str, test_job_id: str) -> None:
        logger.info("cutover gate would start", extra={"server_id": server_id, "test_job_id": test_job_id})
