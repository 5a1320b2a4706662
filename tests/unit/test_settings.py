"""Settings come from the environment at invocation; a missing or malformed one names itself."""

from __future__ import annotations

import pytest

from mgn_pipeline.composition.settings import MgnEventSettings, ReconcilerSettings, load_settings
from mgn_pipeline.replication.launch_policy import LaunchViolationMode
from mgn_pipeline.shared.errors import SettingsError

BASE = {
    "SERVERS_TABLE_NAME": "srv",
    "AUDIT_TABLE_NAME": "audit",
    "IDEMPOTENCY_TABLE_NAME": "idem",
    "PIPELINE_ACCOUNT_ID": "111122223333",
    "AWS_REGION": "us-east-1",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:mgn-pipeline",
    "STAGING_SUBNET_ID": "subnet-0123456789abcdef0",
    "REPLICATION_SECURITY_GROUP_IDS": "sg-0123456789abcdef0, sg-0fedcba9876543210",
}


def test_settings_read_from_environment() -> None:
    settings = load_settings(MgnEventSettings, BASE)
    assert settings.servers_table == "srv"
    assert settings.idempotency_ttl_seconds == 172_800
    policy = settings.replication_policy()
    assert policy.security_group_ids == {"sg-0123456789abcdef0", "sg-0fedcba9876543210"}
    assert policy.data_plane_routing == "PRIVATE_IP"
    assert policy.create_public_ip is False
    assert settings.launch_policy().mode is LaunchViolationMode.REPAIR


def test_optional_policy_settings() -> None:
    settings = load_settings(
        ReconcilerSettings,
        {
            **BASE,
            "EBS_KMS_KEY_ARN": "arn:aws:kms:us-east-1:111122223333:key/abc",
            "STAGING_AREA_TAGS": '{"CostCenter": "migration"}',
            "SCOPE_TAG_KEY": "",
            "LAUNCH_VIOLATION_MODE": "block",
            "ALLOWED_LAUNCH_SUBNET_IDS": "subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb",
        },
    )
    assert settings.replication_policy().desired_fields()["ebsEncryption"] == "CUSTOM"
    assert settings.staging_tags == {"CostCenter": "migration"}
    assert settings.scope_tag_key is None
    assert settings.launch_policy().mode is LaunchViolationMode.BLOCK
    assert len(settings.allowed_launch_subnet_ids) == 2


@pytest.mark.parametrize("missing", ["IDEMPOTENCY_TABLE_NAME", "STAGING_SUBNET_ID", "NOTIFICATION_TOPIC_ARN"])
def test_missing_setting_names_the_variable(missing: str) -> None:
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        load_settings(MgnEventSettings, env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RECONCILER_PAGE_SIZE", "500"),
        ("STAGING_SUBNET_ID", "not-a-subnet"),
        ("NOTIFICATION_TOPIC_ARN", "arn:aws:sqs:us-east-1:111122223333:q"),
        ("LAUNCH_VIOLATION_MODE", "ignore"),
        ("REPLICATION_SECURITY_GROUP_IDS", " , "),
        ("LINK_BUDGET_MBPS", "-70"),
        ("LINK_BUDGET_MBPS", "70%"),
        ("CUTOVER_WINDOW_TAG_KEY", "window!"),
        ("LINK_BUDGETS", '{"munich": {"budgetMbps": 0}}'),
        ("LINK_BUDGETS", '{"munich": {"budgetMbps": 300, "sourceCidrs": ["10.30.0.0/33"]}}'),
        ("LINK_BUDGETS", '{"two words": {"budgetMbps": 300}}'),
        ("LINK_BUDGETS", "munich=300"),
    ],
)
def test_malformed_setting_is_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(ReconcilerSettings, {**BASE, name: value})


def test_a_launch_queue_without_a_cutover_gate_is_refused_not_run_half_wired() -> None:
    from mgn_pipeline.composition.launches import build_test_launch_actions

    settings = load_settings(ReconcilerSettings, {**BASE, "LAUNCH_QUEUE_TABLE_NAME": "launch-queue"})
    with pytest.raises(SettingsError, match="CUTOVER_GATE_TABLE_NAME is not"):
        build_test_launch_actions(None, settings, gate=None)  # type: ignore[arg-type]  # refused before any client


def test_a_link_budget_is_off_unless_set_and_then_floors_the_template() -> None:
    assert load_settings(ReconcilerSettings, BASE).links() == []
    settings = load_settings(ReconcilerSettings, {**BASE, "LINK_BUDGET_MBPS": "700"})
    [link] = settings.links()
    budget = link.budget
    assert link.name == "default" and budget.budget_mbps == 700
    assert settings.link_tags().window_key == "mgn-pipeline:cutover-window"
    policy = settings.replication_policy(template_throttle_mbps=budget.min_mbps)
    assert policy.template_fields()["bandwidthThrottling"] == 1
    assert [
        d.name for d in policy.template_drift({**policy.template_fields(), "bandwidthThrottling": 0})
    ] == ["bandwidthThrottling"]
    # A server's own throttle is the plan's business, never the closed-network policy's.
    assert policy.drift({**policy.template_fields(), "bandwidthThrottling": 0}) == []


def test_several_links_each_with_its_budget_and_networks() -> None:
    settings = load_settings(
        ReconcilerSettings,
        {
            **BASE,
            "LINK_BUDGET_MBPS": "700",
            "LINK_BUDGETS": '{"munich": {"budgetMbps": 300, "sourceCidrs": ["10.30.0.0/16"]}}',
        },
    )
    links = {link.name: link for link in settings.links()}
    assert set(links) == {"default", "munich"}
    assert links["munich"].budget.budget_mbps == 300
    assert [str(n) for n in links["munich"].source_networks] == ["10.30.0.0/16"]
