"""Settings each function reads from its environment, parsed at invocation into pydantic models.

Handlers import this module inside the handler body, not at module level: pydantic's import
costs about 150 ms, more than the cold-start budget of a function woken by a rare event
(``benchmarks/cold_start.py``), and it is paid once per container either way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from mgn_pipeline.domain.launch_policy import LaunchPolicy, LaunchViolationMode
from mgn_pipeline.domain.replication_policy import ReplicationPolicy
from mgn_pipeline.errors import SettingsError


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _json_object(value: object) -> object:
    if isinstance(value, str):
        return json.loads(value) if value.strip() else {}
    return value


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


CommaList = Annotated[list[str], BeforeValidator(_comma_list)]
OptionalStr = Annotated[str | None, BeforeValidator(_blank_is_none)]


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    servers_table: str = Field(alias="SERVERS_TABLE_NAME", min_length=3, max_length=255)


class PipelineSettings(_Settings):
    """What every function that advances servers needs: the closed-network policy and where to record."""

    audit_table: str = Field(alias="AUDIT_TABLE_NAME", min_length=3, max_length=255)
    notification_topic_arn: str = Field(alias="NOTIFICATION_TOPIC_ARN", pattern=r"^arn:aws[a-z-]*:sns:")
    staging_subnet_id: str = Field(alias="STAGING_SUBNET_ID", pattern=r"^subnet-[0-9a-f]{8,17}$")
    replication_security_group_ids: CommaList = Field(alias="REPLICATION_SECURITY_GROUP_IDS", min_length=1)
    associate_default_security_group: bool = Field(alias="ASSOCIATE_DEFAULT_SECURITY_GROUP", default=False)
    ebs_kms_key_arn: OptionalStr = Field(alias="EBS_KMS_KEY_ARN", default=None)
    staging_tags: Annotated[dict[str, str], BeforeValidator(_json_object)] = Field(
        alias="STAGING_AREA_TAGS", default_factory=dict
    )
    scope_tag_key: OptionalStr = Field(alias="SCOPE_TAG_KEY", default=None)
    scope_tag_value: OptionalStr = Field(alias="SCOPE_TAG_VALUE", default=None)
    allowed_launch_subnet_ids: CommaList = Field(alias="ALLOWED_LAUNCH_SUBNET_IDS", default_factory=list)
    # A periodic reconcile re-reads a quiet server's settings only this often; changes made through
    # the API are caught at once by their CloudTrail event. 0 re-reads at every reconcile.
    settings_recheck_minutes: int = Field(alias="SETTINGS_RECHECK_MINUTES", default=30, ge=0, le=1440)
    launch_violation_mode: LaunchViolationMode = Field(
        alias="LAUNCH_VIOLATION_MODE", default=LaunchViolationMode.REPAIR
    )

    def replication_policy(self) -> ReplicationPolicy:
        return ReplicationPolicy(
            staging_subnet_id=self.staging_subnet_id,
            security_group_ids=frozenset(self.replication_security_group_ids),
            associate_default_security_group=self.associate_default_security_group,
            ebs_kms_key_arn=self.ebs_kms_key_arn,
            staging_tags=dict(self.staging_tags),
        )

    def launch_policy(self) -> LaunchPolicy:
        return LaunchPolicy(frozenset(self.allowed_launch_subnet_ids), self.launch_violation_mode)


class ReconcilerSettings(PipelineSettings):
    page_size: int = Field(alias="RECONCILER_PAGE_SIZE", default=200, ge=1, le=200)


class MgnEventSettings(PipelineSettings):
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=3, max_length=255)
    # Long enough to absorb EventBridge retries (24 h) and the reconciler's catch-up.
    idempotency_ttl_seconds: int = Field(alias="IDEMPOTENCY_TTL_SECONDS", default=172_800, ge=300)


def load_settings[SettingsT: _Settings](
    model: type[SettingsT], environ: Mapping[str, str] | None = None
) -> SettingsT:
    """Parse ``environ`` (default: the process environment) into ``model``.

    A missing or malformed variable raises :class:`SettingsError` naming each variable, so the
    log says exactly what to fix in the stack.
    """
    try:
        return model.model_validate(dict(os.environ if environ is None else environ))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise SettingsError(f"{model.__name__} cannot be read from the environment: {problems}") from exc
