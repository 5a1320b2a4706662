"""The readiness an approval is decided on, and what counts as worse by the time of the cutover.

A snapshot is taken when approval is asked (by the precheck) and again right before start_cutover
(by the recheck). The approver decided on the first. If the second is worse beyond the set limits,
the cutover is not started and a fresh approval is asked on a fresh snapshot; the audit trail keeps
both (``readiness.GateReadiness``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from mgn_pipeline.jobs.health_gate import HealthReading
from mgn_pipeline.shared.server import SourceServer, duration_seconds


@dataclass(frozen=True, slots=True)
class ReadinessLimits:
    """How much worse than at approval a server may be at cutover before a fresh approval is asked."""

    lag_growth_seconds: int = 300
    test_evidence_max_age_days: int = 7


@dataclass(frozen=True, slots=True)
class VerifiedTest:
    """The verified test launch a cutover is approved on (the launch queue keeps it)."""

    job_id: str
    verified_at: datetime | None
    checks_passed: int
    checks_total: int
    # Post-launch action -> its check state and detail (OK "succeeded", FAILED "...", SKIPPED ...).
    post_launch: Mapping[str, str] = field(default_factory=dict)


class VerifiedTestSource(Protocol):
    def passed_test(self, server_id: str, job_id: str | None) -> VerifiedTest | None:
        """The passed verification of ``job_id`` (any passed one when None), or None."""
        ...


def evidence_from_verdict(
    job_id: str, verified_at: datetime | None, verdict: Mapping[str, Any]
) -> VerifiedTest:
    """From ``jobs.verification.Verdict.as_dict()``: counts, and the post-launch actions' results."""
    checks = [c for c in verdict.get("checks") or [] if isinstance(c, Mapping)]

    def state(check: Mapping[str, Any]) -> str:
        return str(check.get("state", "")).upper()  # CheckState values: ok, failed, pending, skipped

    counted = [c for c in checks if state(c) != "SKIPPED"]
    return VerifiedTest(
        job_id=job_id,
        verified_at=verified_at,
        checks_passed=sum(1 for c in counted if state(c) == "OK"),
        checks_total=len(counted),
        post_launch={
            str(c.get("name")): f"{state(c)}: {c.get('detail')}"
            for c in checks
            if str(c.get("name", "")).startswith("post-launch")
        },
    )


@dataclass(frozen=True, slots=True)
class ReadinessSnapshot:
    taken_at: datetime
    replication: str
    lag_seconds: float | None
    last_snapshot_at: str | None
    health: HealthReading
    test: VerifiedTest | None

    def lag_text(self) -> str:
        return "unknown" if self.lag_seconds is None else f"{int(self.lag_seconds)} s"

    def health_age_minutes(self) -> int | None:
        generated = self.health.generated_at
        return None if generated is None else int((self.taken_at - generated).total_seconds() // 60)

    def test_age(self) -> timedelta | None:
        if self.test is None or self.test.verified_at is None:
            return None
        return self.taken_at - self.test.verified_at

    def as_dict(self) -> dict[str, Any]:
        test = self.test
        return {
            "takenAt": self.taken_at.isoformat(),
            "replication": self.replication,
            "lagSeconds": self.lag_seconds,
            "lastSnapshotAt": self.last_snapshot_at,
            "health": {
                "green": self.health.green,
                "status": self.health.status,
                "generatedAt": self.health.generated_at.isoformat() if self.health.generated_at else None,
                "reasons": list(self.health.reasons),
            },
            "test": None
            if test is None
            else {
                "jobId": test.job_id,
                "verifiedAt": test.verified_at.isoformat() if test.verified_at else None,
                "checksPassed": test.checks_passed,
                "checksTotal": test.checks_total,
                "postLaunch": dict(test.post_launch),
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReadinessSnapshot:
        """Raises KeyError, TypeError or ValueError on a snapshot that cannot be read."""
        health = data["health"]
        test = data.get("test")
        return cls(
            taken_at=datetime.fromisoformat(data["takenAt"]),
            replication=str(data["replication"]),
            lag_seconds=None if data.get("lagSeconds") is None else float(data["lagSeconds"]),
            last_snapshot_at=data.get("lastSnapshotAt"),
            health=HealthReading(
                green=bool(health["green"]),
                status=str(health["status"]),
                generated_at=_time(health.get("generatedAt")),
                reasons=tuple(str(r) for r in health.get("reasons") or ()),
            ),
            test=None
            if not test
            else VerifiedTest(
                job_id=str(test["jobId"]),
                verified_at=_time(test.get("verifiedAt")),
                checks_passed=int(test["checksPassed"]),
                checks_total=int(test["checksTotal"]),
                post_launch=dict(test.get("postLaunch") or {}),
            ),
        )

    def summary(self) -> str:
        """One line for the approver (the runbook's Readiness parameter, status, notifications)."""
        parts = [f"replication {self.replication}, lag {self.lag_text()}"]
        parts.append(f"last snapshot {self.last_snapshot_at or 'none yet'}")
        test, age = self.test, self.test_age()
        if test is None:
            parts.append("test evidence: none recorded")
        else:
            verified = "" if age is None else f", verified {_days(age)} ago"
            parts.append(
                f"test {test.job_id}: {test.checks_passed}/{test.checks_total} checks passed{verified}"
            )
            if test.post_launch:
                ok = sum(1 for v in test.post_launch.values() if v.startswith("OK"))
                parts.append(f"post-launch actions {ok}/{len(test.post_launch)} succeeded")
        minutes = self.health_age_minutes()
        report_age = "no report" if minutes is None else f"report {minutes} min old"
        parts.append(f"network health {self.health.status} ({report_age})")
        return "; ".join(parts)

    def brief(self) -> str:
        """The few words a wave request shows beside each server."""
        test, age = self.test, self.test_age()
        if test is None:
            evidence = "no test evidence"
        else:
            evidence = f"test {test.checks_passed}/{test.checks_total}" + (
                "" if age is None else f" {_days(age)} ago"
            )
        return f"lag {self.lag_text()}, {evidence}"


def wave_summary(snapshots: Sequence[ReadinessSnapshot], servers: int) -> str:
    """A wave request's readiness in one line: the range or the worst of each measure across the
    ``servers`` it covers."""
    if not snapshots:
        return "not measured"
    lags = [s.lag_seconds for s in snapshots if s.lag_seconds is not None]
    ages = [a for a in (s.test_age() for s in snapshots) if a is not None]
    parts = [f"{len(snapshots)} of {servers} servers measured"]
    parts.append("lag unknown" if not lags else f"lag up to {int(max(lags))} s")
    without = sum(1 for s in snapshots if s.test is None)
    if ages:
        parts.append(f"tests verified {_days(min(ages))} to {_days(max(ages))} ago")
    if without:
        parts.append(f"{without} without test evidence")
    post = [v for s in snapshots if s.test for v in s.test.post_launch.values()]
    if post:
        parts.append(
            f"post-launch actions {sum(1 for v in post if v.startswith('OK'))}/{len(post)} succeeded"
        )
    red = [s for s in snapshots if not s.health.green]
    newest = max(snapshots, key=lambda s: s.taken_at)
    minutes = newest.health_age_minutes()
    health = f"network health {newest.health.status}" + (
        "" if minutes is None else f" (report {minutes} min old)"
    )
    parts.append(health if not red else f"{health}, red for {len(red)} when measured")
    return "; ".join(parts)


def take_snapshot(
    server: SourceServer, health: HealthReading, test: VerifiedTest | None, now: datetime
) -> ReadinessSnapshot:
    return ReadinessSnapshot(
        taken_at=now,
        replication=server.replication.value,
        lag_seconds=duration_seconds(server.lag_duration),
        last_snapshot_at=server.last_snapshot_at,
        health=health,
        test=test,
    )


def what_got_worse(approved: ReadinessSnapshot, now: ReadinessSnapshot, limits: ReadinessLimits) -> list[str]:
    """Why the readiness at cutover is no longer what was approved (empty: it still is).

    Only a change beyond the limits counts: what the approver already saw (old test evidence,
    say) was approved as it was.
    """
    worse: list[str] = []
    if approved.health.green and not now.health.green:
        worse.append("network health was green at approval, now: " + "; ".join(now.health.reasons))
    if now.lag_seconds is None and approved.lag_seconds is not None:
        worse.append("replication lag is unknown now")
    elif now.lag_seconds is not None:
        grown = now.lag_seconds - (approved.lag_seconds or 0.0)
        if grown > limits.lag_growth_seconds:
            worse.append(
                f"replication lag grew from {approved.lag_text()} to {now.lag_text()} since approval"
                f" (limit: {limits.lag_growth_seconds} s more)"
            )
    if approved.test and now.test and approved.test.job_id != now.test.job_id:
        worse.append(f"the test evidence changed: approved {approved.test.job_id}, now {now.test.job_id}")
    limit = timedelta(days=limits.test_evidence_max_age_days)
    was, age = approved.test_age(), now.test_age()
    if age is not None and age > limit and (was is None or was <= limit):
        worse.append(
            f"the test evidence is {_days(age)} old, over the {limits.test_evidence_max_age_days}-day limit"
        )
    if approved.test is not None and now.test is None:
        worse.append("the test evidence approved on is no longer recorded")
    return worse


def verified_test_of(stored: Mapping[str, Any] | None) -> VerifiedTest | None:
    """The evidence of a verification as the launches capability hands it over (``jobId``,
    ``verifiedAt``, ``verdict``), or None."""
    if not stored or not isinstance(stored.get("verdict"), Mapping):
        return None
    try:
        return evidence_from_verdict(str(stored["jobId"]), _time(stored.get("verifiedAt")), stored["verdict"])
    except (KeyError, TypeError, ValueError):
        return None


def read_snapshot(stored: Mapping[str, Any] | None) -> ReadinessSnapshot | None:
    """A stored snapshot, or None when absent or unreadable (a gate opened before snapshots)."""
    if not stored:
        return None
    try:
        return ReadinessSnapshot.from_dict(stored)
    except (KeyError, TypeError, ValueError):
        return None


# What the approval runbooks' text parameters accept (their allowedPattern), and the Readiness length.
_NOT_IN_RUNBOOK = re.compile(r"[^A-Za-z0-9 .,:;()/%+_-]")
RUNBOOK_TEXT_LIMIT = 500


def runbook_text(line: str, limit: int = RUNBOOK_TEXT_LIMIT) -> str:
    """``line`` in the plain characters the approval runbooks' text parameters allow, cut to ``limit``."""
    return _NOT_IN_RUNBOOK.sub(" ", line)[:limit]


def _time(value: Any) -> datetime | None:
    return None if not value else datetime.fromisoformat(str(value))


def _days(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} days"
