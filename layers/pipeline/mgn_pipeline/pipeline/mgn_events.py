"""Reacting to one MGN event (service event or CloudTrail API call).

An event is a hint, not the truth: we read the server it names from MGN and advance it from
its real state. That makes duplicated and reordered events harmless, and the reconciler covers
lost ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_lambda_powertools.metrics import MetricUnit

from mgn_pipeline.pipeline.advance import Advance, Pipeline
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.errors import UnknownServerError
from mgn_pipeline.shared.events import MgnEvent
from mgn_pipeline.shared.observability import logger, metrics
from mgn_pipeline.shared.trigger import Trigger

# API calls that change what new servers inherit: the templates are checked, not a server.
TEMPLATE_CALLS = frozenset(
    {"UpdateReplicationConfigurationTemplate", "CreateReplicationConfigurationTemplate"}
)


# The pipeline's own calls whose CloudTrail echo says nothing the pipeline does not already know:
# MGN reports the effect of some with an event of its own (Lifecycle State Change, Launch Result);
# for the others the part of the pipeline that made the call carries on from its response (the
# test launches open the cutover gate after their cleanup is queued, the gate execution follows its
# own FinalizeCutover). If that part died in between, the reconciler sees the server's state within
# one schedule. Echoes of settings repairs are not here: they still advance the server, without
# re-reading its settings.
OWN_CALLS_NOTHING_NEW = frozenset(
    {"StartTest", "StartCutover", "ChangeServerLifeCycleState", "TerminateTargetInstances", "FinalizeCutover"}
)


def is_own_echo(event: MgnEvent) -> bool:
    """The CloudTrail record of a call the pipeline made itself and already follows up."""
    if not _is_echo(event):
        return False
    logger.info(
        "the pipeline's own API call; nothing new to read",
        extra={"event_id": event.event_id, "api_call": event.api_call, "server_ids": list(event.server_ids)},
    )
    metrics.add_metric(name="OwnCallEchoesSkipped", unit=MetricUnit.Count, value=1)
    return True


def handle_mgn_event(
    event: MgnEvent,
    gateway: MgnGateway,
    pipeline: Pipeline,
    advanced: dict[str, bool] | None = None,
) -> list[Advance]:
    """``advanced``: the servers a batch has advanced already (and whether the settings were
    checked then); they are not advanced again for an event that asks no more of them."""
    logger.append_keys(event_id=event.event_id, trigger=event.trigger)
    trigger = Trigger(
        event.trigger,
        actor=event.actor,
        event_id=event.event_id,
        settings_may_have_changed=event.is_api_call and not event.own_call,
    )
    if not event.is_known:
        log_ignored(event)
        return []
    if event.api_call in TEMPLATE_CALLS:
        pipeline.check_account(trigger)
        return []
    if not event.server_ids:
        logger.info("event names no source server; nothing to advance")
        return []
    advances: list[Advance] = []
    for server_id in event.server_ids:
        if advanced is not None and _advanced_enough(advanced, server_id, trigger):
            # The batch read every server after all its events were sent: this one says nothing newer.
            logger.info("server advanced earlier in this batch", extra={"server_id": server_id})
            continue
        try:
            server = gateway.get_server(server_id)
        except UnknownServerError:
            # Not retried: MGN will not learn the server later. Logged with the fix, never acted on.
            logger.error(
                "event names a source server MGN does not know; nothing done. Check that the event "
                "comes from this account and Region and that the server was not deleted.",
                extra={"server_id": server_id},
            )
            metrics.add_metric(name="UnknownServerEvents", unit=MetricUnit.Count, value=1)
            continue
        advances.append(pipeline.advance(server, trigger))
        if advanced is not None:
            advanced[server_id] = advanced.get(server_id, False) or trigger.settings_may_have_changed
    return advances


def log_ignored(event: MgnEvent) -> None:
    """MGN adds detail-types and states without notice: record that we saw one, act on nothing."""
    logger.warning(
        "MGN event not acted on: " + str(event.ignored_because),
        extra={"event_id": event.event_id, "detail_type": event.detail_type, "state": event.state},
    )
    metrics.add_metric(name="UnknownEvents", unit=MetricUnit.Count, value=1)


def _advanced_enough(advanced: dict[str, bool], server_id: str, trigger: Trigger) -> bool:
    """Advanced earlier in the batch, its settings checked then if this trigger would check them."""
    return server_id in advanced and (advanced[server_id] or not trigger.settings_may_have_changed)


def servers_named(events: Iterable[MgnEvent]) -> list[str]:
    """The servers a batch of events will advance (templates and echoes name none to read)."""
    return [
        server_id
        for event in events
        if event.is_known and event.api_call not in TEMPLATE_CALLS and not _is_echo(event)
        for server_id in event.server_ids
    ]


def _is_echo(event: MgnEvent) -> bool:
    return event.own_call and event.api_call in OWN_CALLS_NOTHING_NEW
