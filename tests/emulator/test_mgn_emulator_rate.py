"""MGN's request rate as the emulator models it: a limit per account on simulated seconds, with each
call of a function taking some of its invocation's time (localcloud.pacing). What a wave's peak rate
and throttled calls mean in the bench rests on these."""

from __future__ import annotations

from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from mgn_test_support import REGION, make_emulator, mgn_client, ready_servers

from localcloud import SimClock
from localcloud.mgn.rate import RequestRate
from localcloud.pacing import invocation_time, retry_waits_in_invocation_time, spent


def _describe(client: object, server_id: str) -> None:
    client.describe_source_servers(filters={"sourceServerIDs": [server_id]})  # type: ignore[attr-defined]


def test_a_function_s_eleventh_call_in_one_simulated_second_is_throttled(
    clock: SimClock, network: SimpleNamespace
) -> None:
    emu = make_emulator(clock, network, rate=RequestRate(per_second=10, call_seconds=0.05))
    with emu.installed():
        (server_id,) = ready_servers(emu, 1)
        client = mgn_client()
        with invocation_time():
            for _ in range(10):
                _describe(client, server_id)
            with pytest.raises(ClientError, match="ThrottlingException"):
                _describe(client, server_id)  # still within the first second (11 x 50 ms)
            assert spent() == pytest.approx(0.55)
        assert emu.rate.throttled == {"DescribeSourceServers": 1}
        assert emu.rate.peak() == 10


def test_botocore_s_retry_wait_spends_the_invocation_s_time_and_the_call_goes_through(
    clock: SimClock, network: SimpleNamespace
) -> None:
    emu = make_emulator(clock, network, rate=RequestRate(per_second=2, call_seconds=0.1))
    with emu.installed(), retry_waits_in_invocation_time():
        (server_id,) = ready_servers(emu, 1)
        retrying = boto3.client(
            "mgn", region_name=REGION, config=Config(retries={"mode": "standard", "max_attempts": 8})
        )
        with invocation_time():
            for _ in range(6):  # three times the rate: some are throttled, every one is answered
                _describe(retrying, server_id)
            assert spent() is not None and spent() > 2.0  # the waits moved the invocation on
        assert sum(emu.rate.throttled.values()) >= 1
        assert sum(emu.rate.admitted.values()) == 6
        assert emu.rate.peak() <= 2


def test_calls_outside_a_function_are_neither_limited_nor_counted(
    clock: SimClock, network: SimpleNamespace
) -> None:
    emu = make_emulator(clock, network, rate=RequestRate(per_second=1))
    with emu.installed():
        (server_id,) = ready_servers(emu, 1)
        client = mgn_client()
        for _ in range(5):  # a test, or the simulated person in the console
            _describe(client, server_id)
        assert emu.rate.throttled == {} and emu.rate.peak() == 0
