"""Errors of the cutover gate. Step Functions matches the class *name* in Retry/Catch:
renaming one is a breaking change for ``statemachines/cutover-gate.asl.json``."""

from __future__ import annotations

from mgn_pipeline.shared.errors import PipelineError


class ReplicationNotReady(PipelineError):
    """Replication is not CONTINUOUS, has an error, or lags more than the configured threshold."""


class ReadinessWorsened(PipelineError):
    """Right before cutover the server is less ready than when approved, beyond the set limits: the
    cutover is not started and a fresh approval is asked."""


class CutoverRejected(PipelineError):
    """A person rejected the cutover (or cancelled the approval): nothing is cut over."""


class ApprovalTimedOut(PipelineError):
    """Nobody decided within the approval timeout: handled as a rejection."""


class ApproverNotAllowed(PipelineError):
    """The decision came from a principal that is not in the configured approver list."""


class CutoverLaunchFailed(PipelineError):
    """MGN could not launch the cutover instance: roll back."""


class CutoverStartRefused(PipelineError):
    """MGN kept refusing to start the approved cutover (the server's state): nothing was launched."""


class CutoverVerificationFailed(PipelineError):
    """The cutover instance failed a check of the test verifier: roll back."""


class CutoverVerificationPending(PipelineError):
    """The cutover instance is not verifiable yet (booting); Step Functions retries, then rolls back."""


class GateStateError(PipelineError):
    """The gate record is not in the state this task expects (a stale or foreign execution)."""
