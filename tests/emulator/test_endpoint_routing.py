"""The endpoint sends each request to the part of the local cloud that owns it, by its SigV4 scope."""

from __future__ import annotations

import pytest

from localcloud.endpoint_routing import Backend, backend_for, signed_service


def signed(service: str, **extra: str) -> dict[str, str]:
    scope = f"AKIALOCALCLOUDEXAMPLE/20260105/us-east-1/{service}/aws4_request"
    return {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date, Signature=00",
        **extra,
    }


@pytest.mark.parametrize(
    ("path", "headers", "backend"),
    [
        ("/DescribeSourceServers", signed("mgn"), Backend.MGN),
        ("/", signed("ssm", **{"X-Amz-Target": "AmazonSSM.SendAutomationSignal"}), Backend.SSM_AUTOMATION),
        # Header names arrive in any case.
        (
            "/",
            signed("ssm", **{"x-amz-target": "AmazonSSM.DescribeAutomationExecutions"}),
            Backend.SSM_AUTOMATION,
        ),
        # SSM calls the emulator does not own are moto's (documents, parameters).
        ("/", signed("ssm", **{"X-Amz-Target": "AmazonSSM.GetParameter"}), Backend.MOTO),
        ("/", signed("dynamodb", **{"X-Amz-Target": "DynamoDB_20120810.Scan"}), Backend.MOTO),
        ("/", {}, Backend.MOTO),
        ("/_localcloud/clock", signed("mgn"), Backend.CONTROL),
    ],
)
def test_each_request_goes_to_its_owner(path: str, headers: dict[str, str], backend: Backend) -> None:
    assert backend_for(path, headers) is backend


def test_the_service_is_the_credential_scopes() -> None:
    assert signed_service(signed("mgn")) == "mgn"
    assert (
        signed_service(
            {"authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260105/eu-west-1/ssm/aws4_request"}
        )
        == "ssm"
    )
    assert signed_service({"Authorization": "Bearer something"}) is None
