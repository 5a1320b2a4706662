"""An emulated AWS Application Migration Service (moto has none), answered under boto3.

Usage in a test::

    with mock_aws():
        clock = SimClock()
        emu = MgnEmulator(clock, staging_subnet_id=staging, launch_subnet_id=private)
        with emu.installed():                 # every boto3 client made from now on reaches it
            sid = emu.register_agent("web01", {"wave": "1"})
            clock.advance(3600)               # replication runs on simulated time
            boto3.client("mgn").start_test(sourceServerIDs=[sid])

Create clients (and import handler modules that create clients at import time) after
``installed()`` is entered: a client made earlier never sees the hook.
"""

from localcloud.mgn.emulator import MgnEmulator
from localcloud.mgn.errors import EmulatorBug
from localcloud.mgn.jobs import Timings
from localcloud.mgn.server_state import ServerRecord

__all__ = ["EmulatorBug", "MgnEmulator", "ServerRecord", "Timings"]
