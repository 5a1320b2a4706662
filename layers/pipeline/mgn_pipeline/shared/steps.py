"""Which step of the pipeline a server's observed state calls for.

MGN is the source of truth: every trigger (an event, a CloudTrail call, the reconciler) ends in
reading the server and asking :func:`next_step`. That is what makes lost, duplicated and
reordered events harmless.
"""

from __future__ import annotations

from enum import StrEnum

from mgn_pipeline.shared.server import LifeCycleState, ReplicationState, SourceServer


class PipelineStep(StrEnum):
    # Nothing to do now: archived, disconnected or stopped on purpose.
    NONE = "NONE"
    # A new or replicating server whose replication settings must be private before data flows.
    ENFORCE_REPLICATION_SETTINGS = "ENFORCE_REPLICATION_SETTINGS"
    # Replication stalled: settings drift or the network; repair what we can and tell a person.
    REPAIR_REPLICATION = "REPAIR_REPLICATION"
    # Replicating, not yet ready for a test launch.
    WAIT_FOR_REPLICATION = "WAIT_FOR_REPLICATION"
    START_TEST = "START_TEST"
    VERIFY_TEST = "VERIFY_TEST"
    OPEN_CUTOVER_GATE = "OPEN_CUTOVER_GATE"
    VERIFY_CUTOVER = "VERIFY_CUTOVER"
    FINALIZE_CUTOVER = "FINALIZE_CUTOVER"
    DONE = "DONE"


_NOT_REPLICATING_YET = {
    LifeCycleState.DISCOVERED,
    LifeCycleState.PENDING_INSTALLATION,
    LifeCycleState.NOT_READY,
}
_STALLED = {ReplicationState.STALLED}


def next_step(server: SourceServer) -> PipelineStep:
    """The step the server's state calls for. Pure: same server, same answer."""
    if server.is_archived or server.lifecycle in {LifeCycleState.DISCONNECTED, LifeCycleState.STOPPED}:
        return PipelineStep.NONE
    if server.lifecycle is LifeCycleState.CUTOVER:
        return PipelineStep.DONE if server.cutover_finalized else PipelineStep.FINALIZE_CUTOVER
    if server.replication in _STALLED or server.replication_error:
        return PipelineStep.REPAIR_REPLICATION
    if server.lifecycle in _NOT_REPLICATING_YET:
        return PipelineStep.ENFORCE_REPLICATION_SETTINGS
    if server.lifecycle is LifeCycleState.READY_FOR_TEST:
        if server.replication is ReplicationState.CONTINUOUS:
            return PipelineStep.START_TEST
        return PipelineStep.WAIT_FOR_REPLICATION
    if server.lifecycle is LifeCycleState.TESTING:
        return PipelineStep.VERIFY_TEST
    if server.lifecycle is LifeCycleState.READY_FOR_CUTOVER:
        return PipelineStep.OPEN_CUTOVER_GATE
    if server.lifecycle is LifeCycleState.CUTTING_OVER:
        return PipelineStep.VERIFY_CUTOVER
    return PipelineStep.NONE  # pragma: no cover - every LifeCycleState is handled above
