"""Where reports go: the HealthReports DynamoDB table, and the text a person reads in a notification.

Table layout (template: ``HealthReportsTable``, hash key ``reportId``): the item ``reportId=latest``
is overwritten on every run (what dashboards and the next run read); each run also writes
``reportId=<generatedAt>#<uuid>`` with ``expiresAt`` (epoch seconds, the table's TTL attribute) so a
history is kept for the TTL and then vanishes on its own.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from mgn_pipeline.health.model import HealthReport, Status

LATEST = "latest"
# DynamoDB items stop at 400 KB; past this the passing checks' evidence is dropped from the stored copy.
MAX_STORED_REPORT_BYTES = 350_000


def _stored_json(report: HealthReport) -> str:
    body = report.as_dict()
    text = json.dumps(body, default=str, sort_keys=True)
    if len(text.encode()) > MAX_STORED_REPORT_BYTES:
        for result in body["results"]:
            if result["status"] == Status.PASS.value:
                result["evidence"] = {"dropped": "report too large; passing evidence omitted"}
        text = json.dumps(body, default=str, sort_keys=True)
    return text


class HealthReportStore:
    """Takes an injected ``boto3.client("dynamodb")``."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def latest(self) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self._table, Key={"reportId": {"S": LATEST}}, ConsistentRead=True
        )
        if "Item" not in item:
            return None
        body = item["Item"].get("report", {}).get("S")
        if body is None:
            # Not a report this function wrote (hand-made or older shape): compare against nothing.
            return None
        stored: dict[str, Any] = json.loads(body)
        return stored

    def save(self, report: HealthReport, *, now: datetime, ttl_days: int) -> str:
        """Write ``latest`` and a history copy; returns the history item's key."""
        text = _stored_json(report)
        common = {
            "generatedAt": {"S": report.generated_at},
            "status": {"S": report.overall.value},
            "trigger": {"S": report.trigger},
            "failing": {"L": [{"S": c} for c in report.failing_check_ids]},
            "report": {"S": text},
        }
        history_key = f"{report.generated_at}#{report.report_id}"
        expires = int(now.timestamp()) + ttl_days * 86_400
        self._client.put_item(
            TableName=self._table,
            Item={"reportId": {"S": history_key}, "expiresAt": {"N": str(expires)}, **common},
        )
        self._client.put_item(TableName=self._table, Item={"reportId": {"S": LATEST}, **common})
        return history_key


def notification_subject(report: HealthReport) -> str:
    failing = report.failing_check_ids
    if not failing:
        return "MGN network health: all checks pass again"
    subject = f"MGN network health FAIL ({len(failing)}): "
    shown: list[str] = []
    for check_id in failing:
        more = f" (+{len(failing) - len(shown) - 1} more)" if len(shown) + 1 < len(failing) else ""
        if len(subject + ", ".join([*shown, check_id]) + more) > 100:
            break
        shown.append(check_id)
    rest = len(failing) - len(shown)
    return subject + ", ".join(shown) + (f" (+{rest} more)" if rest else "")


def notification_body(report: HealthReport) -> str:
    lines = [
        f"Network health check of {report.vpc_id} ({report.region}), trigger {report.trigger}, "
        f"at {report.generated_at}: {report.overall.value}. Report {report.report_id}.",
        "",
    ]
    for result in report.with_status(Status.FAIL):
        lines += [
            f"FAIL {result.check_id}: {result.summary}",
            f"  Fix: {result.fix}",
            f"  Evidence: {json.dumps(result.evidence, default=str, sort_keys=True)}",
            "",
        ]
    warnings = report.with_status(Status.WARN)
    if warnings:
        lines.append("Warnings: " + ", ".join(f"{w.check_id} ({w.summary})" for w in warnings))
        lines.append("")
    if report.dns_forwarder.get("forwardTo"):
        lines += [
            "On-prem DNS: forward amazonaws.com to " + ", ".join(report.dns_forwarder["forwardTo"]),
            "  Windows: " + report.dns_forwarder["windows"],
            "  BIND:    " + report.dns_forwarder["bind"],
        ]
    return "\n".join(lines)
