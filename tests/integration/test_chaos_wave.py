"""A small chaos wave in ``make test`` (``make bench-chaos`` runs 200 servers): every fault at once,
and still nothing lost, nothing done twice, nothing cut over that no allowed person approved."""

from __future__ import annotations

import io

import pytest

from localcloud.bench.chaos import Chaos
from localcloud.bench.wave import run_wave
from localcloud.chaos import print_figures

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:No application metrics")]


def test_a_small_wave_survives_every_fault_at_once() -> None:
    servers = 12
    result = run_wave(servers, chaos=Chaos(seed=11))
    figures = result["chaos"]
    # What the faults did: each kind happened (the figures would mean nothing otherwise).
    applied = figures["applied"]
    deliveries = applied["event_deliveries"]
    assert deliveries["delivered 3 times"] > 0 and deliveries["dropped"] > 0 and deliveries["reordered"] > 0
    assert applied["mgn_throttled"] > 0
    assert applied["invocations_died"].get("LaunchBatcherFunction", 0) >= 1
    assert applied["died_after"].get("mgn.StartTest", 0) >= 1  # the batcher that died after StartTest
    assert applied["approver_signals_refused"] >= 1  # the principal who may not approve
    # Two invocations about one server at once, the second whole inside the first's read and write.
    assert applied["invocations_raced"].get("MgnEventFunction", 0) >= 1
    assert applied["invocations_raced"].get("CutoverTasksFunction", 0) >= 1
    # What survived them.
    assert figures["lost"] == []
    assert figures["cut_over_twice"] == []
    assert figures["start_cutover_without_allowed_approval"] == []
    assert figures["finalized"] + len(figures["stated"]) == servers
    # One test launch each: a duplicated, reordered or replayed event never launches a second one.
    assert figures["test_launches_per_server"] == {"1": servers}
    assert result["ok"]
    out = io.StringIO()
    print_figures(result, None, out)
    assert "lost (neither)                   0" in out.getvalue()
