"""The S3 gateway endpoint's policy: the buckets MGN replication and the agent need stay reachable."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from mgn_pipeline.health.inventory import NetworkInventory
from mgn_pipeline.health.model import CheckResult, NetworkExpectations, failed, passed, warned


# ---------------------------------------------------------------------- S3 endpoint policy
def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_is_anyone(principal: Any) -> bool:
    return principal == "*" or (isinstance(principal, dict) and "*" in _as_list(principal.get("AWS")))


def _matches(patterns: Any, value: str, *, case_sensitive: bool) -> bool:
    if case_sensitive:
        return any(fnmatch.fnmatchcase(value, str(p)) for p in _as_list(patterns))
    return any(fnmatch.fnmatchcase(value.lower(), str(p).lower()) for p in _as_list(patterns))


def bucket_access(policy: dict[str, Any], bucket: str) -> str:
    """'allowed', 'denied', 'conditional' (allowed only under conditions or principals this code
    does not evaluate) or 'not-allowed', for s3:GetObject on an object of ``bucket``."""
    action, resource = "s3:GetObject", f"arn:aws:s3:::{bucket}/mgn-health-probe"
    verdict = "not-allowed"
    for statement in _as_list(policy.get("Statement", [])):
        if not isinstance(statement, dict):
            continue
        if any(k in statement for k in ("NotAction", "NotResource", "NotPrincipal")):
            applies = "uncertain"
        elif _matches(statement.get("Action", []), action, case_sensitive=False) and _matches(
            statement.get("Resource", []), resource, case_sensitive=True
        ):
            applies = "yes"
        else:
            continue
        if statement.get("Effect") == "Deny":
            if applies == "yes" and not statement.get("Condition"):
                return "denied"
            verdict = "conditional"
        elif (
            applies == "yes"
            and _principal_is_anyone(statement.get("Principal"))
            and not statement.get("Condition")
        ):
            verdict = "allowed" if verdict != "conditional" else verdict
        elif verdict == "not-allowed":
            verdict = "conditional"
    return verdict


def check_s3_policy(inv: NetworkInventory, exp: NetworkExpectations) -> CheckResult:
    check_id = "s3-policy"
    service_name = exp.endpoint_service_name("s3")
    endpoints = [
        e
        for kind in ("Gateway", "Interface")
        for e in inv.endpoints_for(service_name, kind)
        if str(e.get("State", "")).lower() == "available"
    ]
    if not endpoints:
        return warned(check_id, "No S3 endpoint to evaluate.", "See gateway.s3 and endpoint.s3.")
    verdicts: dict[str, dict[str, str]] = {}
    for endpoint in endpoints:
        raw = endpoint.get("PolicyDocument")
        try:
            policy = (
                json.loads(raw)
                if isinstance(raw, str)
                else (
                    raw
                    or {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}
                )
            )
        except json.JSONDecodeError:
            policy = {}
        verdicts[endpoint["VpcEndpointId"]] = {
            b: bucket_access(policy, b) for b in [*exp.mgn_buckets(), exp.ssm_bucket()]
        }
    blocked = {
        eid: sorted(b for b, v in per.items() if v in {"denied", "not-allowed"} and b != exp.ssm_bucket())
        for eid, per in verdicts.items()
    }
    blocked = {eid: buckets for eid, buckets in blocked.items() if buckets}
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{b}/*" for b in [*exp.mgn_buckets(), exp.ssm_bucket()]],
    }
    if blocked:
        eid, buckets = next(iter(blocked.items()))
        return failed(
            check_id,
            f"The S3 endpoint policy of {', '.join(blocked)} does not allow the MGN buckets "
            f"(e.g. {', '.join(buckets[:3])}): agents cannot download, replication servers cannot start.",
            f"Add this statement to the policy of {', '.join(blocked)} (aws ec2 modify-vpc-endpoint "
            f"--vpc-endpoint-id {eid} --policy-document file://policy.json): {json.dumps(statement)}",
            blocked=blocked,
            verdicts=verdicts,
        )
    unsure = {eid: sorted(b for b, v in per.items() if v != "allowed") for eid, per in verdicts.items()}
    unsure = {eid: b for eid, b in unsure.items() if b}
    if unsure:
        return warned(
            check_id,
            "The S3 endpoint policies allow the MGN buckets, but some access is conditional or the SSM bucket "
            f"({exp.ssm_bucket()}, post-launch actions) is not allowed: {unsure}",
            f"Confirm the conditions hold for the agent and replication servers, or add: {json.dumps(statement)}",
            verdicts=verdicts,
        )
    return passed(
        check_id, f"S3 endpoint policies of {', '.join(verdicts)} allow every MGN bucket.", verdicts=verdicts
    )
