"""Approve or reject a server's cutover from a terminal, through the same record as the console.

    python tools/cutover.py status  SERVER_ID
    python tools/cutover.py approve SERVER_ID --comment "CHG-1234 approved"
    python tools/cutover.py reject  SERVER_ID --comment "freeze window"

The command finds the server's waiting approval (an SSM Automation execution) in the gate table and
sends it the Approve/Reject signal with your own AWS identity: Systems Manager accepts it only from
the approver principals the runbook was started with, and the decision reaches the pipeline by the
same event as a click in the console (audited with approver, time, comment and decision).
Needs dynamodb:GetItem on the gate table and ssm:SendAutomationSignal. Table: --table or
CUTOVER_GATE_TABLE_NAME (stack output).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import boto3
from botocore.exceptions import ClientError


def _gate(dynamodb: Any, table: str, server_id: str) -> dict[str, str]:
    item = dynamodb.get_item(TableName=table, Key={"serverId": {"S": server_id}}, ConsistentRead=True).get(
        "Item"
    )
    # Never print or return the task token: it completes the waiting state.
    return {
        k: str(next(iter(v.values()))) for k, v in (item or {}).items() if k not in {"taskToken", "outbox"}
    }


def main(argv: list[str] | None = None, *, dynamodb: Any = None, ssm: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["status", "approve", "reject"])
    parser.add_argument("server_id", help="MGN source server id (s-...)")
    parser.add_argument("--comment", default=None, help="kept with the decision in the audit trail")
    parser.add_argument("--table", default=os.environ.get("CUTOVER_GATE_TABLE_NAME"))
    args = parser.parse_args(argv)
    if not args.table:
        parser.error("--table or CUTOVER_GATE_TABLE_NAME is required")
    dynamodb = dynamodb or boto3.client("dynamodb")
    gate = _gate(dynamodb, args.table, args.server_id)
    if not gate:
        print(f"{args.server_id}: no cutover gate", file=sys.stderr)
        return 2
    if args.command == "status":
        for key in (
            "status",
            "attempt",
            "testJobId",
            "automationExecutionId",
            "cutoverJobId",
            "reason",
            "updatedAt",
        ):
            if key in gate:
                print(f"{key}: {gate[key]}")
        return 0
    if gate.get("status") != "WAITING_APPROVAL" or not gate.get("automationExecutionId"):
        print(f"{args.server_id}: no approval is waiting (gate is {gate.get('status')})", file=sys.stderr)
        return 2
    ssm = ssm or boto3.client("ssm")
    payload = {"Payload": {"Comment": [args.comment]}} if args.comment else {}
    try:
        ssm.send_automation_signal(
            AutomationExecutionId=gate["automationExecutionId"],
            SignalType="Approve" if args.command == "approve" else "Reject",
            **payload,
        )
    except ClientError as exc:
        print(f"{args.server_id}: {exc.response.get('Error', {}).get('Message', exc)}", file=sys.stderr)
        return 1
    print(f"{args.server_id}: {args.command} sent to {gate['automationExecutionId']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
