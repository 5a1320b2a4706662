"""The whole local cloud in one place: a closed VPC, MGN, the deployed stack and its event bus.

``LocalCloud.start()`` gives what the demo, the benchmarks and whole-flow tests stand on: moto
for the AWS services, the MGN emulator, the template's tables/queues/topics and its real handlers,
and the template's EventBridge rules and schedules, all on one simulated clock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from localcloud.calls import CallCounter
from localcloud.clock import SimClock
from localcloud.eventbus import LocalEventBus
from localcloud.functions import LocalStack, deploy_stack
from localcloud.mgn import MgnEmulator, Timings
from localcloud.network import simulated_network
from localcloud.pacing import retry_waits_in_invocation_time
from localcloud.ssm import SsmAutomationEmulator
from localcloud.stepfunctions import SFN_MOCK_CONFIG, LocalStepFunctions
from localcloud.template import Template, resolve
from localcloud.vpc import ClosedVpc, build_closed_vpc
from mgn_pipeline.shared.clock import use_clock

REGION = "us-east-1"
ACCOUNT_ID = "111122223333"
APPROVER = f"arn:aws:iam::{ACCOUNT_ID}:role/MigrationApprover"
OPERATOR = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/MigrationOperator/operator"
# The role the pipeline's own SSM calls come from (not an approver).
PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/mgn-pipeline-cutover-tasks"
ROOT = Path(__file__).resolve().parent.parent

_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "localcloud",
    "AWS_SECRET_ACCESS_KEY": "localcloud",
    "AWS_SESSION_TOKEN": "localcloud",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "MOTO_ACCOUNT_ID": ACCOUNT_ID,
    # moto's built-in AMI catalogue takes seconds to load; the MGN emulator registers its own.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    "POWERTOOLS_SERVICE_NAME": "mgn-pipeline",
    "POWERTOOLS_METRICS_NAMESPACE": "MgnPipeline",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


@dataclass
class LocalCloud:
    clock: SimClock
    vpc: ClosedVpc
    mgn: MgnEmulator
    stack: LocalStack
    bus: LocalEventBus
    calls: CallCounter
    inbox_url: str
    ssm: SsmAutomationEmulator
    sfn: LocalStepFunctions
    state_machines: dict[str, str]  # logical id -> ARN
    notices: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    @contextmanager
    def start(
        cls,
        *,
        timings: Timings | None = None,
        schedules: bool = True,
        parameters: dict[str, str] | None = None,
    ) -> Iterator[LocalCloud]:
        """Everything up, on simulated time; everything torn down on exit."""
        clock = SimClock()
        with _environment(), mock_aws(config=SFN_MOCK_CONFIG), _pipeline_on(clock), ExitStack() as extra:
            vpc = build_closed_vpc(boto3.client("ec2"), boto3.client("route53resolver"), REGION)
            mgn = MgnEmulator(
                clock,
                REGION,
                ACCOUNT_ID,
                staging_subnet_id=vpc.staging_subnet_id,
                launch_subnet_id=vpc.launch_subnet_id,
                timings=timings or Timings(),
                # MGN's own EC2 work (launch templates, instances) is not the pipeline's: a client
                # of its own session, made before the counter is installed, keeps it out of the counts.
                ec2_client=boto3.session.Session().client("ec2", region_name=REGION),
            )
            counter = CallCounter()
            network = simulated_network(boto3.client("ec2"), vpc.vpc_id, REGION)
            with mgn.installed(), counter.installed(), network as probe_tools:
                template = Template.load()
                stack_parameters = {
                    **vpc.template_parameters(),
                    "ApproverPrincipalArns": APPROVER,
                    "AllowedLaunchSubnetIds": vpc.launch_subnet_id,
                    **(parameters or {}),
                }
                with counter.not_counting():
                    stack = deploy_stack(template, clock, stack_parameters)
                    inbox_url = _subscribe_inbox(
                        [stack.refs["NotificationTopic"], stack.refs["AutomationApprovalTopic"]]
                    )
                # The health function probes DNS and TLS as a function in the VPC would.
                stack.functions.set_module_global("NetworkHealthFunction", "probe_tools", probe_tools)
                bus = LocalEventBus(template, stack.functions, clock)
                mgn.subscribe(bus.put_events)
                with counter.not_counting():
                    ssm = extra.enter_context(_approvals(clock, stack, bus))
                    sfn = extra.enter_context(LocalStepFunctions(stack.functions, retry_sleep_scale=0.01))
                    # botocore's retry waits inside a function spend its simulated time (MGN's rate).
                    extra.enter_context(retry_waits_in_invocation_time())
                    machines = _state_machines(template, stack, sfn)
                if schedules:
                    bus.start_schedules()
                try:
                    yield cls(clock, vpc, mgn, stack, bus, counter, inbox_url, ssm, sfn, machines)
                finally:
                    # Executions parked on a token keep a moto worker thread each: end them with the cloud.
                    for arn in machines.values():
                        running = sfn.client.list_executions(stateMachineArn=arn, statusFilter="RUNNING")
                        for execution in running["executions"]:
                            sfn.client.stop_execution(executionArn=execution["executionArn"], error="Stopped")

    def deployed(self) -> None:
        """What CloudFormation sends when the stack is created; its rule runs the reconciler."""
        self.bus.put_events(
            {
                "source": "aws.cloudformation",
                "detail-type": "CloudFormation Stack Status Change",
                "resources": [self.stack.refs["AWS::StackId"]],
                "detail": {
                    "stack-id": self.stack.refs["AWS::StackId"],
                    "status-details": {"status": "CREATE_COMPLETE"},
                },
            }
        )

    def read_notices(self) -> list[dict[str, Any]]:
        """Notifications a person received since the last read (SNS -> an SQS inbox)."""
        sqs = boto3.client("sqs")
        fresh: list[dict[str, Any]] = []
        with self.calls.not_counting():
            while batch := sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10).get(
                "Messages"
            ):
                for message in batch:
                    body = json.loads(message["Body"])
                    fresh.append(
                        {"time": self.clock.now(), "subject": body.get("Subject"), "body": body["Message"]}
                    )
                    sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"])
        self.notices.extend(fresh)
        return fresh

    def registry(self) -> dict[str, dict[str, str]]:
        """The pipeline's servers table: step and since when, by server id."""
        with self.calls.not_counting():
            items = boto3.client("dynamodb").scan(TableName=self.stack.refs["ServersTable"])["Items"]
        return {
            i["serverId"]["S"]: {k: next(iter(v.values())) for k, v in i.items()}
            for i in items
            if not i["serverId"]["S"].startswith("account#")  # the account checks' record
        }

    def audit(self) -> list[dict[str, str]]:
        with self.calls.not_counting():
            items = boto3.client("dynamodb").scan(TableName=self.stack.refs["AuditTable"])["Items"]
        return sorted(
            ({k: next(iter(v.values())) for k, v in i.items()} for i in items), key=lambda r: r["recordId"]
        )

    def mgn_as_operator(self) -> Any:
        """An MGN client whose calls CloudTrail attributes to a person (they are not the pipeline's)."""
        return _OperatorClient(self)


class _OperatorClient:
    def __init__(self, cloud: LocalCloud) -> None:
        self._cloud = cloud
        self._client = boto3.client("mgn")

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            with self._cloud.mgn.acting_as(OPERATOR), self._cloud.calls.not_counting():
                return method(**kwargs)

        return call


@contextmanager
def _approvals(clock: SimClock, stack: LocalStack, bus: LocalEventBus) -> Iterator[SsmAutomationEmulator]:
    """SSM Automation (moto has none) with the template's approval runbook registered."""
    ssm = SsmAutomationEmulator(clock, ACCOUNT_ID, REGION, default_principal=PIPELINE_ROLE)
    with ssm.installed():
        ssm.subscribe(bus.put_events)
        for logical_id, resource in stack.template.resources().items():
            if resource.get("Type") == "AWS::SSM::Document":
                props = resource["Properties"]
                boto3.client("ssm").create_document(
                    Name=stack.refs[logical_id],
                    DocumentType=props["DocumentType"],
                    DocumentFormat="JSON",
                    Content=json.dumps(props["Content"]),
                )
        yield ssm


def _state_machines(template: Template, stack: LocalStack, sfn: LocalStepFunctions) -> dict[str, str]:
    """Each state machine of the template, from its ASL file, its tasks dispatched to the real handlers."""
    machines: dict[str, str] = {}
    functions = stack.functions
    refs = {**stack.refs, **{f"{key}.Arn": functions.function_arn(key) for key in template.functions()}}
    for logical_id, resource in template.resources().items():
        if resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = resource["Properties"]
        substitutions = {
            name: resolve(value, refs, stack.conditions)
            for name, value in props.get("DefinitionSubstitutions", {}).items()
        }
        if "VerifyMaxAttempts" in substitutions:
            # Instances here pass their status checks at once: a pending verification is a bug, fail fast.
            substitutions["VerifyMaxAttempts"] = 3
        arn = sfn.create_state_machine(
            ROOT / props["DefinitionUri"], substitutions, name=f"{logical_id}-local"
        )
        machines[logical_id] = arn
        stack.refs[logical_id] = arn
        functions.refs[logical_id] = arn
    return machines


@contextmanager
def _pipeline_on(clock: SimClock) -> Iterator[None]:
    """The pipeline's records (steps, audit) carry simulated time, like everything else here."""
    with use_clock(clock.now):
        yield


@contextmanager
def _environment() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in _ENVIRONMENT}
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        saved.setdefault(key, os.environ.get(key))
        os.environ.pop(key, None)
    os.environ.update(_ENVIRONMENT)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _subscribe_inbox(topic_arns: list[str]) -> str:
    """One inbox for what people receive: the pipeline's notifications and the approval requests."""
    sqs = boto3.client("sqs")
    url: str = sqs.create_queue(QueueName="people-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for topic_arn in topic_arns:
        boto3.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return url
