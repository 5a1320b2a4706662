"""Verifying a launched instance, test or cutover: EC2's facts about it, MGN's post-launch actions and
the declared application ports, judged by the one verdict of ``jobs.verification``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from mgn_pipeline.jobs.probe import TcpProber
from mgn_pipeline.jobs.verification import (
    Expectations,
    InstanceFacts,
    Verdict,
    declared_ports,
    post_launch_facts,
    verify_instance,
)


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
    @property
    def ssm_registration_grace(self) -> timedelta: ...


def verify_launched(
    rules: VerificationRules,
    phases: frozenset[str],
    *,
    tags: Mapping[str, str],
    facts: InstanceFacts,
    post_launch_actions: Mapping[str, Any],
    participant: Mapping[str, Any],
    prober: TcpProber,
    since_launch: timedelta | None = None,
) -> Verdict:
    """``tags``: the source server's (its declared ports); ``post_launch_actions``: its launch
    configuration's; ``participant``: its entry in the launch job; ``phases``: TEST_PHASES or
    CUTOVER_PHASES; ``since_launch``: how long ago the launch was seen (None: unknown, the SSM agent
    is then waited for without a grace limit of its own)."""
    return verify_instance(
        facts,
        Expectations(rules.allowed_subnet_ids, rules.expected_security_group_ids),
        post_launch_facts(post_launch_actions, participant, phases),
        declared_ports(tags, rules.app_ports_tag, rules.default_app_ports),
        prober,
        rules.probe_timeout_seconds,
        since_launch=since_launch,
        ssm_registration_grace=rules.ssm_registration_grace,
    )
