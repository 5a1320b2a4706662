"""SSM Automation runbook executions (moto has none), answered under boto3 beside moto.

Usage in a test::

    with mock_aws():
        clock = SimClock()
        emu = SsmAutomationEmulator(clock)
        with emu.installed():                 # every boto3 client made from now on reaches it
            ssm = boto3.client("ssm")
            ssm.create_document(Name="ApproveCutover", DocumentType="Automation",
                                DocumentFormat="YAML", Content=Template.load().runbook("ApproveCutoverDocument"))
            run_id = ssm.start_automation_execution(DocumentName="ApproveCutover", Parameters={...})[
                "AutomationExecutionId"]
            clock.advance(1)                  # the execution starts; the approval step waits
            with emu.acting_as("arn:aws:iam::111122223333:role/CutoverApprover"):
                ssm.send_automation_signal(AutomationExecutionId=run_id, SignalType="Approve")

Only the automation operations are answered here; every other SSM call reaches moto.
"""

from localcloud.ssm.emulator import SsmAutomationEmulator, ssm_model
from localcloud.ssm.events import EXECUTION_STATUS_CHANGE, STEP_STATUS_CHANGE
from localcloud.ssm.executions import ApproverDecision, ExecutionRecord, StepRecord

__all__ = [
    "EXECUTION_STATUS_CHANGE",
    "STEP_STATUS_CHANGE",
    "ApproverDecision",
    "ExecutionRecord",
    "SsmAutomationEmulator",
    "StepRecord",
    "ssm_model",
]
