"""The link budget on the emulated link (``localcloud.bench.link``), a small wave in ``make test``
(``python -m localcloud.linkbench`` runs 200 servers and 40 TB): the throttles in force never add
up to more than the budget, the waves are ready in the order of their windows, a quiet reconcile
writes nothing, a person's edit is put back, and the ETAs hold."""

from __future__ import annotations

import pytest

from localcloud.bench.link import LinkWave, run_link_wave

pytestmark = [pytest.mark.integration]

SMALL = LinkWave(servers=24, total_tb=4.8, link_mbps=100, budget_mbps=70, largest_gb=600)


def test_a_wave_on_the_budget_is_ready_in_window_order_and_never_over_it() -> None:
    result = run_link_wave("budget", SMALL)  # raises if the throttles in force ever exceed the budget
    ready = [wave["ready_h"] for wave in result["waves"]]
    assert result["finished"]
    assert ready == sorted(ready)  # the nearest window first
    assert result["over_budget_minutes"] == 0
    assert result["peak_mbps"] <= SMALL.budget_mbps  # the template's floor: no server starts unthrottled
    assert result["budget_used_while_copying"] >= 0.8
    assert result["writes_in_quiet_reconciles"] == 0
    # A person's 500 Mbps on one server was put back at the reconcile that saw it.
    assert result["hand_edit_repaired_after_s"] is not None and result["hand_edit_repaired_after_s"] <= 300
    # Each wave's ETA, predicted from the first hour on (an hour or more ahead), within 10 %.
    assert all(wave["eta_error_max"] <= 0.10 for wave in result["waves"]), result["waves"]


def test_without_a_budget_the_wave_takes_the_whole_link() -> None:
    result = run_link_wave("default", SMALL)
    assert result["peak_mbps"] == pytest.approx(SMALL.link_mbps)
    assert result["over_budget_minutes"] > 0
