"""Errors the test-launch capability raises on purpose (names are matched by Step Functions and alarms)."""

from __future__ import annotations

from mgn_pipeline.shared.errors import PipelineError


class LaunchBatchIncompleteError(PipelineError):
    """The batcher could not hand some queued work to MGN (throttled, AWS error); the rest went.
    The servers stay queued; the run fails so Lambda's retry and the failure DLQ alarm show it."""


class LaunchQueueCorruptError(PipelineError):
    """An item of the launch queue table does not have the shape the pipeline writes."""
