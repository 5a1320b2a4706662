"""Scheduled reconciler: reads every non-archived MGN source server and advances it."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from mgn_pipeline.adapters.mgn import MgnGateway
from mgn_pipeline.logic.composition import build_pipeline
from mgn_pipeline.logic.reconcile import reconcile
from mgn_pipeline.observability import logger, metrics, trace_handler

# Standard retry mode backs off on throttling and 5xx; created once per container.
_AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8})
mgn = boto3.client("mgn", config=_AWS_CONFIG)
dynamodb = boto3.client("dynamodb", config=_AWS_CONFIG)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@trace_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, object]:
    from mgn_pipeline.settings import ReconcilerSettings, load_settings  # pydantic: see settings.py

    settings = load_settings(ReconcilerSettings)
    pipeline = build_pipeline(mgn, dynamodb, settings.servers_table)
    return reconcile(MgnGateway(mgn), pipeline, page_size=settings.page_size).as_dict()
