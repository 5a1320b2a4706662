"""What counts as worse between the readiness an approval was asked on and the one at cutover."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mgn_pipeline.cutover.evidence import (
    ReadinessLimits,
    ReadinessSnapshot,
    VerifiedTest,
    evidence_from_verdict,
    wave_summary,
    what_got_worse,
)
from mgn_pipeline.jobs.health_gate import HealthReading

ASKED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GREEN = HealthReading(True, "PASS", ASKED - timedelta(minutes=12), ())
RED = HealthReading(False, "FAIL", ASKED, ("network health FAIL: vpc-endpoint-mgn",))
TEST = VerifiedTest("mgnjob-0123456789abcdef0", ASKED - timedelta(hours=20), 9, 9, {})
LIMITS = ReadinessLimits(lag_growth_seconds=300, test_evidence_max_age_days=7)


def _snapshot(**changes: object) -> ReadinessSnapshot:
    base = ReadinessSnapshot(
        taken_at=ASKED,
        replication="CONTINUOUS",
        lag_seconds=4.0,
        last_snapshot_at="2026-03-02T09:00:00+00:00",
        health=GREEN,
        test=TEST,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_same_readiness_an_hour_later_is_not_worse() -> None:
    assert what_got_worse(_snapshot(), _snapshot(taken_at=ASKED + timedelta(hours=1)), LIMITS) == []


@pytest.mark.parametrize(
    ("at_cutover", "named"),
    [
        ({"lag_seconds": 400.0}, "replication lag grew from 4 s to 400 s"),
        ({"lag_seconds": None}, "replication lag is unknown now"),
        ({"health": RED}, "network health was green at approval, now: network health FAIL: vpc-endpoint-mgn"),
        ({"taken_at": ASKED + timedelta(days=6, hours=5)}, "the test evidence is 7.0 days old"),
        ({"test": None}, "no longer recorded"),
        ({"test": replace(TEST, job_id="mgnjob-fffffffffffffffff")}, "the test evidence changed"),
    ],
)
def test_each_worsening_beyond_its_limit_is_named(at_cutover: dict[str, object], named: str) -> None:
    [why] = what_got_worse(_snapshot(), _snapshot(**at_cutover), LIMITS)
    assert named in why


def test_lag_growth_within_the_limit_is_not_worse() -> None:
    assert what_got_worse(_snapshot(), _snapshot(lag_seconds=300.0), LIMITS) == []


def test_evidence_already_old_when_approved_was_approved_as_it_was() -> None:
    old = replace(TEST, verified_at=ASKED - timedelta(days=9))
    approved = _snapshot(test=old)
    assert what_got_worse(approved, _snapshot(test=old, taken_at=ASKED + timedelta(days=1)), LIMITS) == []


def test_a_red_network_at_approval_is_not_worse_when_still_red() -> None:
    assert what_got_worse(_snapshot(health=RED), _snapshot(health=RED), LIMITS) == []


def test_a_snapshot_survives_its_stored_form_and_reads_as_one_line() -> None:
    snapshot = _snapshot(test=replace(TEST, post_launch={"post-launch action install-cw": "OK: succeeded"}))
    assert ReadinessSnapshot.from_dict(snapshot.as_dict()) == snapshot
    line = snapshot.summary()
    assert line == (
        "replication CONTINUOUS, lag 4 s; last snapshot 2026-03-02T09:00:00+00:00; "
        "test mgnjob-0123456789abcdef0: 9/9 checks passed, verified 20 h ago; "
        "post-launch actions 1/1 succeeded; network health PASS (report 12 min old)"
    )
    assert len(line) <= 500


def test_evidence_from_a_verdict_counts_what_was_checked_and_the_post_launch_results() -> None:
    verdict = {
        "state": "PASS",
        "checks": [
            {"name": "running", "state": "ok", "detail": "instance is running"},
            {"name": "post-launch action install-cw", "state": "ok", "detail": "succeeded"},
            {"name": "application ports", "state": "skipped", "detail": "no ports declared"},
        ],
    }
    evidence = evidence_from_verdict("mgnjob-0123456789abcdef0", ASKED, verdict)
    assert (evidence.checks_passed, evidence.checks_total) == (2, 2)
    assert evidence.post_launch == {"post-launch action install-cw": "OK: succeeded"}


def test_a_wave_request_shows_the_range_and_the_worst_of_its_servers() -> None:
    fresh = _snapshot()
    behind = _snapshot(lag_seconds=240.0, test=replace(TEST, verified_at=ASKED - timedelta(days=3)))
    untested = _snapshot(test=None, health=RED)
    line = wave_summary([fresh, behind, untested], servers=4)
    assert line == (
        "3 of 4 servers measured; lag up to 240 s; tests verified 20 h to 3.0 days ago; 1 without test evidence; "
        "network health PASS (report 12 min old), red for 1 when measured"
    )
    assert behind.brief() == "lag 240 s, test 9/9 3.0 days ago"
    assert wave_summary([], servers=2) == "not measured"
