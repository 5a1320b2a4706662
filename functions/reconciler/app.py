"""Scheduled reconciler: keeps the replication templates private, then reads and advances every server."""

from __future__ import annotations

from typing import Any

from mgn_pipeline.composition.pipeline import build_pipeline, build_waiting_approvals
from mgn_pipeline.pipeline.reconcile import reconcile
from mgn_pipeline.shared.aws.clients import AwsClients
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.observability import logger, metrics, trace_handler
from mgn_pipeline.shared.trigger import DEPLOYMENT, RECONCILER

clients = AwsClients()
mgn, dynamodb = clients.mgn, clients.dynamodb  # used by every run: created during init


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, object]:
    from mgn_pipeline.composition.settings import (  # pydantic: see settings.py
        ReconcilerSettings,
        load_settings,
    )

    settings = load_settings(ReconcilerSettings)
    # The stack's own deployment also runs a reconcile, so templates are private before any agent.
    trigger = DEPLOYMENT if event.get("source") == "aws.cloudformation" else RECONCILER
    report = reconcile(
        MgnGateway(mgn),
        build_pipeline(clients, settings),
        settings.page_size,
        trigger,
        build_waiting_approvals(clients, settings),
        seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
        replication_clock=settings.replication_clock(),
    )
    return report.as_dict()
