"""Lambda containers in the local cloud: reserved concurrency bounds them, an invocation over it
waits for the first to free up, and each container keeps its own MGN pace (the pipeline's
``CallPace``), so the account sees at most containers x pace calls a second."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from mgn_test_support import make_emulator, ready_servers

from localcloud import SimClock
from localcloud.functions import LocalFunctions
from localcloud.mgn import MgnEmulator
from localcloud.mgn.rate import RequestRate
from localcloud.template import Template

pytestmark = pytest.mark.integration

# A function as the pipeline's are written: clients once per container, the pace set at invocation.
HANDLER = """
import os

from mgn_pipeline.shared.aws.clients import AwsClients

clients = AwsClients()
mgn = clients.mgn


def lambda_handler(event, context):
    clients.pace_mgn(float(os.environ["MGN_CALLS_PER_SECOND"]))
    for _ in range(event["calls"]):
        mgn.describe_source_servers(filters={"sourceServerIDs": [event["serverId"]]})
    return {"left_ms": context.get_remaining_time_in_millis()}
"""


def _template(root: Path, reserved: int, per_second: float) -> Template:
    code = root / "reader"
    code.mkdir()
    (code / "app.py").write_text(textwrap.dedent(HANDLER))
    data = {
        "Resources": {
            "ReaderFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "reader/",
                    "Handler": "app.lambda_handler",
                    "Timeout": 30,
                    "ReservedConcurrentExecutions": reserved,
                    "Environment": {"Variables": {"MGN_CALLS_PER_SECOND": str(per_second)}},
                },
            }
        }
    }
    return Template(data, root / "template.yaml")


@pytest.fixture
def limited_mgn(clock: SimClock, network: SimpleNamespace) -> Iterator[MgnEmulator]:
    emulator = make_emulator(clock, network, rate=RequestRate(per_second=10, call_seconds=0.1))
    with emulator.installed():
        yield emulator


def test_a_burst_runs_in_the_reserved_containers_at_their_pace_and_nothing_is_throttled(
    limited_mgn: MgnEmulator, clock: SimClock, tmp_path: Path
) -> None:
    (server_id,) = ready_servers(limited_mgn, 1)
    functions = LocalFunctions(_template(tmp_path, reserved=2, per_second=2), {}, clock)

    # Twelve invocations at one instant, three MGN reads each: 36 calls, unpaced about 10 a second.
    for _ in range(12):
        functions.invoke("ReaderFunction", {"serverId": server_id, "calls": 3})

    assert functions.containers("ReaderFunction") == 2  # two cold starts, then warm containers
    assert sum(limited_mgn.rate.throttled.values()) == 0
    assert sum(limited_mgn.rate.admitted.values()) == 36
    assert limited_mgn.rate.peak() <= 2 * 2 + 1  # two containers at two a second (a second's edges)
    timing = functions.timings["ReaderFunction"]
    # A container's first invocation takes 1.1 s (calls at 0, 0.5 and 1.0 s, 0.1 s each); a warm
    # one waits out the pace of its previous call first (1.5 s). The sixth in a container waited
    # for the five before it: 1.1 + 4 x 1.5 s.
    assert timing.max_simulated_s == pytest.approx(1.5, abs=0.01)
    assert timing.max_wait_s == pytest.approx(1.1 + 4 * 1.5, abs=0.01)


def test_a_container_frees_up_as_simulated_time_passes(
    limited_mgn: MgnEmulator, clock: SimClock, tmp_path: Path
) -> None:
    (server_id,) = ready_servers(limited_mgn, 1)
    functions = LocalFunctions(_template(tmp_path, reserved=1, per_second=1), {}, clock)
    functions.invoke("ReaderFunction", {"serverId": server_id, "calls": 3})
    clock.advance(10)
    functions.invoke("ReaderFunction", {"serverId": server_id, "calls": 1})
    assert functions.timings["ReaderFunction"].max_wait_s == 0.0
    assert functions.containers("ReaderFunction") == 1


def test_remaining_time_counts_the_invocation_s_simulated_seconds(
    limited_mgn: MgnEmulator, clock: SimClock, tmp_path: Path
) -> None:
    """A handler that stops before its timeout (the reconciler) sees the time its paced calls take."""
    (server_id,) = ready_servers(limited_mgn, 1)
    functions = LocalFunctions(_template(tmp_path, reserved=1, per_second=0.5), {}, clock)
    answer = functions.invoke("ReaderFunction", {"serverId": server_id, "calls": 5})
    # Five calls two seconds apart, each 0.1 s: 8.1 s of the 30 s Timeout.
    assert answer["left_ms"] == pytest.approx(21_900, abs=50)


def test_module_globals_set_by_a_test_reach_every_container(
    limited_mgn: MgnEmulator, clock: SimClock, tmp_path: Path
) -> None:
    import sys

    (server_id,) = ready_servers(limited_mgn, 1)
    functions = LocalFunctions(_template(tmp_path, reserved=3, per_second=1), {}, clock)
    functions.set_module_global("ReaderFunction", "marker", "first")
    for _ in range(3):
        functions.invoke("ReaderFunction", {"serverId": server_id, "calls": 2})
    modules = [name for name in sys.modules if name.startswith(functions._module_prefix)]
    assert len(modules) == 3
    assert {getattr(sys.modules[name], "marker", None) for name in modules} == {"first"}
