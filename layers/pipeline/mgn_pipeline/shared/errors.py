"""Errors the pipeline raises on purpose.

Lambdas called by Step Functions let these propagate: the error *name* is what the state
machine's ``Retry`` and ``Catch`` match, so renaming a class is a breaking change.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""


class InvalidEventError(PipelineError):
    """An event does not have the shape we act on. It is never acted on; the function fails so
    the event ends in the dead-letter queue with this message."""


class SettingsError(PipelineError):
    """A required setting (environment variable) is missing or malformed."""


class UnknownServerError(PipelineError):
    """MGN does not know the source server an event or request names."""


class MgnThrottledError(PipelineError):
    """MGN throttled us beyond the SDK's own retries; Step Functions retries with backoff."""

    def __init__(self, message: str, retry_after_seconds: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class MgnConflictError(PipelineError):
    """MGN refused a call because of the server's current state (ConflictException)."""


class MgnRequestRejectedError(PipelineError):
    """MGN rejected a request as invalid (ValidationException): a bug or a bad setting, never retried."""


class MgnQuotaExceededError(PipelineError):
    """An MGN quota (jobs, servers per job) is exhausted; wait for capacity instead of retrying at once."""


class ReconcileIncompleteError(PipelineError):
    """The reconciler could not advance some servers; the others were handled."""


class NetworkHealthGateFailed(PipelineError):
    """A gate (before test launch, before cutover) found failing checks; the message names them."""

    def __init__(self, gate: str, failing: list[str], message: str) -> None:
        super().__init__(message)
        self.gate = gate
        self.failing = failing
