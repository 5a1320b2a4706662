"""Batch planning within MGN's quotas, and the verdict on a test instance: pure rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mgn_pipeline.jobs.mgn_jobs import refusal_backoff_seconds
from mgn_pipeline.jobs.verification import (
    CheckState,
    Expectations,
    InstanceFacts,
    PostLaunchFacts,
    VerdictState,
    instance_checks,
    parse_ports,
    port_checks,
    post_launch_checks,
    ready_for_probing,
    verdict,
)
from mgn_pipeline.launches.model import Capacity, plan_batches


def _ids(n: int, prefix: str = "s") -> list[str]:
    return [f"{prefix}-{i:017d}" for i in range(n)]


def _job(status: str, servers: list[str]) -> dict[str, object]:
    return {"status": status, "participatingServers": [{"sourceServerID": s} for s in servers]}


def test_fifty_ready_servers_go_in_one_job() -> None:
    plan = plan_batches(_ids(50), [], Capacity.from_jobs([]))
    assert [len(b) for b in plan.launch_jobs] == [50]
    assert plan.waiting == {}


def test_what_does_not_fit_waits_with_the_reason() -> None:
    busy = _ids(180, "b")
    capacity = Capacity.from_jobs([_job("STARTED", busy), _job("COMPLETED", _ids(200, "c"))])
    plan = plan_batches(_ids(50), [], capacity)
    assert [len(b) for b in plan.launch_jobs] == [20]
    assert len(plan.waiting) == 30
    assert "180 servers" in next(iter(plan.waiting.values()))


def test_no_job_slot_means_no_job() -> None:
    capacity = Capacity.from_jobs([_job("PENDING", [f"x-{i}"]) for i in range(20)])
    plan = plan_batches(_ids(3), _ids(2, "c"), capacity)
    assert plan.empty and len(plan.waiting) == 5


def test_busy_server_waits_and_cleanup_goes_before_its_launch() -> None:
    [a, b, c] = _ids(3)
    plan = plan_batches([a, b, c], [c], Capacity.from_jobs([_job("STARTED", [a])]))
    assert plan.cleanup_jobs == [[c]]
    assert plan.launch_jobs == [[b]]
    assert set(plan.waiting) == {a, c}


def test_approved_cutovers_go_after_cleanups_and_before_test_launches() -> None:
    cutovers, launches = _ids(150, "k"), _ids(100, "t")
    [cleaned] = _ids(1, "c")
    plan = plan_batches(launches, [cleaned], Capacity.from_jobs([]), cutovers=[*cutovers, cleaned])
    assert plan.cleanup_jobs == [[cleaned]]
    assert plan.cutover_jobs == [cutovers]  # one job for the 150, not 150 jobs
    assert [len(b) for b in plan.launch_jobs] == [49]  # what is left of the 200 servers in jobs
    assert "other job goes first" in plan.waiting[cleaned]
    assert len(plan.waiting) == 1 + 51


@given(
    queued=st.integers(0, 600),
    cutovers=st.integers(0, 400),
    active=st.lists(st.integers(1, 60), max_size=25),
    per_job=st.integers(1, 200),
)
def test_plans_never_break_a_quota(queued: int, cutovers: int, active: list[int], per_job: int) -> None:
    jobs = [_job("STARTED", _ids(n, f"a{j}")) for j, n in enumerate(active)]
    capacity = Capacity.from_jobs(jobs)
    plan = plan_batches(_ids(queued), [], capacity, max_per_job=per_job, cutovers=_ids(cutovers, "k"))
    batches = plan.launch_jobs + plan.cutover_jobs
    planned = [s for b in batches for s in b]
    assert len(planned) == len(set(planned))
    assert all(len(b) <= per_job for b in batches)
    assert capacity.active_jobs + len(batches) <= 20 or not batches
    assert capacity.servers_in_active_jobs + len(planned) <= 200 or not planned
    assert len(planned) + len(plan.waiting) == queued + cutovers  # nobody forgotten
    if plan.launch_jobs:  # a person waits for the cutovers: a test launch never overtakes one
        assert sum(map(len, plan.cutover_jobs)) == cutovers


def test_refusal_backoff_grows_and_is_capped() -> None:
    assert [refusal_backoff_seconds(n) for n in (1, 2, 3, 10)] == [60, 120, 240, 1800]


def test_ports_tag() -> None:
    assert parse_ports("443, 1521,443") == (443, 1521)
    with pytest.raises(ValueError, match="'http'"):
        parse_ports("443,http")


HEALTHY = InstanceFacts("i-1", "running", "10.0.2.4", (), "subnet-a", frozenset({"sg-app"}), "ok", "ok")
EXPECT = Expectations(frozenset({"subnet-a"}), frozenset({"sg-app"}))


def _verdict(facts: InstanceFacts, answers: dict[int, bool] | None = None) -> VerdictState:
    checks = instance_checks(facts, EXPECT) + port_checks((443,), answers, None)
    return verdict(checks).state


def test_healthy_instance_passes() -> None:
    assert _verdict(HEALTHY, {443: True}) is VerdictState.PASS


@pytest.mark.parametrize(
    ("change", "expected", "reason"),
    [
        ({"instance_status": "impaired"}, VerdictState.FAIL, "instance status check: impaired"),
        ({"system_status": "initializing"}, VerdictState.PENDING, "system status check: initializing"),
        (
            {"state": "pending", "instance_status": None},
            VerdictState.PENDING,
            "running: instance is still starting",
        ),
        ({"state": "stopped"}, VerdictState.FAIL, "running: instance is stopped"),
        ({"public_ips": ("54.1.2.3",)}, VerdictState.FAIL, "public IP 54.1.2.3 present"),
        ({"subnet_id": "subnet-z"}, VerdictState.FAIL, "subnet-z is not one of"),
        ({"security_group_ids": frozenset({"sg-app", "sg-open"})}, VerdictState.FAIL, "security groups"),
    ],
)
def test_each_instance_fault_has_its_verdict(
    change: dict[str, object], expected: VerdictState, reason: str
) -> None:
    facts = InstanceFacts(**{**{f: getattr(HEALTHY, f) for f in HEALTHY.__slots__}, **change})  # type: ignore[arg-type]
    checks = instance_checks(facts, EXPECT)
    result = verdict(checks)
    assert result.state is expected
    assert any(reason in r for r in result.reasons)


def test_ports_are_probed_only_on_an_instance_that_is_up() -> None:
    assert ready_for_probing(instance_checks(HEALTHY, EXPECT))
    booting = InstanceFacts(
        "i-1", "running", "10.0.2.4", (), "subnet-a", frozenset({"sg-app"}), "initializing", "ok"
    )
    assert not ready_for_probing(instance_checks(booting, EXPECT))
    assert _verdict(HEALTHY, {443: False}) is VerdictState.FAIL
    assert port_checks((443,), None, None)[0].state is CheckState.PENDING
    assert port_checks((), None, "tag unreadable")[0].state is CheckState.FAILED


def test_post_launch_actions() -> None:
    configured = {"monitoring": True, "optional": False}
    failed = PostLaunchFacts(
        True, configured, {"monitoring": ("FAILED", "exit 1"), "optional": ("SUCCESS", "")}
    )
    assert verdict(post_launch_checks(failed)).state is VerdictState.FAIL
    optional_failed = PostLaunchFacts(
        True, configured, {"monitoring": ("SUCCESS", ""), "optional": ("FAILED", "x")}
    )
    assert verdict(post_launch_checks(optional_failed)).state is VerdictState.PASS
    running = PostLaunchFacts(True, configured, {"monitoring": ("IN_PROGRESS", "")})
    assert verdict(post_launch_checks(running)).state is VerdictState.PENDING
    cutover_only = PostLaunchFacts(False, configured)
    assert post_launch_checks(cutover_only)[0].state is CheckState.SKIPPED
