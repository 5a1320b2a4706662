"""Scheduled launch batcher: starts queued test launches (and cleanups) in as few MGN jobs as the quotas allow."""

from __future__ import annotations

from typing import Any

from mgn_pipeline.shared.aws.clients import AwsClients
from mgn_pipeline.shared.observability import logger, metrics, trace_handler

clients = AwsClients()
# Every run queries the queue; the MGN client is made only when there is work (most runs have none).
dynamodb = clients.dynamodb


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, object]:
    # Loaded at the first run, not at init: pydantic (settings.py) and the launch modules.
    from mgn_pipeline.composition.launches import build_batcher
    from mgn_pipeline.composition.settings import LaunchBatcherSettings, load_settings

    settings = load_settings(LaunchBatcherSettings)
    return build_batcher(clients, settings).run().as_dict()
