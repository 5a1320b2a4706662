"""The local cloud's network as the health function sees it: healthy by default, broken on demand."""

from __future__ import annotations

import boto3

from localcloud.cloud import LocalCloud


def test_healthy_closed_network_passes_and_a_deleted_endpoint_fails_its_checks() -> None:
    with LocalCloud.start(schedules=False) as cloud:
        report = cloud.stack.functions.invoke("NetworkHealthFunction", {})
        assert report["status"] == "PASS", report["failing"]

        cloud.vpc.delete_endpoint(boto3.client("ec2"), "mgn")
        report = cloud.stack.functions.invoke("NetworkHealthFunction", {})

        assert report["status"] == "FAIL"
        assert report["failing"] == ["endpoint.mgn"]
        assert cloud.read_notices()[0]["subject"].startswith("MGN network health FAIL")
