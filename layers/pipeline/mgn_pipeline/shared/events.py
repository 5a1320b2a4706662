"""MGN events as the pipeline reads them: EventBridge service events and CloudTrail API calls.

Only the envelope and the fields we act on are checked. Unknown detail fields, undocumented
detail-types and states are tolerated (MGN adds them without notice) and acted on by no one: the
event says so in its ``ignored_because``. A malformed envelope or server id, or an event from
another account or Region than the function's (``EventOrigin``), is refused with
:class:`InvalidEventError`, so the event lands in the DLQ instead of being guessed at.
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

# The states MGN documents for the detail-types that carry one (a new state is ignored, not guessed).
KNOWN_STATES = {
    "MGN Source Server Lifecycle State Change": frozenset(
        {
            "STOPPED",
            "NOT_READY",
            "READY_FOR_TEST",
            "TESTING",
            "READY_FOR_CUTOVER",
            "CUTTING_OVER",
            "CUTOVER",
            "DISCONNECTED",
            "DISCOVERED",
            "PENDING_INSTALLATION",
        }
    ),
    "MGN Source Server Launch Result": frozenset(
        {"TEST_LAUNCH_SUCCEEDED", "TEST_LAUNCH_FAILED", "CUTOVER_LAUNCH_SUCCEEDED", "CUTOVER_LAUNCH_FAILED"}
    ),
    "MGN Source Server Data Replication Stalled Change": frozenset({"STALLED", "NOT_STALLED"}),
}

_SERVER_ID = re.compile(r"^s-[0-9a-zA-Z]{17}$")
_SERVER_ARN = re.compile(
    r"^arn:aws[a-z-]*:mgn:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):source-server/(?P<id>s-[0-9a-zA-Z]{17})$"
)
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
        return self.ignored_because is None

    @property
    def ignored_because(self) -> str | None:
        """Why no one acts on this event (a detail-type or state MGN does not document), or None."""
        if self.is_api_call:
            return None
        if self.detail_type not in KNOWN_SERVICE_DETAIL_TYPES:
            return f"undocumented MGN detail-type {self.detail_type!r}"
        states = KNOWN_STATES.get(self.detail_type)
        if states is not None and self.state is not None and self.state not in states:
            return f"undocumented state {self.state!r} for {self.detail_type!r}"
        return None

    @property
    def trigger(self) -> str:
        """A short, human-readable cause for logs and the audit trail."""
        if self.api_call:
            return f"cloudtrail:{self.api_call}"
        return f"event:{self.detail_type}" + (f":{self.state}" if self.state else "")


@dataclass(frozen=True, slots=True)
class EventOrigin:
    """The account and Region the function runs in: the only ones whose events it acts on.
    EventBridge delivers only the account's own AWS events to the stack's rules, so an event from
    elsewhere was replayed or put by hand, and its server ids may name servers of this account."""

    account: str
    region: str


def parse_mgn_event(event: Any, origin: EventOrigin | None = None) -> MgnEvent:
    """Read an EventBridge event delivered by one of the pipeline's MGN rules (from ``origin``)."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"expected an EventBridge event object, got {type(event).__name__}")
    event_id = _required_str(event, "id")
    detail_type = _required_str(event, "detail-type")
    source = _required_str(event, "source")
    if source != MGN_SOURCE:
        raise InvalidEventError(
            f"event {label(event_id)}: source is {shown(source)}, expected {MGN_SOURCE!r}"
        )
    if origin is not None:
        check_origin(event_id, "event", event.get("account"), event.get("region"), origin)
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEventError(f"event {label(event_id)}: 'detail' must be an object")
    time = str(event.get("time", ""))
    if detail_type == CLOUDTRAIL_DETAIL_TYPE:
        if origin is not None:
            account, region = (
                detail.get("recipientAccountId", origin.account),
                detail.get("awsRegion", origin.region),
            )
            check_origin(event_id, "CloudTrail call", account, region, origin)
        return _parse_api_call(event_id, time, detail)
    resources = event.get("resources")
    if not isinstance(resources, list):
        raise InvalidEventError(f"event {label(event_id)}: 'resources' must be a list of source server ARNs")
    server_ids = tuple(_server_id_from_arn(event_id, arn, origin) for arn in resources)
    job_id = detail.get("job-id")
    if job_id is not None and not (isinstance(job_id, str) and _JOB_ID.match(job_id)):
        raise InvalidEventError(f"event {label(event_id)}: job-id {shown(job_id)} is not an MGN job id")
    state = detail.get("state")
    if state is not None and not isinstance(state, str):
        raise InvalidEventError(
            f"event {label(event_id)}: state must be a string, got {type(state).__name__}"
        )
    return MgnEvent(
        event_id=event_id,
        detail_type=detail_type,
        time=time,
        server_ids=server_ids,
        state=state,
        job_id=job_id,
    )


def _parse_api_call(event_id: str, time: str, detail: Mapping[str, Any]) -> MgnEvent:
    if detail.get("eventSource") != MGN_EVENT_SOURCE:
        raise InvalidEventError(f"event {label(event_id)}: CloudTrail eventSource is not {MGN_EVENT_SOURCE}")
    api_call = detail.get("eventName")
    if not isinstance(api_call, str) or not api_call:
        raise InvalidEventError(f"event {label(event_id)}: CloudTrail event has no eventName")
    params = detail.get("requestParameters") or {}
    if not isinstance(params, Mapping):
        raise InvalidEventError(f"event {label(event_id)}: requestParameters must be an object")
    named: list[Any] = []  # unchecked until the loop below
    if "sourceServerID" in params:
        named.append(params["sourceServerID"])
    ids = params.get("sourceServerIDs", [])
    if not isinstance(ids, list):
        raise InvalidEventError(f"event {label(event_id)}: requestParameters.sourceServerIDs must be a list")
    named.extend(ids)
    for server_id in named:
        if not (isinstance(server_id, str) and _SERVER_ID.match(server_id)):
            raise InvalidEventError(
                f"event {label(event_id)}: {shown(server_id)} is not an MGN source server id"
            )
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


def _server_id_from_arn(event_id: str, arn: Any, origin: EventOrigin | None) -> str:
    match = _SERVER_ARN.match(arn) if isinstance(arn, str) else None
    if not match:
        raise InvalidEventError(
            f"event {label(event_id)}: resource {shown(arn)} is not an MGN source-server ARN"
        )
    if origin is not None:
        check_origin(event_id, "resource", match["account"], match["region"], origin)
    return match["id"]


def check_origin(event_id: str, what: str, account: Any, region: Any, origin: EventOrigin) -> None:
    if account != origin.account or region != origin.region:
        raise InvalidEventError(
            f"event {label(event_id)}: {what} is from account {shown(account)} in {shown(region)}; this "
            f"pipeline acts only on account {origin.account} in {origin.region}. Replay events only "
            "into the stack of the account and Region they came from."
        )


def is_server_id(value: Any) -> bool:
    """Whether ``value`` is an MGN source server id (the service model's pattern)."""
    return isinstance(value, str) and _SERVER_ID.match(value) is not None


def label(event_id: str) -> str:
    """The event id as logged: as is when short and printable (MGN's are UUIDs), else quoted."""
    return event_id if len(event_id) <= 80 and event_id.isprintable() else shown(event_id)


def shown(value: Any) -> str:
    """A value from an event, for a log line: quoted, at most 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
