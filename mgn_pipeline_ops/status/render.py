"""The status report as text for a terminal: a table per wave, and the progress view. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from mgn_pipeline_ops.status.model import ServerStatus, StatusReport, WaveProgress

_COLUMNS = (
    ("HOSTNAME", 18),
    ("SERVER ID", 20),
    ("LIFECYCLE", 18),
    ("REPLICATION", 17),
    ("LAG", 7),
    ("STEP", 28),
    ("STEP SINCE", 0),
)


def render_table(report: StatusReport, now: datetime) -> str:
    """One block per wave: its progress line, then a row per server with what it waits for and its
    last error (with the fix) on the lines below."""
    if not report.servers:
        return "No source servers match.\n"
    lines: list[str] = []
    for progress in report.waves:
        members = [s for s in report.servers if s.wave == progress.wave]
        lines.append(f"Wave {progress.wave}: {_summary(progress)}")
        lines.extend(_replication_eta(progress, now))
        lines.append(_row([name for name, _ in _COLUMNS]))
        for status in members:
            lines.append(
                _row(
                    [
                        status.hostname or "-",
                        status.server_id,
                        status.lifecycle + (" (archived)" if status.archived else ""),
                        status.replication,
                        _lag(status),
                        status.step,
                        _when(status.step_since, now),
                    ]
                )
            )
            lines.extend(_details(status, now))
        lines.append("")
    return "\n".join(lines)


def render_progress(report: StatusReport, now: datetime) -> str:
    """The view ``--watch`` refreshes: per wave, counts per step, done / total, who needs whom."""
    names = {s.server_id: s.hostname or s.server_id for s in report.servers}
    lines = [f"Progress at {now:%Y-%m-%d %H:%M:%S} UTC"]
    if not report.waves:
        lines.append("  no source servers match")
    for progress in report.waves:
        lines.append(f"Wave {progress.wave}: {_summary(progress)}")
        lines.extend(_replication_eta(progress, now))
        steps = ", ".join(f"{step} {count}" for step, count in progress.by_step.items())
        lines.append(f"  steps: {steps}")
        lines.append(f"  needs a person: {len(progress.needs_person)}")
        lines.extend(f"    {names.get(sid, sid)}: {what}" for sid, what in progress.needs_person.items())
        lines.append(f"  stuck: {len(progress.stuck)}")
        lines.extend(f"    {names.get(sid, sid)}: {what}" for sid, what in progress.stuck.items())
    return "\n".join(lines) + "\n"


def _summary(progress: WaveProgress) -> str:
    text = f"{progress.done}/{progress.total} done ({progress.percent_done}%)"
    if progress.left_alone:
        text += f", {progress.left_alone} left alone (archived, disconnected or stopped)"
    if progress.needs_person:
        text += f", {len(progress.needs_person)} need a person"
    if progress.stuck:
        text += f", {len(progress.stuck)} stuck"
    clock = progress.replication_clock
    if clock and clock.get("pastWarning"):
        text += f", {clock['pastWarning']} replicating past {clock['warnDays']} days"
        text += f" ({clock['pastUrgent']} past {clock['urgentDays']})"
    return text + (", finished" if progress.finished else "")


def _replication_eta(progress: WaveProgress, now: datetime) -> list[str]:
    lines = []
    for eta in progress.replication_etas:
        if not eta.get("bytesLeft"):
            continue
        over = "" if eta.get("link") in (None, "default") else f" over link {eta['link']}"
        text = (
            f"  replication ready{over}: {_ahead(eta.get('eta'), now)}, {eta['bytesLeft'] / 1e9:,.0f} GB left"
        )
        if eta.get("window"):
            text += f"; window {_ahead(eta['window'], now)}"
        if eta.get("late"):
            need = eta.get("needMbps")
            text += " [LATE" + (f": needs {need:g} Mbps" if need is not None else ": window passed") + "]"
        lines.append(text)
    return lines


def _ahead(iso: str | None, now: datetime) -> str:
    """``2026-01-31 14:05 (in 2h 10m)``; "not within 90 days" when unknown."""
    if not iso:
        return "not within 90 days"
    at = datetime.fromisoformat(iso)
    return (
        f"{at:%Y-%m-%d %H:%M} (in {_age(at - now)})"
        if at > now
        else f"{at:%Y-%m-%d %H:%M} ({_age(now - at)} ago)"
    )


def _details(status: ServerStatus, now: datetime) -> list[str]:
    lines: list[str] = []
    link = status.link
    if link and link.get("bytesLeft"):
        lines.append(
            f"    copying: {link['bytesLeft'] / 1e9:,.1f} GB left at {link['throttleMbps']} Mbps,"
            f" ready {_ahead(link.get('readyEta'), now)}"
        )
    clock = status.replication_clock
    if clock and clock.get("thresholdDays"):
        left = clock["daysLeft"]
        ends = f"{datetime.fromisoformat(clock['freePeriodEnds']):%Y-%m-%d}"
        lines.append(
            f"    replicating {int(clock['daysReplicating'])} days: "
            + (f"{int(left)} free days left (until {ends})" if left > 0 else f"free period over since {ends}")
            + f" [past {clock['thresholdDays']} days: cut over, or stop replication and archive]"
        )
    gate = status.gate or {}
    asked = gate.get("approvalReadiness")
    if asked and gate.get("status") in {"WAITING_APPROVAL", "APPROVED", "WAITING_REPLICATION"}:
        lines.append(f"    approval asked on: {asked['summary']} (at {_when(asked.get('takenAt'), now)})")
    found = gate.get("cutoverReadiness")
    if found and gate.get("status") in {"OPENING", "WAITING_READY"}:
        lines.append(f"    not cut over, readiness got worse: {gate.get('reason') or found['summary']}")
    if status.wait is not None:
        what = status.wait.what
        if status.wait.on_person and "person" not in what:
            what += " [needs a person]"
        if status.stuck:
            what += " [stuck]"
        lines.append(f"    waits for: {what} (since {_when(status.wait.since, now)})")
    error = status.last_error
    if error is not None and error.current:
        when = f" at {_when(error.at, now)}" if error.at else ""
        lines.append(f"    last error: {error.problem}{when}: {error.reason}")
        lines.append(f"    fix: {error.fix}")
    return lines


def _row(cells: list[str]) -> str:
    parts = [cell.ljust(width) if width else cell for cell, (_, width) in zip(cells, _COLUMNS, strict=True)]
    return "  ".join(parts).rstrip()


def _lag(status: ServerStatus) -> str:
    if status.lag_seconds is None:
        return "-"
    seconds = int(status.lag_seconds)
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"


def _when(iso: str | None, now: datetime) -> str:
    """``2026-01-31 14:05 (2h 10m ago)``; "-" when unknown."""
    if not iso:
        return "-"
    try:
        at = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{at:%Y-%m-%d %H:%M} ({_age(now - at)} ago)"


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    return f"{hours // 24}d {hours % 24}h"
