"""CKV_MGN_1: every SAM function sends failed asynchronous events somewhere.

Replaces checkov's CKV_AWS_116 (which only accepts DeadLetterQueue): an
EventInvokeConfig.DestinationConfig.OnFailure destination passes too. Loaded by checkov through
`external-checks-dir` in .checkov.yaml.
"""

from __future__ import annotations

from typing import Any

from checkov.cloudformation.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult


class LambdaFailureDestination(BaseResourceCheck):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(
            name="Ensure a Lambda function sends failed async events to a DLQ or an OnFailure destination",
            id="CKV_MGN_1",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["AWS::Serverless::Function", "AWS::Lambda::Function"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        props = conf.get("Properties") or {}
        if props.get("DeadLetterQueue") or props.get("DeadLetterConfig"):
            return CheckResult.PASSED
        invoke_config = props.get("EventInvokeConfig") or {}
        on_failure = (invoke_config.get("DestinationConfig") or {}).get("OnFailure") or {}
        if isinstance(on_failure, dict) and (
            on_failure.get("Destination") or on_failure.get("Type") == "SQS"
        ):
            return CheckResult.PASSED
        return CheckResult.FAILED


check = LambdaFailureDestination()
