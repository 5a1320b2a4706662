"""The audit trail as a CSV for a change board: one row per record, in time order.

Columns are fixed (``CSV_COLUMNS``) and quoted by the csv module (RFC 4180: commas, quotes and line
breaks in a reason stay inside their cell). ``before``/``after`` are the JSON the record holds.
A cell a spreadsheet would read as a formula (it starts with = + - @, a tab or a carriage return:
a hostname, a tag or a reason can carry one) is written with a leading apostrophe, as OWASP advises
against CSV injection; the change board's copy then shows the text, never runs it.
Records about no one server (replication templates, network health) have wave "account-wide" and
belong to every wave's export unless ``servers_only``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from mgn_pipeline.shared.aws.audit import (
    ACCOUNT_WIDE,
    UNASSIGNED_WAVE,
    WAVE_SUBJECT_PREFIX,
    AuditTrail,
    is_server_subject,
    job_id_of,
)
from mgn_pipeline_ops.status.builder import StatusSources

CSV_COLUMNS = (
    "at",
    "wave",
    "server_id",
    "hostname",
    "action",
    "actor",
    "trigger",
    "job_id",
    "reason",
    "before",
    "after",
)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time from a person (``2026-01-31``, ``2026-01-31T14:00Z``); naive means UTC."""
    at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)


def collect_audit_rows(
    trail: AuditTrail,
    sources: StatusSources,
    *,
    wave: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    servers_only: bool = False,
) -> list[dict[str, str]]:
    """The export's rows: audit records in [since, until] of ``wave`` (every wave when None)."""
    records = [r for r in trail.between(since, until) if _within(r, since, until)]
    servers = sorted({str(r["subject"]) for r in records if is_server_subject(str(r["subject"]))})
    registry = sources.registry(servers)
    return audit_rows(
        records,
        hostnames={sid: item.get("hostname", "") for sid, item in registry.items()},
        current_waves={sid: item.get("wave", UNASSIGNED_WAVE) for sid, item in registry.items()},
        wave=wave,
        servers_only=servers_only,
    )


def audit_rows(
    records: Iterable[Mapping[str, Any]],
    *,
    hostnames: Mapping[str, str],
    current_waves: Mapping[str, str],
    wave: str | None = None,
    servers_only: bool = False,
) -> list[dict[str, str]]:
    """Rows in time order. A record written before records carried their wave gets the server's
    wave of today (``current_waves``). Pure."""
    rows: list[tuple[datetime, str, dict[str, str]]] = []
    for record in records:
        subject = str(record.get("subject", ""))
        record_wave = str(record.get("wave") or "") or _wave_today(subject, current_waves)
        if record_wave == ACCOUNT_WIDE and servers_only:
            continue
        if wave is not None and record_wave not in {wave, ACCOUNT_WIDE}:
            continue
        row = {
            "at": str(record.get("at", "")),
            "wave": record_wave,
            "server_id": subject,
            "hostname": hostnames.get(subject, ""),
            "action": str(record.get("action", "")),
            "actor": str(record.get("actor", "")),
            "trigger": str(record.get("trigger", "")),
            "job_id": str(record.get("jobId") or _job_from_details(record)),
            "reason": str(record.get("reason", "")),
            "before": _json_cell(record.get("before")),
            "after": _json_cell(record.get("after")),
        }
        rows.append((_at(record), str(record.get("recordId", "")), row))
    rows.sort(key=lambda entry: (entry[0], entry[1]))
    return [row for _, _, row in rows]


def write_csv(rows: Iterable[Mapping[str, str]], out: TextIO) -> int:
    """Write the header and the rows; returns the number of rows."""
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({column: neutralise_formula(value) for column, value in row.items()})
        count += 1
    return count


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(cell: str) -> str:
    """The cell as text a spreadsheet shows and does not evaluate."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _wave_today(subject: str, current_waves: Mapping[str, str]) -> str:
    if subject.startswith(WAVE_SUBJECT_PREFIX):
        return subject.removeprefix(WAVE_SUBJECT_PREFIX)
    return current_waves.get(subject, UNASSIGNED_WAVE) if is_server_subject(subject) else ACCOUNT_WIDE


def _within(record: Mapping[str, Any], since: datetime | None, until: datetime | None) -> bool:
    at = _at(record)
    return (since is None or at >= since) and (until is None or at <= until)


def _at(record: Mapping[str, Any]) -> datetime:
    try:
        return parse_time(str(record.get("at", "")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _job_from_details(record: Mapping[str, Any]) -> str:
    """Records written before ``jobId`` was a top-level attribute keep it in their details."""
    details = record.get("details")
    return job_id_of(details) if isinstance(details, Mapping) else ""


def _json_cell(value: Any) -> str:
    return "" if value is None else json.dumps(value, default=str, sort_keys=True, separators=(",", ":"))
