"""EventBridge-shaped events the emulator emits: MGN's own and CloudTrail API-call events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from localcloud.mgn.util import IdFactory, iso_seconds

Event = dict[str, Any]
Subscriber = Callable[[Event], object]

LIFECYCLE_CHANGE = "MGN Source Server Lifecycle State Change"
LAUNCH_RESULT = "MGN Source Server Launch Result"
STALLED_CHANGE = "MGN Source Server Data Replication Stalled Change"
CLOUDTRAIL = "AWS API Call via CloudTrail"

DEFAULT_ROLE_NAME = "operator"


def principal_identity(principal_arn: str, account_id: str) -> dict[str, Any]:
    """CloudTrail ``userIdentity`` for a role, an assumed-role session or an IAM user ARN."""
    parts = principal_arn.split(":", 5)
    resource = parts[5] if len(parts) == 6 else principal_arn
    acct = parts[4] if len(parts) == 6 and parts[4] else account_id
    if resource.startswith("role/"):
        # A role ARN: the caller is a session of that role, as a Lambda or SFN would be.
        role_name = resource.split("/")[-1]
        issuer_arn, session_arn = (
            principal_arn,
            f"arn:aws:sts::{acct}:assumed-role/{role_name}/{role_name}-session",
        )
    elif resource.startswith("assumed-role/"):
        _, role_name, *_ = resource.split("/")
        issuer_arn, session_arn = f"arn:aws:iam::{acct}:role/{role_name}", principal_arn
    else:
        return {
            "type": "IAMUser",
            "principalId": "AIDAEMULATED",
            "arn": principal_arn,
            "accountId": acct,
            "userName": resource.split("/")[-1],
        }
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEMULATED:{session_arn.split('/')[-1]}",
        "arn": session_arn,
        "accountId": acct,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEMULATED",
                "arn": issuer_arn,
                "accountId": acct,
                "userName": role_name,
            },
            "attributes": {"mfaAuthenticated": "false"},
        },
    }


class EventEmitter:
    """Builds events, keeps them in order (``events``) and hands each to every subscriber."""

    def __init__(self, ids: IdFactory, account_id: str, region: str) -> None:
        self._ids = ids
        self.account_id = account_id
        self.region = region
        self.events: list[Event] = []
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback(event)``; returns a function that unsubscribes it."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _emit(self, detail_type: str, when: datetime, resources: list[str], detail: dict[str, Any]) -> Event:
        event = {
            "version": "0",
            "id": self._ids.uuid(),
            "detail-type": detail_type,
            "source": "aws.mgn",
            "account": self.account_id,
            "time": iso_seconds(when),
            "region": self.region,
            "resources": resources,
            "detail": detail,
        }
        self.events.append(event)
        for callback in list(self._subscribers):
            callback(event)
        return event

    def lifecycle_change(self, when: datetime, server_arn: str, state: str) -> Event:
        return self._emit(LIFECYCLE_CHANGE, when, [server_arn], {"state": state})

    def launch_result(self, when: datetime, server_arn: str, state: str, job_id: str) -> Event:
        return self._emit(LAUNCH_RESULT, when, [server_arn], {"state": state, "job-id": job_id})

    def stalled_change(self, when: datetime, server_arn: str, stalled: bool) -> Event:
        return self._emit(
            STALLED_CHANGE, when, [server_arn], {"state": "STALLED" if stalled else "NOT_STALLED"}
        )

    def api_call(
        self,
        when: datetime,
        operation: str,
        principal_arn: str,
        request_parameters: dict[str, Any] | None,
        response_elements: dict[str, Any] | None,
        user_agent: str,
        error: tuple[str, str] | None = None,
    ) -> Event:
        """A CloudTrail management event for a write call; failed calls carry errorCode too."""
        detail: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": principal_identity(principal_arn, self.account_id),
            "eventTime": iso_seconds(when),
            "eventSource": "mgn.amazonaws.com",
            "eventName": operation,
            "awsRegion": self.region,
            "sourceIPAddress": "10.0.0.10",
            "userAgent": user_agent,
            "requestParameters": request_parameters,
            "responseElements": response_elements,
            "requestID": self._ids.uuid(),
            "eventID": self._ids.uuid(),
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": self.account_id,
            "eventCategory": "Management",
        }
        if error:
            detail["errorCode"], detail["errorMessage"] = error
        return self._emit(CLOUDTRAIL, when, [], detail)
