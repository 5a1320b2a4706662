"""The cutover gate on the local cloud: N servers approved, cut over, verified and finalized.

    python benchmarks/cutover_gate.py [--servers 20]

Prints Step Functions state transitions per server (from each execution's history), MGN calls per
server by operation, and the calls made while the gate waited for the approvals (no polling: only
the reconciler's one bounded check per pending gate). Also home of :class:`CutoverCloud`, the
local-cloud harness the gate's tests use, and of ``TEMPLATE_FRAGMENT``: the template resources the
gate needs, exactly as they go into ``template.yaml`` (the harness deploys them from here until the
template has them, so the snippet handed to the lead is the one under test).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import yaml

# Powertools reads these when mgn_pipeline.observability is first imported (Lambda sets them first).
for _key, _value in {
    "POWERTOOLS_SERVICE_NAME": "mgn-pipeline",
    "POWERTOOLS_METRICS_NAMESPACE": "MgnPipeline",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}.items():
    os.environ.setdefault(_key, _value)

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "layers" / "pipeline"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from localcloud.cloud import ACCOUNT_ID, APPROVER, REGION, LocalCloud  # noqa: E402
from localcloud.mgn import Timings  # noqa: E402
from localcloud.ssm import SsmAutomationEmulator  # noqa: E402
from localcloud.stepfunctions import LocalStepFunctions, wait_for  # noqa: E402
from localcloud.template import Template, load_yaml  # noqa: E402

ASL = ROOT / "statemachines" / "cutover-gate.asl.json"
RUNBOOK = ROOT / "automation" / "approve-cutover.yaml"
PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/mgn-pipeline-cutover-tasks"
OUTSIDER = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/Developer/mallory"
APPROVER_SESSION = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/MigrationApprover/alice"

# ---------------------------------------------------------------------------------------------
# The template snippet (YAML, short tags). `Resources` are added as they are; `FunctionAdditions`
# are merged into the existing ReconcilerFunction and MgnEventFunction (environment + policies).
TEMPLATE_FRAGMENT = r"""
Resources:
  # One item per server: the gate's status and the only copy of its pending task token.
  CutoverGateTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - { AttributeName: serverId, AttributeType: S }
      KeySchema:
        - { AttributeName: serverId, KeyType: HASH }
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }
      SSESpecification:
        SSEEnabled: true
        SSEType: KMS
        KMSMasterKeyId: !Ref PipelineKey

  # aws:approve publishes here; its name must start with "Automation". Subscribe the approvers.
  AutomationApprovalTopic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub Automation-${AWS::StackName}-cutover-approval
      DisplayName: MGN cutover approval needed
      KmsMasterKeyId: !Ref PipelineKey

  ApproveCutoverDocument:
    Type: AWS::SSM::Document
    Properties:
      Name: !Sub ${AWS::StackName}-ApproveCutover
      DocumentType: Automation
      DocumentFormat: YAML
      UpdateMethod: NewVersion
      Content: RUNBOOK  # automation/approve-cutover.yaml, inlined (test_cutover_gate compares them)

  CutoverTasksFunction:
    Type: AWS::Serverless::Function
    Properties:
      Description: The cutover gate's tasks (precheck, approval request, start/verify/finalize cutover, rollback)
      CodeUri: functions/cutover_tasks/
      Handler: app.lambda_handler
      Timeout: 120
      LoggingConfig:
        LogGroup: !Ref CutoverTasksLogGroup
      Environment:
        Variables:
          CUTOVER_GATE_TABLE_NAME: !Ref CutoverGateTable
          HEALTH_REPORTS_TABLE_NAME: !Ref HealthReportsTable
          APPROVAL_DOCUMENT_NAME: !Ref ApproveCutoverDocument
          APPROVAL_TOPIC_ARN: !Ref AutomationApprovalTopic
          APPROVER_PRINCIPAL_ARNS: !Join [",", !Ref ApproverPrincipalArns]
          MAX_REPLICATION_LAG_SECONDS: "900"
          CUTOVER_ARCHIVE_AFTER_SECONDS: ""
      Policies:
        - Statement:
            - Sid: ReadServersAndJobs
              Effect: Allow
              # No resource-level permissions for these MGN reads.
              Action: [mgn:DescribeSourceServers, mgn:DescribeJobs, mgn:DescribeJobLogItems]
              Resource: "*"
            - Sid: OnlyThisFunctionCutsOver
              Effect: Allow
              Action:
                - mgn:StartCutover
                - mgn:FinalizeCutover
                - mgn:ChangeServerLifeCycleState
                - mgn:TerminateTargetInstances
                - mgn:MarkAsArchived
                - mgn:GetLaunchConfiguration
                - mgn:TagResource
              Resource:
                - !Sub arn:${AWS::Partition}:mgn:${AWS::Region}:${AWS::AccountId}:source-server/*
                - !Sub arn:${AWS::Partition}:mgn:${AWS::Region}:${AWS::AccountId}:job/*
            - Sid: MgnLaunchesForUs
              Effect: Allow
              # StartCutover/TerminateTargetInstances run EC2 on the caller's behalf (MGN's managed policy pattern).
              Action: [ec2:DescribeInstances, ec2:DescribeInstanceStatus]
              Resource: "*"
            - Sid: AskApproval
              Effect: Allow
              Action: ssm:StartAutomationExecution
              Resource:
                - !Sub arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:automation-definition/${ApproveCutoverDocument}:*
            - Sid: StopLapsedApproval
              Effect: Allow
              Action: ssm:StopAutomationExecution
              Resource: !Sub arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:automation-execution/*
            - Sid: GateRecord
              Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:UpdateItem]
              Resource: !GetAtt CutoverGateTable.Arn
            - Sid: HealthGate
              Effect: Allow
              Action: dynamodb:GetItem
              Resource: !GetAtt HealthReportsTable.Arn
            - Sid: AppendAudit
              Effect: Allow
              Action: dynamodb:PutItem
              Resource: !GetAtt AuditTable.Arn
            - Sid: Notify
              Effect: Allow
              Action: sns:Publish
              Resource: [!Ref NotificationTopic, !Ref AutomationApprovalTopic]
            - Sid: Encrypted
              Effect: Allow
              Action: [kms:Decrypt, kms:GenerateDataKey]
              Resource: !GetAtt PipelineKey.Arn
      EventInvokeConfig:
        MaximumRetryAttempts: 0  # Step Functions retries (Retry blocks); no async invocations
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: !GetAtt FunctionFailureDLQ.Arn

  CutoverTasksLogGroup:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: !Ref LogRetentionDays
      KmsKeyId: !GetAtt PipelineKey.Arn

  ApprovalBridgeFunction:
    Type: AWS::Serverless::Function
    Properties:
      Description: Bridges a finished SSM Automation approval to the cutover gate's task token (event, no polling)
      CodeUri: functions/approval_bridge/
      Handler: app.lambda_handler
      Timeout: 30
      LoggingConfig:
        LogGroup: !Ref ApprovalBridgeLogGroup
      Environment:
        Variables:
          CUTOVER_GATE_TABLE_NAME: !Ref CutoverGateTable
          APPROVAL_DOCUMENT_NAME: !Ref ApproveCutoverDocument
          APPROVAL_TOPIC_ARN: !Ref AutomationApprovalTopic
          APPROVER_PRINCIPAL_ARNS: !Join [",", !Ref ApproverPrincipalArns]
      Policies:
        - Statement:
            - Sid: ReadDecision
              Effect: Allow
              Action: ssm:GetAutomationExecution
              Resource: !Sub arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:automation-execution/*
            - Sid: CompleteOnlyThisStateMachinesTasks
              Effect: Allow
              Action: [states:SendTaskSuccess, states:SendTaskFailure]
              Resource: !Ref CutoverGateStateMachine
            - Sid: GateRecord
              Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:UpdateItem]
              Resource: !GetAtt CutoverGateTable.Arn
            - Sid: AppendAudit
              Effect: Allow
              Action: dynamodb:PutItem
              Resource: !GetAtt AuditTable.Arn
            - Sid: Notify
              Effect: Allow
              Action: sns:Publish
              Resource: !Ref NotificationTopic
            - Sid: Encrypted
              Effect: Allow
              Action: [kms:Decrypt, kms:GenerateDataKey]
              Resource: !GetAtt PipelineKey.Arn
      EventInvokeConfig:
        MaximumRetryAttempts: 2
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: !GetAtt FunctionFailureDLQ.Arn
      Events:
        ApprovalDecided:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.ssm]
              detail-type: [EC2 Automation Step Status-change Notification]
              detail:
                Action: [aws:approve]
                Definition: [!Ref ApproveCutoverDocument]
                Status: [Success, Failed, TimedOut, Cancelled]
            RetryPolicy:
              MaximumRetryAttempts: 185
              MaximumEventAgeInSeconds: 86400
            DeadLetterConfig:
              Arn: !GetAtt EventDeliveryDLQ.Arn

  ApprovalBridgeLogGroup:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: !Ref LogRetentionDays
      KmsKeyId: !GetAtt PipelineKey.Arn

  CutoverGateStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Type: STANDARD
      DefinitionUri: statemachines/cutover-gate.asl.json
      DefinitionSubstitutions:
        CutoverTasksFunctionArn: !GetAtt CutoverTasksFunction.Arn
        ReadyTimeoutSeconds: 604800
        ApprovalTimeoutSeconds: 608400  # aws:approve's 7 days + 1 h: a backstop, the runbook times out first
        ReplicationWaitTimeoutSeconds: 86400
        LaunchTimeoutSeconds: 14400
        VerifyIntervalSeconds: 30
        VerifyMaxAttempts: 40
      Policies:
        - LambdaInvokePolicy:
            FunctionName: !Ref CutoverTasksFunction
      Logging:
        Level: ERROR
        IncludeExecutionData: false  # payloads carry task tokens
        Destinations:
          - CloudWatchLogsLogGroup:
              LogGroupArn: !GetAtt CutoverGateLogGroup.Arn
      Tracing:
        Enabled: true

  CutoverGateLogGroup:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: !Ref LogRetentionDays
      KmsKeyId: !GetAtt PipelineKey.Arn

FunctionAdditions:  # merge into ReconcilerFunction and MgnEventFunction
  Environment:
    CUTOVER_GATE_TABLE_NAME: !Ref CutoverGateTable
    CUTOVER_STATE_MACHINE_ARN: !Ref CutoverGateStateMachine
    HEALTH_REPORTS_TABLE_NAME: !Ref HealthReportsTable
    APPROVAL_DOCUMENT_NAME: !Ref ApproveCutoverDocument
    APPROVAL_TOPIC_ARN: !Ref AutomationApprovalTopic
    APPROVER_PRINCIPAL_ARNS: !Join [",", !Ref ApproverPrincipalArns]
    MAX_REPLICATION_LAG_SECONDS: "900"
    CUTOVER_ARCHIVE_AFTER_SECONDS: ""
  Policies:
    - Statement:
        - Sid: OpenCutoverGate
          Effect: Allow
          Action: states:StartExecution
          Resource: !Ref CutoverGateStateMachine
        - Sid: ResolveCutoverGateTokens
          Effect: Allow
          Action: [states:SendTaskSuccess, states:SendTaskFailure]
          Resource: !Ref CutoverGateStateMachine
        - Sid: LostApprovalEvent
          Effect: Allow
          Action: ssm:GetAutomationExecution
          Resource: !Sub arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:automation-execution/*
        - Sid: CutoverJobs
          Effect: Allow
          Action: [mgn:DescribeJobs, mgn:DescribeJobLogItems]
          Resource: "*"
        - Sid: GateRecordAndHealth
          Effect: Allow
          Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:UpdateItem]
          Resource: !GetAtt CutoverGateTable.Arn
        - Sid: HealthGate
          Effect: Allow
          Action: dynamodb:GetItem
          Resource: !GetAtt HealthReportsTable.Arn
"""

GATE_FUNCTIONS = ("ReconcilerFunction", "MgnEventFunction")


def fragment() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(TEMPLATE_FRAGMENT)
    data["Resources"]["ApproveCutoverDocument"]["Properties"]["Content"] = yaml.safe_load(RUNBOOK.read_text())
    return data


def gate_template() -> Template:
    """template.yaml with the gate's resources (as-is once the lead merged them)."""
    base = Template.load()
    if "CutoverGateStateMachine" in base.resources():
        return base
    data = json.loads(json.dumps(base.data))
    extra = fragment()
    data["Resources"].update(extra["Resources"])
    additions = extra["FunctionAdditions"]
    for logical_id in GATE_FUNCTIONS:
        props = data["Resources"][logical_id]["Properties"]
        props.setdefault("Environment", {}).setdefault("Variables", {}).update(additions["Environment"])
        props.setdefault("Policies", []).extend(additions["Policies"])
    return Template(data, base.path)


def _with_cutover_actions(original: Callable[..., Any]) -> Callable[..., Any]:
    """What the composition snippet does: register the gate's actions next to the others."""

    def build(clients: Any, settings: Any, **kwargs: Any) -> Any:
        from mgn_pipeline.cutover.settings import CutoverSettings, load_settings
        from mgn_pipeline.cutover.wiring import build_cutover_actions

        pipeline = original(clients, settings, **kwargs)
        pipeline._actions.update(build_cutover_actions(clients, load_settings(CutoverSettings)))
        return pipeline

    return build


class FakeProber:
    """Ports answer unless listed in ``closed``."""

    def __init__(self) -> None:
        self.closed: set[int] = set()
        self.probes: list[tuple[str, int]] = []

    def is_open(self, host: str, port: int, timeout_seconds: float) -> bool:
        self.probes.append((host, port))
        return port not in self.closed


@dataclass
class CutoverCloud:
    cloud: LocalCloud
    ssm: SsmAutomationEmulator
    sfn: LocalStepFunctions
    state_machine_arn: str
    prober: FakeProber
    ssm_client: Any
    reconcile_every_s: float = 300.0
    network_green: bool = True
    executions: list[str] = field(default_factory=list)

    # ------------------------------------------------------------ set-up helpers
    @property
    def clock(self) -> Any:
        return self.cloud.clock

    @property
    def mgn(self) -> Any:
        return self.cloud.mgn

    def healthy_network(self, status: str = "PASS") -> None:
        with self.cloud.calls.not_counting():
            boto3.client("dynamodb").put_item(
                TableName=self.cloud.stack.refs["HealthReportsTable"],
                Item={
                    "reportId": {"S": "latest"},
                    "status": {"S": status},
                    "failing": {"L": [] if status == "PASS" else [{"S": "vpc-endpoint-mgn"}]},
                    "generatedAt": {"S": self.clock.now().isoformat()},
                },
            )

    def ready_servers(self, count: int, tags: dict[str, str] | None = None) -> list[str]:
        """``count`` servers replicating, tested (by an operator) and marked READY_FOR_CUTOVER."""
        ids = [self.mgn.register_agent(f"app-{n:03d}", tags=dict(tags or {})) for n in range(count)]
        self.advance(self.mgn.timings.initiating_seconds + self.mgn.timings.initial_sync_seconds + 60)
        operator = self.cloud.mgn_as_operator()
        for start in range(0, len(ids), 100):
            operator.start_test(sourceServerIDs=ids[start : start + 100])
        self.advance(self._launch_seconds() + 60)
        for sid in ids:
            # The test-launch capability may have verified the operator's test and marked it already.
            if self.mgn.server(sid).lifecycle == "TESTING":
                operator.change_server_life_cycle_state(
                    sourceServerID=sid, lifeCycle={"state": "READY_FOR_CUTOVER"}
                )
        self.run_events()
        return ids

    def _launch_seconds(self) -> float:
        t = self.mgn.timings
        return t.job_pending_seconds + t.snapshot_seconds + t.conversion_seconds + t.boot_seconds

    # ------------------------------------------------------------ time, events and the executions
    def settle(self, timeout_s: float = 20.0) -> None:
        """Wait until every execution is parked on a task token or finished (it runs in real time)."""

        def parked() -> bool:
            running = self.sfn.client.list_executions(
                stateMachineArn=self.state_machine_arn, statusFilter="RUNNING"
            )
            for execution in running["executions"]:
                events = self.sfn.history(execution["executionArn"])
                if not events or events[-1]["type"] != "TaskSubmitted":
                    return False
                if "waitForTaskToken" not in events[-1].get("taskSubmittedEventDetails", {}).get(
                    "resource", ""
                ):
                    return False
            return True

        # Not inside calls.not_counting(): that flag is global and would hide the executions' own calls.
        wait_for(parked, timeout_s=timeout_s, poll_s=0.005)

    def run_events(self, seconds: float = 5.0) -> None:
        """Deliver what is queued on the bus (a few simulated seconds) and let the executions settle."""
        for _ in range(50):
            self.settle()
            self.clock.advance(seconds)
            self.settle()
            due = self.clock.next_due()
            if due is None or (due - self.clock.now()).total_seconds() > seconds:
                return

    def advance(self, seconds: float) -> None:
        """Move simulated time, running the reconciler every ``reconcile_every_s`` (the schedule)."""
        remaining = seconds
        while remaining > 0:
            step = min(self.reconcile_every_s, remaining)
            self.settle()
            self.clock.advance(step)
            remaining -= step
            if self.network_green:
                self.healthy_network()
            self.reconcile()

    def reconcile(self) -> None:
        self.settle()
        self.cloud.stack.functions.invoke_async(
            "ReconcilerFunction",
            {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}},
            trigger="schedule",
        )
        self.run_events()

    def gate(self, server_id: str) -> dict[str, Any]:
        with self.cloud.calls.not_counting():
            item = (
                boto3.client("dynamodb")
                .get_item(
                    TableName=self.cloud.stack.refs["CutoverGateTable"], Key={"serverId": {"S": server_id}}
                )
                .get("Item")
            )
        return {k: next(iter(v.values())) for k, v in (item or {}).items()}

    def automation_id(self, server_id: str) -> str:
        return str(wait_for(lambda: self.gate(server_id).get("automationExecutionId")))

    def decide(
        self, server_id: str, signal: str, principal: str = APPROVER_SESSION, comment: str | None = None
    ) -> None:
        """A person clicks Approve/Deny in the Systems Manager console."""
        payload = {"Payload": {"Comment": [comment]}} if comment else {}
        with self.ssm.acting_as(principal), self.cloud.calls.not_counting():
            self.ssm_client.send_automation_signal(
                AutomationExecutionId=self.automation_id(server_id), SignalType=signal, **payload
            )
        self.run_events()

    def execution(self, server_id: str, attempt: int = 1) -> dict[str, Any]:
        arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{server_id}-{attempt}"
        with self.cloud.calls.not_counting():
            return self.sfn.describe(arn)

    def transitions(self, server_id: str, attempt: int = 1) -> int:
        arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{server_id}-{attempt}"
        with self.cloud.calls.not_counting():
            return self.sfn.transitions(arn)

    def mgn_calls(self, operation: str, server_id: str | None = None) -> int:
        return sum(
            1
            for name, params in self.mgn.calls
            if name == operation
            and (
                server_id is None
                or server_id in (params.get("sourceServerIDs") or [params.get("sourceServerID")])
            )
        )


@contextmanager
def cutover_cloud(
    *, timings: Timings | None = None, parameters: dict[str, str] | None = None
) -> Iterator[CutoverCloud]:
    """The local cloud with the gate deployed: state machine in moto's interpreter, SSM Automation emulated."""
    template = gate_template()
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(Template, "load", classmethod(lambda cls, path=None: template)))
        cloud = stack.enter_context(
            LocalCloud.start(
                timings=timings or Timings(initiating_seconds=60, initial_sync_seconds=600),
                schedules=False,
                parameters={"ApproverPrincipalArns": APPROVER, **(parameters or {})},
            )
        )
        from mgn_pipeline.logic import composition

        # Handler modules import build_pipeline at their first invocation, after this patch.
        stack.enter_context(
            mock.patch.object(
                composition, "build_pipeline", _with_cutover_actions(composition.build_pipeline)
            )
        )
        with cloud.calls.not_counting():
            ssm = SsmAutomationEmulator(cloud.clock, ACCOUNT_ID, REGION, default_principal=PIPELINE_ROLE)
            stack.enter_context(ssm.installed())
            ssm.subscribe(cloud.bus.put_events)
            ssm_client = boto3.client("ssm")
            refs = cloud.stack.refs
            ssm_client.create_document(
                Name=refs["ApproveCutoverDocument"],
                DocumentType="Automation",
                DocumentFormat="YAML",
                Content=RUNBOOK.read_text(),
            )
            functions = cloud.stack.functions
            sfn = stack.enter_context(LocalStepFunctions(functions, retry_sleep_scale=0.01))
            definition = template.resources()["CutoverGateStateMachine"]["Properties"][
                "DefinitionSubstitutions"
            ]
            substitutions = {k: v for k, v in definition.items() if k != "CutoverTasksFunctionArn"}
            substitutions["CutoverTasksFunctionArn"] = functions.function_arn("CutoverTasksFunction")
            substitutions["VerifyMaxAttempts"] = 3
            arn = sfn.create_state_machine(ASL, substitutions, name="CutoverGateStateMachine-local")
            refs["CutoverGateStateMachine"] = arn
            functions.refs["CutoverGateStateMachine"] = arn
            prober = FakeProber()
            tasks_module = sys.modules[functions.handler("CutoverTasksFunction").__module__]
            tasks_module.prober = prober
        gate = CutoverCloud(cloud, ssm, sfn, arn, prober, ssm_client)
        gate.healthy_network()
        cloud.clock.advance(60)
        try:
            yield gate
        finally:
            # Executions parked on a token keep a moto worker thread each: end them with the cloud.
            running = sfn.client.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
            for execution in running:
                sfn.client.stop_execution(executionArn=execution["executionArn"], error="LocalCloudStopped")


# ---------------------------------------------------------------------------------------------- benchmark


def _mgn_ops(env: CutoverCloud) -> Counter[str]:
    """Every MGN call the emulator answered (from any thread), by operation."""
    return Counter(name for name, _ in env.mgn.calls)


def run(servers: int) -> dict[str, Any]:
    started = time.perf_counter()
    with cutover_cloud() as env:
        ids = env.ready_servers(servers)
        for sid in ids:
            env.automation_id(sid)
        # Waiting for people: one simulated hour, the reconciler runs every 5 minutes.
        mgn_before, ssm_before = _mgn_ops(env), Counter(name for name, _ in env.ssm.calls)
        env.advance(3600)
        waiting_mgn = _mgn_ops(env) - mgn_before
        waiting_ssm = Counter(name for name, _ in env.ssm.calls) - ssm_before
        mgn_before = _mgn_ops(env)
        for sid in ids:
            env.decide(sid, "Approve", comment="change CHG-1234 approved")
        env.advance(env._launch_seconds() + 120)
        env.settle()
        statuses = Counter(env.execution(sid)["status"] for sid in ids)
        transitions = [env.transitions(sid) for sid in ids]
        gate_mgn = _mgn_ops(env) - mgn_before
        wall = time.perf_counter() - started
        return {
            "servers": servers,
            "executions": dict(statuses),
            "transitions_per_server": {"max": max(transitions), "mean": round(sum(transitions) / servers, 2)},
            "mgn_calls_per_server_approval_to_done": {
                op: round(n / servers, 2) for op, n in sorted(gate_mgn.items())
            },
            "waiting_for_approval_1h_per_server": {
                "reconciles": 12,
                "mgn": {op: round(n / servers, 2) for op, n in sorted(waiting_mgn.items())},
                "ssm": {op: round(n / servers, 2) for op, n in sorted(waiting_ssm.items())},
            },
            "start_cutover_calls": env.mgn_calls("StartCutover"),
            "wall_seconds": round(wall, 2),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=20)
    args = parser.parse_args(argv)
    result = run(args.servers)
    print(json.dumps(result, indent=2))
    ok = result["transitions_per_server"]["max"] <= 25 and result["executions"] == {"SUCCEEDED": args.servers}
    print(
        f"cutover gate: {'OK' if ok else 'NOT OK'} (aim: <= 25 transitions per server, every execution SUCCEEDED)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
