"""Approve or reject a server's cutover from a terminal, through the same record as the console.

    mgn-migrate cutover status  SERVER_ID
    mgn-migrate cutover approve SERVER_ID --comment "CHG-1234 approved"
    mgn-migrate cutover reject  SERVER_ID --comment "freeze window"
    mgn-migrate cutover approve --wave WAVE --comment "CHG-1234 wave 3"   (ApprovalScope WAVE)

The command finds the server's waiting approval (an SSM Automation execution) in the gate table and
sends it the Approve/Reject signal with your own AWS identity: Systems Manager accepts it only from
the approver principals the runbook was started with, and the decision reaches the pipeline by the
same event as a click in the console (audited with approver, time, comment and decision).
With --wave, the command finds the wave's open approval request through the servers table's
byWave index (--servers-table or SERVERS_TABLE_NAME) and decides it once for every server it lists.
Needs dynamodb:GetItem (and for --wave dynamodb:Query, dynamodb:BatchGetItem) and
ssm:SendAutomationSignal. Table: --table or CUTOVER_GATE_TABLE_NAME (stack outputs).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import boto3
from botocore.exceptions import ClientError

from mgn_pipeline.shared.aws.dynamodb import batch_get


def _gate(dynamodb: Any, table: str, server_id: str) -> dict[str, str]:
    item = dynamodb.get_item(TableName=table, Key={"serverId": {"S": server_id}}, ConsistentRead=True).get(
        "Item"
    )
    # Never print or return the task token: it completes the waiting state.
    return {
        k: str(next(iter(v.values()))) for k, v in (item or {}).items() if k not in {"taskToken", "outbox"}
    }


def _wave_requests(dynamodb: Any, gate_table: str, servers_table: str, wave: str) -> dict[str, list[str]]:
    """Open approval automations of a wave -> the servers waiting on each."""
    pages = dynamodb.get_paginator("query").paginate(
        TableName=servers_table,
        IndexName="byWave",
        KeyConditionExpression="wave = :w",
        ExpressionAttributeValues={":w": {"S": wave}},
    )
    server_ids = [item["serverId"]["S"] for page in pages for item in page.get("Items", [])]
    waiting: dict[str, list[str]] = {}
    for item in batch_get(dynamodb, gate_table, server_ids, ["status", "automationExecutionId"]):
        automation = item.get("automationExecutionId", {}).get("S")
        if item["status"]["S"] == "WAITING_APPROVAL" and automation:
            waiting.setdefault(automation, []).append(item["serverId"]["S"])
    return waiting


def _signal(ssm: Any, automation_id: str, command: str, comment: str | None) -> str | None:
    payload = {"Payload": {"Comment": [comment]}} if comment else {}
    try:
        ssm.send_automation_signal(
            AutomationExecutionId=automation_id,
            SignalType="Approve" if command == "approve" else "Reject",
            **payload,
        )
    except ClientError as exc:
        return str(exc.response.get("Error", {}).get("Message", exc))
    return None


def _wave_main(args: argparse.Namespace, dynamodb: Any, ssm: Any) -> int:
    if not args.servers_table:
        print("--servers-table or SERVERS_TABLE_NAME is required with --wave", file=sys.stderr)
        return 2
    waiting = _wave_requests(dynamodb, args.table, args.servers_table, args.wave)
    if args.command == "status" or not waiting:
        if not waiting:
            print(
                f"wave {args.wave}: no approval is waiting",
                file=sys.stderr if args.command != "status" else sys.stdout,
            )
        for automation, servers in sorted(waiting.items()):
            print(f"{automation}: {len(servers)} servers waiting: {' '.join(sorted(servers))}")
        return 0 if args.command == "status" else 2
    if len(waiting) > 1 and not args.automation_id:
        print(
            f"wave {args.wave} has {len(waiting)} open requests; choose one with --automation-id:",
            file=sys.stderr,
        )
        for automation, servers in sorted(waiting.items()):
            print(f"  {automation}: {len(servers)} servers", file=sys.stderr)
        return 2
    automation = args.automation_id or next(iter(waiting))
    if automation not in waiting:
        print(f"{automation} is not an open request of wave {args.wave}", file=sys.stderr)
        return 2
    error = _signal(ssm or boto3.client("ssm"), automation, args.command, args.comment)
    if error:
        print(f"wave {args.wave}: {error}", file=sys.stderr)
        return 1
    print(f"wave {args.wave}: {args.command} sent to {automation} ({len(waiting[automation])} servers)")
    return 0


def main(argv: list[str] | None = None, *, dynamodb: Any = None, ssm: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="mgn-migrate cutover", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["status", "approve", "reject"])
    parser.add_argument("server_id", nargs="?", help="MGN source server id (s-...)")
    parser.add_argument(
        "--wave", default=None, help="decide the wave's open approval request (ApprovalScope WAVE)"
    )
    parser.add_argument(
        "--automation-id", default=None, help="with --wave: which request, if several are open"
    )
    parser.add_argument("--comment", default=None, help="kept with the decision in the audit trail")
    parser.add_argument("--table", default=os.environ.get("CUTOVER_GATE_TABLE_NAME"))
    parser.add_argument("--servers-table", default=os.environ.get("SERVERS_TABLE_NAME"))
    args = parser.parse_args(argv)
    if not args.table:
        parser.error("--table or CUTOVER_GATE_TABLE_NAME is required")
    if bool(args.server_id) == bool(args.wave):
        parser.error("name either a SERVER_ID or --wave")
    dynamodb = dynamodb or boto3.client("dynamodb")
    if args.wave:
        return _wave_main(args, dynamodb, ssm)
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
    error = _signal(ssm or boto3.client("ssm"), gate["automationExecutionId"], args.command, args.comment)
    if error:
        print(f"{args.server_id}: {error}", file=sys.stderr)
        return 1
    print(f"{args.server_id}: {args.command} sent to {gate['automationExecutionId']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
