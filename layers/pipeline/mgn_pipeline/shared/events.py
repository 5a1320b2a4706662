"""MGN events as the pipeline reads them: EventBridge service events and CloudTrail API calls.

Only the envelope and the fields we act on are checked. Unknown detail fields and undocumented
detail-types are tolerated (MGN adds them without notice); a malformed envelope or server id is
refused with :class:`InvalidEventError`, so the event lands in the DLQ instead of being guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mgn_pipeline.shared.errors import InvalidEventError
from mgn_pipeline.shared.user_agent import PIPELINE_USER_AGENT

MGN_SOURCE = "aws.mgn"
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
MGN_EVENT_SOURCE = "mgn.amazonaws.com"

# Detail-types MGN documents. Anything else is logged and ignored, never acted on blindly.
KNOWN_SERVICE_DETAIL_TYPES = frozenset(
    {
        "MGN Agent Install",
        "MGN Data Replication",
        "MGN Source Server Ready For Test",
        "MGN Data Replication State Change",
        "MGN Source Server Lifecycle State Change",
        "MGN Source Server Launch Result",
        "MGN Source Server Data Replication Stalled Change",
    }
)

_SERVER_ID = re.compile(r"^s-[0-9a-zA-Z]{17}$")
_SERVER_ARN = re.compile(r"^arn:aws[a-z-]*:mgn:[a-z0-9-]+:\d{12}:source-server/(s-[0-9a-zA-Z]{17})$")
_JOB_ID = re.compile(r"^mgnjob-[0-9a-zA-Z]{17}$")


@dataclass(frozen=True, slots=True)
class MgnEvent:
    event_id: str
    detail_type: str
    time: str
    server_ids: tuple[str, ...]
    state: str | None = None
    job_id: str | None = None
    # CloudTrail only: the API call and who made it.
    api_call: str | None = None
    actor: str | None = None
    # CloudTrail only: the call was the pipeline's own (its User-Agent says so).
    own_call: bool = False

    @property
    def is_api_call(self) -> bool:
        return self.api_call is not None

    @property
    def is_known(self) -> bool:
        return self.is_api_call or self.detail_type in KNOWN_SERVICE_DETAIL_TYPES

    @property
    def trigger(self) -> str:
        """A short, human-readable cause for logs and the audit trail."""
        if self.api_call:
            return f"cloudtrail:{self.api_call}"
        return f"event:{self.detail_type}" + (f":{self.state}" if self.state else "")


def parse_mgn_event(event: Any) -> MgnEvent:
    """Read an EventBridge event delivered by one of the pipeline's MGN rules."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"expected an EventBridge event object, got {type(event).__name__}")
    event_id = _required_str(event, "id")
    detail_type = _required_str(event, "detail-type")
    source = _required_str(event, "source")
    if source != MGN_SOURCE:
        raise InvalidEventError(f"event {event_id}: source is {source!r}, expected {MGN_SOURCE!r}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEventError(f"event {event_id}: 'detail' must be an object")
    time = str(event.get("time", ""))
    if detail_type == CLOUDTRAIL_DETAIL_TYPE:
        return _parse_api_call(event_id, time, detail)
    resources = event.get("resources")
    if not isinstance(resources, list):
        raise InvalidEventError(f"event {event_id}: 'resources' must be a list of source server ARNs")
    server_ids = tuple(_server_id_from_arn(event_id, arn) for arn in resources)
    job_id = detail.get("job-id")
    if job_id is not None and not (isinstance(job_id, str) and _JOB_ID.match(job_id)):
        raise InvalidEventError(f"event {event_id}: job-id {job_id!r} is not an MGN job id")
    state = detail.get("state")
    return MgnEvent(
        event_id=event_id,
        detail_type=detail_type,
        time=time,
        server_ids=server_ids,
        state=str(state) if state is not None else None,
        job_id=job_id,
    )


def _parse_api_call(event_id: str, time: str, detail: Mapping[str, Any]) -> MgnEvent:
    if detail.get("eventSource") != MGN_EVENT_SOURCE:
        raise InvalidEventError(f"event {event_id}: CloudTrail eventSource is not {MGN_EVENT_SOURCE}")
    api_call = detail.get("eventName")
    if not isinstance(api_call, str) or not api_call:
        raise InvalidEventError(f"event {event_id}: CloudTrail event has no eventName")
    params = detail.get("requestParameters") or {}
    if not isinstance(params, Mapping):
        raise InvalidEventError(f"event {event_id}: requestParameters must be an object")
    named: list[Any] = []  # unchecked until the loop below
    if "sourceServerID" in params:
        named.append(params["sourceServerID"])
    ids = params.get("sourceServerIDs", [])
    if not isinstance(ids, list):
        raise InvalidEventError(f"event {event_id}: requestParameters.sourceServerIDs must be a list")
    named.extend(ids)
    for server_id in named:
        if not (isinstance(server_id, str) and _SERVER_ID.match(server_id)):
            raise InvalidEventError(f"event {event_id}: {server_id!r} is not an MGN source server id")
    identity = detail.get("userIdentity") or {}
    actor = identity.get("arn") if isinstance(identity, Mapping) else None
    return MgnEvent(
        event_id=event_id,
        detail_type=CLOUDTRAIL_DETAIL_TYPE,
        time=str(detail.get("eventTime") or time),
        server_ids=tuple(dict.fromkeys(named)),
        api_call=api_call,
        actor=str(actor) if actor else None,
        own_call=PIPELINE_USER_AGENT in str(detail.get("userAgent") or ""),
    )


def _required_str(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"event is missing the string field {key!r}")
    return value


def _server_id_from_arn(event_id: str, arn: Any) -> str:
    match = _SERVER_ARN.match(arn) if isinstance(arn, str) else None
    if not match:
        raise InvalidEventError(f"event {event_id}: resource {arn!r} is not an MGN source-server ARN")
    return match.group(1)
