"""The pipeline end to end on the local cloud: ``make demo`` (or ``python -m localcloud.demo``).

A small wave of five servers goes through everything the pipeline does today, on simulated time:
the stack deploys and makes the replication template private; agents install; a person flips a
server and the template to public routing and the pipeline puts them back; an MGN event is lost
and the reconciler catches up; servers are tested in one batch, one keeps failing and is handed to a
person; the cutover gates ask for approval, a person approves three and rejects one in the
Systems Manager console (its API), two are cut over and finalized and one cutover launch fails and
is rolled back. A live view prints what changes; a per-server timeline and the notifications a
person received close the run. The functions' own
logs go to ``reports/demo-function-logs.jsonl``.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import TextIO

from localcloud.cloud import LocalCloud
from localcloud.function_logs import function_logs_to
from localcloud.gate import CutoverCloud, cutover_cloud
from localcloud.mgn import Timings

WAVE = ("erp-db-01", "erp-app-01", "web-01", "web-02", "legacy-ftp-01")
FAILS_ITS_TEST = "legacy-ftp-01"
FLIPPED_BY_A_PERSON = "web-02"
REJECTED_BY_THE_CHANGE_BOARD = "web-01"
FAILS_ITS_CUTOVER = "web-02"
LOSES_ITS_READY_EVENT = "erp-db-01"
LOG_FILE = Path("reports/demo-function-logs.jsonl")


class LiveView:
    """Prints a line whenever a server's lifecycle, replication or pipeline step changes."""

    def __init__(self, cloud: LocalCloud, out: TextIO, names: dict[str, str], gate: CutoverCloud) -> None:
        self.cloud = cloud
        self.gate = gate
        self.out = out
        self.names = names
        self.last: dict[str, tuple[str, str, str]] = {}
        self.timeline: dict[str, list[tuple[datetime, str]]] = defaultdict(list)

    def say(self, text: str) -> None:
        print(f"[{self.cloud.clock.now():%H:%M:%S}] {text}", file=self.out, flush=True)

    def note(self, server_id: str, text: str) -> None:
        self.timeline[server_id].append((self.cloud.clock.now(), text))

    def refresh(self) -> None:
        registry = self.cloud.registry()
        for server_id, name in self.names.items():
            record = self.cloud.mgn.server(server_id)
            step = registry.get(server_id, {}).get("step", "not seen yet")
            via = registry.get(server_id, {}).get("lastTrigger", "")
            now = (record.lifecycle, record.repl_state, step)
            if self.last.get(server_id) != now:
                self.say(f"{name:<14} {now[0]:<18} {now[1]:<13} step {step:<29} {via}")
                self.note(server_id, f"{now[0]} / {now[1]}: pipeline step {step} ({via or 'no trigger yet'})")
                self.last[server_id] = now
        for notice in self.cloud.read_notices():
            self.say(f"NOTIFICATION  {notice['subject']}")

    def run(self, seconds: float, every: float = 30.0) -> None:
        """Advance simulated time, looking at the world every ``every`` seconds."""
        self.gate.pass_time(seconds, every, after_each=self.refresh)


def run_demo(out: TextIO) -> int:
    timings = Timings(initiating_seconds=120, initial_sync_seconds=1500)
    with cutover_cloud(timings=timings, schedules=True) as gate:
        cloud = gate.cloud
        view = LiveView(cloud, out, {}, gate)
        view.say(
            "Local cloud up: closed VPC (no IGW, no NAT), VPC endpoints, MGN, the stack's tables, "
            "queues, topic, functions and EventBridge rules"
        )
        view.say(
            "Stack deployed: its status event runs the reconciler, which makes the replication template private"
        )
        cloud.deployed()
        view.run(60)
        template = cloud.mgn_as_operator().describe_replication_configuration_templates()["items"][0]
        view.say(
            f"Replication template: dataPlaneRouting={template['dataPlaneRouting']}, "
            f"createPublicIP={template['createPublicIP']}, staging subnet {template['stagingAreaSubnetId']}"
        )

        view.say(
            f"Agents installed on a wave of {len(WAVE)} servers (--endpoint/--s3-endpoint = VPC endpoints)"
        )
        for hostname in WAVE:
            server_id = cloud.mgn.register_agent(hostname, tags={"wave": "wave-1"})
            view.names[server_id] = hostname
            view.note(server_id, "agent installed")
        by_name = {name: sid for sid, name in view.names.items()}
        view.run(300)

        operator = cloud.mgn_as_operator()
        view.say(f"A person switches {FLIPPED_BY_A_PERSON} to public routing in the console")
        operator.update_replication_configuration(
            sourceServerID=by_name[FLIPPED_BY_A_PERSON], dataPlaneRouting="PUBLIC_IP", createPublicIP=True
        )
        view.note(
            by_name[FLIPPED_BY_A_PERSON], "a person set dataPlaneRouting=PUBLIC_IP, createPublicIP=true"
        )
        view.run(30, every=5)
        config = operator.get_replication_configuration(sourceServerID=by_name[FLIPPED_BY_A_PERSON])
        view.say(
            f"{FLIPPED_BY_A_PERSON} is back on dataPlaneRouting={config['dataPlaneRouting']}, "
            f"createPublicIP={config['createPublicIP']} (CloudTrail event -> MgnEventFunction)"
        )

        view.say("A person switches the replication template to public routing")
        operator.update_replication_configuration_template(
            replicationConfigurationTemplateID=template["replicationConfigurationTemplateID"],
            dataPlaneRouting="PUBLIC_IP",
        )
        view.run(30, every=5)

        view.say(
            f"EventBridge will lose the READY_FOR_TEST event of {LOSES_ITS_READY_EVENT} (best-effort delivery)"
        )
        cloud.bus.drop_next(1, detail_type="MGN Source Server Lifecycle State Change")
        view.say(f"{FAILS_ITS_TEST} will fail every test launch (its boot volume cannot be converted)")
        keep_failing(cloud, by_name[FAILS_ITS_TEST])
        view.say(
            "From READY_FOR_TEST on the pipeline tests each server by itself: health gate, launch "
            "queue, one start_test job per batch, verification, READY_FOR_CUTOVER"
        )
        view.run(5400)

        approve_and_cut_over(gate, view, by_name)

        print_summary(cloud, view, out)
        failures = cloud.stack.queue_messages("FunctionFailureDLQ")
        return 1 if failures else 0


def approve_and_cut_over(gate: CutoverCloud, view: LiveView, by_name: dict[str, str]) -> None:
    waiting = [name for name, sid in by_name.items() if gate.gate(sid).get("status") == "WAITING_APPROVAL"]
    view.say(f"Cutover gates wait for a person's approval in Systems Manager: {', '.join(waiting)}")
    view.say(f"{FAILS_ITS_CUTOVER}'s cutover instance will fail to launch: the gate must roll it back")
    gate.mgn.fail_next_launch(
        by_name[FAILS_ITS_CUTOVER], "Failed to launch cutover instance: insufficient capacity"
    )
    for name in waiting:
        sid = by_name[name]
        decision = "Reject" if name == REJECTED_BY_THE_CHANGE_BOARD else "Approve"
        view.note(sid, f"a person chose {decision} in the Systems Manager console")
        if decision == "Reject":
            view.say(f"The approver rejects {name} in the console: the change board postponed it")
            gate.decide(sid, "Reject", comment="CAB-2291 postponed to the next window")
        else:
            view.say(f"The approver approves {name} in the console")
            gate.decide(sid, "Approve", comment="CAB-2290 approved")
    view.run(1800)
    for name, sid in by_name.items():
        status = gate.gate(sid).get("status", "no gate")
        view.say(f"{name:<14} cutover gate {status}")


def keep_failing(cloud: LocalCloud, server_id: str) -> None:
    """Every launch of the server fails, as a broken image would: the pipeline retries, then asks a person."""
    reason = "Failed to launch test instance: the boot volume cannot be converted"
    cloud.mgn.fail_next_launch(server_id, reason)

    def rearm(event: dict[str, object]) -> None:
        detail = event.get("detail")
        failed = isinstance(detail, dict) and detail.get("state") == "TEST_LAUNCH_FAILED"
        if failed and server_id in str(event.get("resources")):
            cloud.mgn.fail_next_launch(server_id, reason)

    cloud.mgn.subscribe(rearm)


def print_summary(cloud: LocalCloud, view: LiveView, out: TextIO) -> None:
    print("\n=== Per-server timeline (simulated time) ===", file=out)
    audit_by_server: dict[str, list[dict[str, str]]] = defaultdict(list)
    for record in cloud.audit():
        audit_by_server[record["subject"]].append(record)
    for server_id, name in view.names.items():
        print(f"\n{name} ({server_id})", file=out)
        entries = list(view.timeline[server_id])
        for record in audit_by_server.get(server_id, []):
            when = datetime.fromisoformat(record["at"])
            shows_why = record["action"].endswith(
                ("waiting-for-readiness", "rolled-back", "failed", "rejected")
            )
            why = f": {record['reason']}" if shows_why else ""
            text = (
                f"AUDIT {record['action']} (trigger {record['trigger']}, changed by {record['actor']}){why}"
            )
            entries.append((when, text))
        for event in cloud.mgn.events:
            if (
                event["detail-type"] == "MGN Source Server Launch Result"
                and server_id in event["resources"][0]
            ):
                entries.append(
                    (
                        datetime.fromisoformat(event["time"].replace("Z", "+00:00")),
                        f"MGN event: launch result {event['detail']['state']}",
                    )
                )
        for when, text in sorted(entries, key=lambda e: e[0]):
            print(f"  {when:%H:%M:%S}  {text}", file=out)

    templates = [r for r in cloud.audit() if r["subject"].startswith("template/")]
    print("\n=== Replication template ===", file=out)
    for record in templates:
        print(
            f"  {record['at'][11:19]}  {record['action']} (trigger {record['trigger']}, by {record['actor']})",
            file=out,
        )

    print("\n=== Notifications a person received ===", file=out)
    for notice in cloud.notices:
        print(f"  {notice['time']:%H:%M:%S}  {notice['subject']}", file=out)

    print("\n=== Pipeline work ===", file=out)
    counts = cloud.stack.functions.counts
    print("  Lambda invocations: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), file=out)
    print(
        f"  MGN calls by the pipeline: {cloud.calls.total('mgn')}, EC2: {cloud.calls.total('ec2')}, "
        f"DynamoDB: {cloud.calls.total('dynamodb')}, SNS: {cloud.calls.total('sns')}",
        file=out,
    )
    dead = cloud.stack.queue_messages("FunctionFailureDLQ") + cloud.stack.queue_messages("EventDeliveryDLQ")
    print(f"  Dead letters: {len(dead)}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--logs", type=Path, default=LOG_FILE, help="where the functions' JSON logs go")
    args = parser.parse_args(argv)
    with function_logs_to(args.logs) as terminal:
        code = run_demo(terminal)
    print(f"\nFunction logs: {args.logs}", file=sys.stdout)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
