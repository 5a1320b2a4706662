"""Verifying a launched instance, test or cutover: EC2's facts about it, MGN's post-launch actions and
the declared application ports, judged by the one verdict of ``jobs.verification``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from mgn_pipeline.jobs.mgn_jobs import MgnJobs
from mgn_pipeline.jobs.probe import TcpProber
from mgn_pipeline.jobs.verification import (
    Expectations,
    InstanceFacts,
    Verdict,
    declared_ports,
    post_launch_facts,
    verify_instance,
)
from mgn_pipeline.shared.server import SourceServer


class VerificationRules(Protocol):
    """What a launched instance must show (TestLaunchConfig and CutoverConfig both carry it)."""

    @property
    def allowed_subnet_ids(self) -> frozenset[str]: ...
    @property
    def expected_security_group_ids(self) -> frozenset[str]: ...
    @property
    def app_ports_tag(self) -> str: ...
    @property
    def default_app_ports(self) -> tuple[int, ...]: ...
    @property
    def probe_timeout_seconds(self) -> float: ...


def verify_launched(
    rules: VerificationRules,
    phases: frozenset[str],
    *,
    server: SourceServer,
    facts: InstanceFacts,
    participant: Mapping[str, Any],
    jobs: MgnJobs,
    prober: TcpProber,
) -> Verdict:
    """``participant``: the server's entry in its launch job; ``phases``: TEST_PHASES or CUTOVER_PHASES."""
    return verify_instance(
        facts,
        Expectations(rules.allowed_subnet_ids, rules.expected_security_group_ids),
        post_launch_facts(jobs.post_launch_actions(server.server_id), participant, phases),
        declared_ports(server.tags, rules.app_ports_tag, rules.default_app_ports),
        prober,
        rules.probe_timeout_seconds,
    )
