"""The local cloud as an endpoint: the AWS CLI, a client nobody here wrote, drives a server's whole life.

The endpoint runs as ``make localcloud`` runs it (``python -m localcloud.endpoint serve``, here on a
free port with the clock stepped on request); the CLI comes from its own virtualenv, ``.venvs/awscli``
(``make bootstrap``), because it pins its own botocore.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.endpoint import control

ROOT = Path(__file__).resolve().parents[2]
AWS_CLI = ROOT / ".venvs" / "awscli" / "bin" / "aws"
REPLICATING = {"INITIAL_SYNC", "RESCAN", "CONTINUOUS"}
APPROVER_SESSION = "arn:aws:sts::111122223333:assumed-role/MigrationApprover/alice"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        not AWS_CLI.exists(), reason="the AWS CLI is not installed: `make bootstrap` makes .venvs/awscli"
    ),
]


def endpoint_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "localcloud.endpoint", *args]


@contextmanager
def serving(tmp_path: Path, *clock: str) -> Iterator[str]:
    """The endpoint in its own process, as a person starts it; stopped (SIGTERM) at the end."""
    out, err = tmp_path / "endpoint.out", tmp_path / "endpoint.err"
    logs = str(tmp_path / "functions.jsonl")
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            endpoint_command("serve", "--port", "0", "--logs", logs, *clock),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'pipeline'}"},
            stdout=stdout,
            stderr=stderr,
        )
        try:
            yield _announced_url(process, out, err)
            process.terminate()
            assert process.wait(timeout=60) == 0, err.read_text()[-3000:]
            assert "Local cloud stopping" in out.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[str]:
    """Its clock moves only when the test steps it."""
    with serving(tmp_path, "--step") as url:
        yield url


def _announced_url(process: subprocess.Popen[bytes], out: Path, err: Path) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", out.read_text())
        if found:
            return found.group(1)
        if process.poll() is not None:
            pytest.fail(f"the endpoint exited with {process.returncode}: {err.read_text()[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"the endpoint did not start within 90 s: {err.read_text()[-3000:]}")


def aws(endpoint: str, home: Path, *args: str) -> Any:
    """One AWS CLI command against the endpoint, with made-up credentials and no config files."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "AKIALOCALCLOUDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "any-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    done = subprocess.run(  # noqa: S603 - the pinned CLI, fixed arguments
        [str(AWS_CLI), "--endpoint-url", endpoint, "--output", "json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"aws {' '.join(args)}: {done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else {}


def step_until[T](endpoint: str, probe: Callable[[], T | None], *, step_s: float, within_s: float) -> T:
    """Step the clock through the control path until ``probe`` (a CLI call) answers."""
    stepped = 0.0
    while (found := probe()) is None:
        assert stepped < within_s, f"nothing after {within_s:.0f} simulated seconds"
        control(endpoint, "POST", "clock", {"seconds": step_s})
        stepped += step_s
    return found


def test_the_aws_cli_takes_a_server_from_agent_installed_to_cut_over_and_finalized(
    endpoint: str, tmp_path: Path
) -> None:
    def source_server(server_id: str) -> dict[str, Any]:
        servers = aws(
            endpoint, tmp_path, "mgn", "describe-source-servers", "--filters", f"sourceServerIDs={server_id}"
        )
        (server,) = servers["items"]
        return dict(server)

    with pytest.raises(RuntimeError, match="HTTP 400"):
        control(endpoint, "POST", "clock", {"seconds": -60})

    # The agent is installed on premises (the endpoint's control path, through its own command).
    installed = subprocess.run(  # noqa: S603
        endpoint_command(
            "install-agent", "--hostname", "erp-app-01", "--tag", "wave=wave-1", "--endpoint-url", endpoint
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    server_id = json.loads(installed.stdout)["sourceServerID"]
    control(endpoint, "POST", "clock", {"seconds": 120})
    server = source_server(server_id)
    assert server["sourceProperties"]["identificationHints"]["hostname"] == "erp-app-01"
    assert server["dataReplicationInfo"]["dataReplicationState"] in REPLICATING

    # The pipeline tests it, then its cutover gate asks for approval in Systems Manager.
    def approval_waiting() -> dict[str, Any] | None:
        listed = aws(
            endpoint,
            tmp_path,
            "ssm",
            "describe-automation-executions",
            "--filters",
            "Key=ExecutionStatus,Values=Waiting",
            "Key=CurrentAction,Values=aws:approve",
        )["AutomationExecutionMetadataList"]
        return dict(listed[0]) if listed else None

    waiting = step_until(endpoint, approval_waiting, step_s=600, within_s=4 * 3600)
    execution_id = waiting["AutomationExecutionId"]
    execution = aws(
        endpoint, tmp_path, "ssm", "get-automation-execution", "--automation-execution-id", execution_id
    )
    assert execution["AutomationExecution"]["Parameters"]["ServerId"] == [server_id]
    life_cycle = source_server(server_id)["lifeCycle"]
    assert life_cycle["state"] == "READY_FOR_CUTOVER"
    assert "initiated" in life_cycle["lastTest"]

    # A person approves it, as the console's Approve button does.
    aws(
        endpoint,
        tmp_path,
        "ssm",
        "send-automation-signal",
        "--automation-execution-id",
        execution_id,
        "--signal-type",
        "Approve",
        "--payload",
        "Comment=CAB-1234 approved",
    )

    def finalized() -> dict[str, Any] | None:
        life_cycle = source_server(server_id)["lifeCycle"]
        done = life_cycle["state"] == "CUTOVER" and "finalized" in life_cycle.get("lastCutover", {})
        return dict(life_cycle) if done else None

    life_cycle = step_until(endpoint, finalized, step_s=300, within_s=2 * 3600)
    assert life_cycle["lastCutover"]["finalized"]["apiCallDateTime"]

    # moto behind the endpoint holds the stack's own tables: the audit names the approver.
    audit_table = control(endpoint, "GET", "")["stack"]["AuditTable"]
    records = aws(endpoint, tmp_path, "dynamodb", "scan", "--table-name", audit_table)["Items"]
    approved = [
        r for r in records if r["action"]["S"] == "cutover-approved" and r["subject"]["S"] == server_id
    ]
    assert [r["actor"]["S"] for r in approved] == [APPROVER_SESSION]


def test_a_running_clock_moves_by_itself_and_boto3_in_another_process_sees_it(tmp_path: Path) -> None:
    with serving(tmp_path, "--speed", "120") as url:
        server_id = control(url, "POST", "agents", {"hostname": "web-01"})["sourceServerID"]
        started = datetime.fromisoformat(control(url, "GET", "clock")["now"])
        mgn = boto3.client(
            "mgn",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="AKIALOCALCLOUDEXAMPLE",
            aws_secret_access_key="any-secret",
        )
        deadline = time.monotonic() + 60
        state = "INITIATING"
        while state not in REPLICATING and time.monotonic() < deadline:
            time.sleep(0.5)
            (server,) = mgn.describe_source_servers(filters={"sourceServerIDs": [server_id]})["items"]
            state = server["dataReplicationInfo"]["dataReplicationState"]
        assert state in REPLICATING
        # Nobody stepped it: the agent's 60 s of INITIATING passed on the running clock.
        assert (datetime.fromisoformat(control(url, "GET", "clock")["now"]) - started).total_seconds() >= 60
