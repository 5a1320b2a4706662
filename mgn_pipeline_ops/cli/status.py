"""Where every server of the migration is, and the audit trail for a change board.

    mgn-migrate status                                 every server, by wave
    mgn-migrate status --wave wave-1                   one wave
    mgn-migrate status --server s-0123456789abcdef0
    mgn-migrate status --json                          machine-readable (same fields)
    mgn-migrate status --wave wave-1 --watch 60        progress, refreshed every 60 s until the
                                                       wave is done (Ctrl-C stops it)
    mgn-migrate audit-export --wave wave-1 --since 2026-01-01 --until 2026-01-31T23:59Z \\
        --output wave-1-audit.csv

Per server: MGN lifecycle and data replication state, replication lag, the pipeline's step and
since when, what it waits for (and whether only a person can end the wait), and its last error
with the fix, and once it has replicated past --warn-days (60) its days replicating and the free
days left of MGN's 90. Per wave: servers per step, done / total, who needs a person, who is stuck,
how many replicate past --warn-days and --urgent-days (80).
``audit-export`` writes one CSV row per audit record, in time order (columns: at, wave, server_id,
hostname, action, actor, trigger, job_id, reason, before, after).

Read-only.
Needs mgn:DescribeSourceServers; dynamodb:BatchGetItem on the servers, gate and launch-queue
tables; dynamodb:Query (status) and dynamodb:Scan (audit-export) on the audit table; kms:Decrypt
on the pipeline's key. Tables: the flags, or the stack outputs in SERVERS_TABLE_NAME,
AUDIT_TABLE_NAME, CUTOVER_GATE_TABLE_NAME and LAUNCH_QUEUE_TABLE_NAME.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TextIO

import boto3

from mgn_pipeline.shared.aws.audit import AuditTrail
from mgn_pipeline.shared.aws.clients import AWS_CONFIG
from mgn_pipeline.shared.clock import utc_now
from mgn_pipeline.shared.replication_clock import (
    DEFAULT_URGENT_DAYS,
    DEFAULT_WARN_DAYS,
    FREE_REPLICATION_DAYS,
    ClockThresholds,
)
from mgn_pipeline_ops.status.audit_export import collect_audit_rows, parse_time, write_csv
from mgn_pipeline_ops.status.builder import StatusSources, StatusTables, collect_status
from mgn_pipeline_ops.status.render import render_progress, render_table

# Exit codes: nothing matched the --wave / --server asked for; Ctrl-C during --watch.
NOTHING_MATCHED = 2
INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mgn-migrate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", default="status", choices=["status", "audit-export"])
    parser.add_argument("--wave", help="only this wave (the servers' wave tag, or MGN's wave)")
    parser.add_argument("--server", help="only this MGN source server id (s-...)")
    parser.add_argument(
        "--json", action="store_true", help="machine-readable output (JSON Lines with --watch)"
    )
    parser.add_argument(
        "--watch", type=float, metavar="SECONDS", help="refresh the progress view until the wave is done"
    )
    parser.add_argument(
        "--stuck-after-hours",
        type=float,
        default=4.0,
        help="a server waiting this long on the pipeline or MGN (not on a person) is stuck (default 4)",
    )
    parser.add_argument(
        "--warn-days",
        type=int,
        default=os.environ.get("REPLICATION_CLOCK_WARN_DAYS") or str(DEFAULT_WARN_DAYS),
        help="replication clock: servers replicating this many days are flagged (stack parameter"
        f" ReplicationClockWarnDays, default {DEFAULT_WARN_DAYS} of the {FREE_REPLICATION_DAYS} free days)",
    )
    parser.add_argument(
        "--urgent-days",
        type=int,
        default=os.environ.get("REPLICATION_CLOCK_URGENT_DAYS") or str(DEFAULT_URGENT_DAYS),
        help=f"replication clock: the second threshold (ReplicationClockUrgentDays, default {DEFAULT_URGENT_DAYS})",
    )
    parser.add_argument("--since", help="audit-export: from this time (ISO 8601; UTC when no offset)")
    parser.add_argument("--until", help="audit-export: up to this time (ISO 8601; UTC when no offset)")
    parser.add_argument("--output", default="-", help="audit-export: CSV file to write (default: stdout)")
    parser.add_argument(
        "--servers-only",
        action="store_true",
        help="audit-export: leave out account-wide records (replication templates, network health)",
    )
    env = os.environ.get
    parser.add_argument(
        "--servers-table", default=env("SERVERS_TABLE_NAME"), help="stack output ServersTableName"
    )
    parser.add_argument("--audit-table", default=env("AUDIT_TABLE_NAME"), help="stack output AuditTableName")
    parser.add_argument("--gate-table", default=env("CUTOVER_GATE_TABLE_NAME"), help="the cutover gate table")
    parser.add_argument(
        "--queue-table", default=env("LAUNCH_QUEUE_TABLE_NAME"), help="the launch queue table"
    )
    return parser


def main(
    argv: list[str] | None = None,
    *,
    mgn: Any = None,
    dynamodb: Any = None,
    out: TextIO | None = None,
    now: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    max_iterations: int | None = None,
) -> int:
    """``max_iterations`` ends ``--watch`` after that many refreshes (tests); ``sleep`` waits between them."""
    parser = _parser()
    args = parser.parse_args(argv)
    out = out or sys.stdout
    if not args.servers_table:
        parser.error("--servers-table or SERVERS_TABLE_NAME is required")
    if args.command == "audit-export" and not args.audit_table:
        parser.error("audit-export needs --audit-table or AUDIT_TABLE_NAME")
    if args.watch is not None and args.watch <= 0:
        parser.error("--watch needs a positive number of seconds")
    dynamodb = dynamodb or boto3.client("dynamodb", config=AWS_CONFIG)
    tables = StatusTables(args.servers_table, args.audit_table, args.gate_table, args.queue_table)
    sources = StatusSources(mgn or boto3.client("mgn", config=AWS_CONFIG), dynamodb, tables)
    if args.command == "audit-export":
        return _audit_export(args, sources, AuditTrail(dynamodb, args.audit_table), out, parser)
    stuck_after = timedelta(hours=args.stuck_after_hours)
    try:
        args.clock = ClockThresholds(args.warn_days, args.urgent_days)
    except ValueError as exc:
        parser.error(str(exc))
    if args.watch is not None:
        return _watch(args, sources, out, now, sleep, max_iterations, stuck_after)
    at = now()
    report = collect_status(
        sources, at, wave=args.wave, server_id=args.server, stuck_after=stuck_after, clock=args.clock
    )
    if args.json:
        json.dump(report.as_dict(), out, indent=2)
        out.write("\n")
    else:
        out.write(render_table(report, at))
    if not report.servers and (args.wave or args.server):
        print(f"No source server matches {_asked(args)}.", file=sys.stderr)
        return NOTHING_MATCHED
    return 0


def _watch(
    args: argparse.Namespace,
    sources: StatusSources,
    out: TextIO,
    now: Callable[[], datetime],
    sleep: Callable[[float], None],
    max_iterations: int | None,
    stuck_after: timedelta,
) -> int:
    refreshes = 0
    try:
        while True:
            at = now()
            report = collect_status(
                sources, at, wave=args.wave, server_id=args.server, stuck_after=stuck_after, clock=args.clock
            )
            if args.json:
                out.write(
                    json.dumps(
                        {"generatedAt": report.generated_at, "waves": [w.as_dict() for w in report.waves]}
                    )
                    + "\n"
                )
            else:
                out.write(render_progress(report, at) + "\n")
            out.flush()
            refreshes += 1
            if not report.servers and (args.wave or args.server):
                print(f"No source server matches {_asked(args)}.", file=sys.stderr)
                return NOTHING_MATCHED
            if report.waves and all(w.finished for w in report.waves):
                if not args.json:
                    out.write("Done: every server is cut over (or left alone).\n")
                return 0
            if max_iterations is not None and refreshes >= max_iterations:
                return 0
            sleep(args.watch)
    except KeyboardInterrupt:
        out.write("Stopped.\n")
        return INTERRUPTED


def _audit_export(
    args: argparse.Namespace,
    sources: StatusSources,
    trail: AuditTrail,
    out: TextIO,
    parser: argparse.ArgumentParser,
) -> int:
    try:
        since = parse_time(args.since) if args.since else None
        until = parse_time(args.until) if args.until else None
    except ValueError as exc:
        parser.error(f"--since/--until: {exc}")
    rows = collect_audit_rows(
        trail, sources, wave=args.wave, since=since, until=until, servers_only=args.servers_only
    )
    if args.server:
        rows = [row for row in rows if row["server_id"] == args.server]
    if args.output == "-":
        count = write_csv(rows, out)
    else:
        # newline="": the csv module writes RFC 4180's CRLF itself.
        with open(args.output, "w", newline="", encoding="utf-8") as csv_file:
            count = write_csv(rows, csv_file)
        print(f"{count} audit records written to {args.output}", file=sys.stderr)
    if count == 0 and (args.wave or args.server):
        print(f"No audit record matches {_asked(args)} in that time range.", file=sys.stderr)
        return NOTHING_MATCHED
    return 0


def _asked(args: argparse.Namespace) -> str:
    return " and ".join(
        part
        for part in (f"wave {args.wave}" if args.wave else "", f"server {args.server}" if args.server else "")
        if part
    )


if __name__ == "__main__":
    raise SystemExit(main())
