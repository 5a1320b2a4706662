"""The local cloud up and served on a loopback port, its clock running or stepped on request."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import make_server

from localcloud.endpoint_app import LocalCloudEndpoint
from localcloud.gate import APPROVER_SESSION, cutover_cloud
from localcloud.mgn import Timings

# How often a running clock moves: each tick is ``speed`` x this many simulated seconds.
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class RunningEndpoint:
    url: str
    app: LocalCloudEndpoint


@contextmanager
def serving(
    *,
    host: str = "127.0.0.1",
    port: int,
    speed: float = 0.0,
    principal: str | None = None,
    timings: Timings | None = None,
) -> Iterator[RunningEndpoint]:
    """The local cloud with its stack deployed, served at ``http://host:port`` (port 0: a free one).

    ``speed`` is simulated seconds per real second; 0 moves the clock only on request. AWS calls
    come from ``principal``, by default a session of the stack's approver role."""
    with cutover_cloud(timings=timings, schedules=True) as gate:
        # What CloudFormation's stack event starts: the reconciler makes the template private.
        gate.cloud.deployed()
        gate.pass_time(60)
        app = LocalCloudEndpoint(gate, principal or APPROVER_SESSION)
        # MotoRequestHandler keeps the header names moto needs (S3 metadata with underscores).
        server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
        stop = threading.Event()
        threads = [threading.Thread(target=server.serve_forever, name="localcloud-endpoint", daemon=True)]
        if speed > 0:
            threads.append(
                threading.Thread(
                    target=_run_clock, args=(app, speed, stop), name="localcloud-clock", daemon=True
                )
            )
        for thread in threads:
            thread.start()
        try:
            yield RunningEndpoint(f"http://{host}:{server.server_port}", app)
        finally:
            stop.set()
            server.shutdown()
            for thread in threads:
                thread.join()


def _run_clock(app: LocalCloudEndpoint, speed: float, stop: threading.Event) -> None:
    """Every tick, the clock moves ``speed`` ticks: slower than that when the work takes longer."""
    while not stop.wait(TICK_SECONDS):
        try:
            app.advance(speed * TICK_SECONDS)
        except Exception:  # one bad step (an execution that did not settle) must not stop time
            traceback.print_exc()
