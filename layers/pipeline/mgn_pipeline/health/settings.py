"""The network-health function's settings, parsed from the environment at invocation.

Import inside the handler body (pydantic: see ``mgn_pipeline.shared.settings``): pydantic's import costs cold start.
Variables shared with the other functions (NOTIFICATION_TOPIC_ARN, STAGING_SUBNET_ID,
REPLICATION_SECURITY_GROUP_IDS) come from the template's Globals; the HEALTH_* ones are the function's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from mgn_pipeline.health.model import DEFAULT_INTERFACE_SERVICES, NetworkExpectations
from mgn_pipeline.shared.settings import CommaList, MgnPaceFields, OriginFields, load_settings


def _cidrs(values: list[str]) -> list[str]:
    return [str(ipaddress.ip_network(v, strict=False)) for v in values]


CidrList = Annotated[CommaList, AfterValidator(_cidrs)]


class NetworkHealthSettings(MgnPaceFields, OriginFields):
    reports_table: str = Field(alias="HEALTH_REPORTS_TABLE_NAME", min_length=3, max_length=255)
    notification_topic_arn: str = Field(alias="NOTIFICATION_TOPIC_ARN", pattern=r"^arn:aws[a-z-]*:sns:")
    vpc_id: str = Field(alias="HEALTH_VPC_ID", pattern=r"^vpc-[0-9a-f]{8,17}$")
    function_subnet_ids: CommaList = Field(alias="HEALTH_FUNCTION_SUBNET_IDS", min_length=1)
    staging_subnet_id: str = Field(alias="STAGING_SUBNET_ID", pattern=r"^subnet-[0-9a-f]{8,17}$")
    replication_security_group_ids: CommaList = Field(alias="REPLICATION_SECURITY_GROUP_IDS", min_length=1)
    # On-prem networks: the template passes its OnPremPrefixListId, read at invocation; a CIDR
    # list may be given instead (or as well) for a stack run outside the template.
    on_prem_prefix_list_id: str | None = Field(
        alias="HEALTH_ON_PREM_PREFIX_LIST_ID", default=None, pattern=r"^pl-[0-9a-f]{8,17}$"
    )
    on_prem_cidrs: CidrList = Field(alias="HEALTH_ON_PREM_CIDRS", default_factory=list)
    # The on-prem DNS servers that forward to the Resolver; empty: the whole on-prem networks.
    on_prem_dns_cidrs: CidrList = Field(alias="HEALTH_ON_PREM_DNS_CIDRS", default_factory=list)
    interface_services: CommaList = Field(
        alias="HEALTH_INTERFACE_SERVICES",
        default_factory=lambda: list(DEFAULT_INTERFACE_SERVICES),
    )
    probe_timeout_seconds: float = Field(alias="HEALTH_PROBE_TIMEOUT_SECONDS", default=2.0, gt=0, le=10)
    # Under the function's timeout, leaving time to store the report and notify.
    deadline_seconds: float = Field(alias="HEALTH_DEADLINE_SECONDS", default=20.0, gt=0, le=50)
    report_ttl_days: int = Field(alias="HEALTH_REPORT_TTL_DAYS", default=90, ge=1, le=3650)
    # The pipeline's audit trail (template Globals): each change of the failing checks is recorded.
    audit_table: str | None = Field(alias="AUDIT_TABLE_NAME", default=None, min_length=3, max_length=255)

    @model_validator(mode="after")
    def _on_prem_named(self) -> NetworkHealthSettings:
        if not self.on_prem_cidrs and not self.on_prem_prefix_list_id:
            raise ValueError(
                "set HEALTH_ON_PREM_PREFIX_LIST_ID or HEALTH_ON_PREM_CIDRS: the on-prem networks"
            )
        return self

    def expectations(self, prefix_list_cidrs: Sequence[str] = ()) -> NetworkExpectations:
        on_prem = tuple(dict.fromkeys([*self.on_prem_cidrs, *_cidrs(list(prefix_list_cidrs))]))
        return NetworkExpectations(
            region=self.region,
            vpc_id=self.vpc_id,
            function_subnet_ids=tuple(self.function_subnet_ids),
            staging_subnet_id=self.staging_subnet_id,
            replication_security_group_ids=tuple(self.replication_security_group_ids),
            on_prem_cidrs=on_prem,
            on_prem_dns_cidrs=tuple(self.on_prem_dns_cidrs),
            interface_services=tuple(dict.fromkeys(self.interface_services)),
        )


def load_health_settings(environ: Mapping[str, str] | None = None) -> NetworkHealthSettings:
    """Parse ``environ`` (default: the process environment); a bad variable raises ``SettingsError``
    naming it."""
    return load_settings(NetworkHealthSettings, environ)
