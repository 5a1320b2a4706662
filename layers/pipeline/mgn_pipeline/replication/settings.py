"""The replication capability's settings: the closed-network policy, the launch policy, the scope.

Import inside handler bodies (pydantic: see ``mgn_pipeline.shared.settings``).
"""

from __future__ import annotations

import json
from ipaddress import IPv4Network
from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator

from mgn_pipeline.replication.bandwidth import LinkBudget
from mgn_pipeline.replication.launch_policy import LaunchPolicy, LaunchViolationMode
from mgn_pipeline.replication.link_keeper import DEFAULT_EXCEPTION_TAG_KEY, DEFAULT_WINDOW_TAG_KEY, LinkTags
from mgn_pipeline.replication.link_store import DEFAULT_LINK
from mgn_pipeline.replication.links import DEFAULT_LINK_TAG_KEY, Link
from mgn_pipeline.replication.policy import ReplicationPolicy
from mgn_pipeline.shared.replication_clock import (
    DEFAULT_URGENT_DAYS,
    DEFAULT_WARN_DAYS,
    FREE_REPLICATION_DAYS,
    ClockThresholds,
)
from mgn_pipeline.shared.scope import Scope
from mgn_pipeline.shared.settings import CommaList, JsonObject, OptionalStr, Settings


class ReplicationFields(Settings):
    """The private-IP replication settings every server and the template must carry."""

    staging_subnet_id: str = Field(alias="STAGING_SUBNET_ID", pattern=r"^subnet-[0-9a-f]{8,17}$")
    replication_security_group_ids: CommaList = Field(alias="REPLICATION_SECURITY_GROUP_IDS", min_length=1)
    associate_default_security_group: bool = Field(alias="ASSOCIATE_DEFAULT_SECURITY_GROUP", default=False)
    ebs_kms_key_arn: OptionalStr = Field(alias="EBS_KMS_KEY_ARN", default=None)
    staging_tags: JsonObject = Field(alias="STAGING_AREA_TAGS", default_factory=dict)
    # A periodic reconcile re-reads a quiet server's settings only this often; changes made through
    # the API are caught at once by their CloudTrail event. 0 re-reads at every reconcile.
    settings_recheck_minutes: int = Field(alias="SETTINGS_RECHECK_MINUTES", default=60, ge=0, le=1440)

    def replication_policy(self, template_throttle_mbps: int | None = None) -> ReplicationPolicy:
        return ReplicationPolicy(
            template_throttle_mbps=template_throttle_mbps,
            staging_subnet_id=self.staging_subnet_id,
            security_group_ids=frozenset(self.replication_security_group_ids),
            associate_default_security_group=self.associate_default_security_group,
            ebs_kms_key_arn=self.ebs_kms_key_arn,
            staging_tags=dict(self.staging_tags),
        )


class LaunchPolicyFields(Settings):
    """Where launched (test and cutover) instances may go, and what a violation does."""

    allowed_launch_subnet_ids: CommaList = Field(alias="ALLOWED_LAUNCH_SUBNET_IDS", default_factory=list)
    launch_violation_mode: LaunchViolationMode = Field(
        alias="LAUNCH_VIOLATION_MODE", default=LaunchViolationMode.REPAIR
    )

    def launch_policy(self) -> LaunchPolicy:
        return LaunchPolicy(frozenset(self.allowed_launch_subnet_ids), self.launch_violation_mode)


class ScopeFields(Settings):
    """Which servers the pipeline manages (all, or those with a tag)."""

    scope_tag_key: OptionalStr = Field(alias="SCOPE_TAG_KEY", default=None)
    scope_tag_value: OptionalStr = Field(alias="SCOPE_TAG_VALUE", default=None)

    def scope(self) -> Scope:
        return Scope(self.scope_tag_key, self.scope_tag_value)


# Tag keys: 1-128 characters of letters, digits, spaces and _ . : / = + - @ (MGN's and EC2's rule).
_TAG_KEY = r"^[\w .:/=+\-@]{1,128}$"


class LinkSpec(Settings):
    """One more link (a data centre's): its budget and the source networks that use it."""

    budget_mbps: int = Field(alias="budgetMbps", ge=1, le=100_000)
    source_cidrs: list[IPv4Network] = Field(alias="sourceCidrs", default_factory=list)


def _json(value: object) -> object:
    if isinstance(value, str):
        return json.loads(value) if value.strip() else {}
    return value


LinkName = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


class LinkFields(Settings):
    """The replication budget on the private link (0: MGN's default, no throttle) and on any
    other links (one per data centre, by source network or tag), the tag that gives a server its
    wave's cutover window, and the tag that keeps a person's throttle."""

    link_budget_mbps: int = Field(alias="LINK_BUDGET_MBPS", default=0, ge=0, le=100_000)
    # {"munich": {"budgetMbps": 300, "sourceCidrs": ["10.30.0.0/16"]}}
    link_budgets: Annotated[dict[LinkName, LinkSpec], BeforeValidator(_json)] = Field(
        alias="LINK_BUDGETS", default_factory=dict
    )
    link_tag_key: str = Field(alias="LINK_TAG_KEY", default=DEFAULT_LINK_TAG_KEY, pattern=_TAG_KEY)
    cutover_window_tag_key: str = Field(
        alias="CUTOVER_WINDOW_TAG_KEY", default=DEFAULT_WINDOW_TAG_KEY, pattern=_TAG_KEY
    )
    bandwidth_exception_tag_key: str = Field(
        alias="BANDWIDTH_EXCEPTION_TAG_KEY", default=DEFAULT_EXCEPTION_TAG_KEY, pattern=_TAG_KEY
    )

    def links(self) -> list[Link]:
        """Every link with a budget; the default one (``LINK_BUDGET_MBPS``) takes the servers no
        other link takes. Empty: no budget, throttles are MGN's and people's."""
        links = [
            Link(name, LinkBudget(budget_mbps=spec.budget_mbps), tuple(spec.source_cidrs))
            for name, spec in sorted(self.link_budgets.items())
            if name != DEFAULT_LINK
        ]
        if self.link_budget_mbps:
            links.append(Link(DEFAULT_LINK, LinkBudget(budget_mbps=self.link_budget_mbps)))
        return links

    def link_tags(self) -> LinkTags:
        return LinkTags(
            window_key=self.cutover_window_tag_key, exception_key=self.bandwidth_exception_tag_key
        )


class ReplicationClockFields(Settings):
    """When a server still replicating is told of its 90 free days running out: at the warning
    and at the urgent threshold (days since its first byte)."""

    replication_clock_warn_days: int = Field(
        alias="REPLICATION_CLOCK_WARN_DAYS", default=DEFAULT_WARN_DAYS, ge=1, lt=FREE_REPLICATION_DAYS
    )
    replication_clock_urgent_days: int = Field(
        alias="REPLICATION_CLOCK_URGENT_DAYS", default=DEFAULT_URGENT_DAYS, ge=2, le=FREE_REPLICATION_DAYS
    )

    @model_validator(mode="after")
    def _warning_before_urgent(self) -> ReplicationClockFields:
        if self.replication_clock_warn_days >= self.replication_clock_urgent_days:
            raise ValueError(
                "REPLICATION_CLOCK_WARN_DAYS must be below REPLICATION_CLOCK_URGENT_DAYS"
                f" ({self.replication_clock_warn_days} >= {self.replication_clock_urgent_days})"
            )
        return self

    def replication_clock(self) -> ClockThresholds:
        return ClockThresholds(self.replication_clock_warn_days, self.replication_clock_urgent_days)
