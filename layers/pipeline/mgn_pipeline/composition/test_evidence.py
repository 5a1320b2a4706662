"""The test evidence an approval carries, read from where the test verification left it (the
launch queue): the cutover gate asks, the launches capability keeps it; only the composition
knows both."""

from __future__ import annotations

from mgn_pipeline.cutover.evidence import VerifiedTest, verified_test_of
from mgn_pipeline.launches.model import LaunchStatus
from mgn_pipeline.launches.queue import LaunchQueue


class LaunchQueueVerifiedTests:
    """The launch queue's passed verification of a server's test: one GetItem per snapshot."""

    def __init__(self, queue: LaunchQueue) -> None:
        self._queue = queue

    def passed_test(self, server_id: str, job_id: str | None) -> VerifiedTest | None:
        item = self._queue.get(server_id)
        if item is None or item.status is not LaunchStatus.PASSED:
            return None
        if job_id and item.job_id != job_id:
            return None  # the queue moved on to another test: this one's evidence is gone
        return verified_test_of(item.verification())
