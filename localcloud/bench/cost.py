"""Cost per migrated server at list prices (us-east-1) from a wave's measured usage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from localcloud.cloud import ROOT
from tools.cfn_yaml import load_template

# ---------------------------------------------------------------- list prices, us-east-1
# Checked on 2026-11-25 against the text of these pages (found with the search tool):
PRICES_CHECKED = "2026-11-25"
# "AWS Lambda Pricing" (aws.amazon.com/lambda/pricing): requests $0.20 per 1M; duration billed per
# 1 ms, rounded up. Arm price, first tier (first 7.5 billion GB-seconds / month): $0.0000133334 per
# GB-second ("AWS Lambda Pricing Breakdown: Ultimate Guide 2024", cloudchipr.com, which quotes the
# official tier table; the official page renders its Arm table in a script).
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
LAMBDA_ARM_GB_SECOND_USD = 0.0000133334
LAMBDA_FREE_REQUESTS = 1_000_000  # per month, free tier (same page)
LAMBDA_FREE_GB_SECONDS = 400_000  # per month, free tier, x86 and Arm together (same page)
# "AWS Step Functions Pricing" (aws.amazon.com/step-functions/pricing): Standard Workflows, US East
# (N. Virginia) $0.025 per 1,000 state transitions, retries counted as transitions; 4,000 free
# state transitions per month, not expiring.
SFN_TRANSITION_USD = 0.025 / 1000
SFN_FREE_TRANSITIONS = 4_000
# "Amazon EventBridge Pricing" (aws.amazon.com/eventbridge/pricing): AWS management events (aws.mgn
# service events, CloudTrail "AWS API Call" events, aws.ssm status changes) are ingested by the
# default bus for free; custom events (PutEvents) $1.00 per 1M, each 64 KB chunk one event. The
# template's schedules are EventBridge rules with a schedule expression (SAM Type: Schedule), not
# EventBridge Scheduler: no charge.
EVENTBRIDGE_CUSTOM_EVENT_USD = 1.00 / 1_000_000


def function_memory_mb(template_path: Path = ROOT / "template.yaml") -> dict[str, int]:
    """Each function's MemorySize (its own, else Globals.Function's, else Lambda's default 128)."""
    template = load_template(template_path)
    default = int(((template.get("Globals") or {}).get("Function") or {}).get("MemorySize", 128))
    return {
        logical_id: int((resource.get("Properties") or {}).get("MemorySize", default))
        for logical_id, resource in (template.get("Resources") or {}).items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function"
    }


def cost_per_server(result: dict[str, Any]) -> dict[str, Any]:
    """USD per migrated server, before free tiers, from the run's measured invocations and durations."""
    n = result["servers"]
    memory = function_memory_mb()
    requests = sum(fn["invocations"] for fn in result["lambda"].values())
    gb_seconds = sum(
        fn["billed_ms"] / 1000 * memory.get(key, 128) / 1024 for key, fn in result["lambda"].items()
    )
    transitions = result["step_functions"]["billable_transitions"]
    custom_events = sum(result["custom_events_put"].values())
    lambda_requests = requests * LAMBDA_REQUEST_USD
    lambda_duration = gb_seconds * LAMBDA_ARM_GB_SECOND_USD
    step_functions = transitions * SFN_TRANSITION_USD
    eventbridge = custom_events * EVENTBRIDGE_CUSTOM_EVENT_USD
    total = lambda_requests + lambda_duration + step_functions + eventbridge
    return {
        "prices": {
            "checked": PRICES_CHECKED,
            "region": "us-east-1",
            "lambda_request_usd": LAMBDA_REQUEST_USD,
            "lambda_arm_gb_second_usd": LAMBDA_ARM_GB_SECOND_USD,
            "step_functions_transition_usd": SFN_TRANSITION_USD,
            "eventbridge_custom_event_usd": EVENTBRIDGE_CUSTOM_EVENT_USD,
        },
        "memory_mb": {key: memory.get(key, 128) for key in result["lambda"]},
        "per_server_usd": {
            "lambda_requests": lambda_requests / n,
            "lambda_duration": lambda_duration / n,
            "step_functions": step_functions / n,
            "eventbridge": eventbridge / n,
            "total": total / n,
        },
        "wave_usd": total,
        "wave_usage": {
            "lambda_requests": requests,
            "lambda_gb_seconds": round(gb_seconds, 3),
            "step_functions_transitions": transitions,
            "eventbridge_custom_events": custom_events,
        },
        "fits_monthly_free_tier": {
            "lambda_requests": requests <= LAMBDA_FREE_REQUESTS,
            "lambda_gb_seconds": gb_seconds <= LAMBDA_FREE_GB_SECONDS,
            "step_functions": transitions <= SFN_FREE_TRANSITIONS,
        },
    }


COST_CAVEATS = (
    "List prices, us-east-1, checked {checked}; per server before the monthly free tiers (Lambda: 1M requests "
    "and 400,000 GB-s; Step Functions: 4,000 transitions), which are per account and shared with everything "
    "else in it.",
    "Lambda duration: each invocation's CPU time in the local cloud (handler plus the emulators answering its "
    "calls in-process), rounded up to 1 ms, times the function's MemorySize from template.yaml. An estimate "
    "of Lambda's billed duration: on Lambda each AWS API call also waits on the network (typically some ms "
    "per call through a VPC endpoint), which is not here, and arm64 at 512 MB is not this CPU.",
    "EventBridge: the bus carries only AWS management events (aws.mgn, CloudTrail API calls, aws.ssm) and "
    "scheduled rules (free); the pipeline puts no custom events. Not included: DynamoDB, SNS, SSM "
    "Automation steps, CloudTrail, CloudWatch Logs, VPC endpoints, MGN and its replication servers.",
)
