"""An emulated AWS Application Migration Service (moto has none), answered under boto3.

Usage in a test::

    with mock_aws():
        clock = SimClock()
        emu = MgnEmulator(clock, staging_subnet_id=staging, launch_subnet_id=private)
        with emu.installed():                 # every boto3 client made from now on reaches it
            sid = emu.register_agent("web01", {"wave": "1"})
            wave = emu.create_wave("Wave 1")  # MGN's own waves and applications
            emu.create_application("erp", wave, [sid])
            clock.advance(3600)               # replication runs on simulated time
            boto3.client("mgn").start_test(sourceServerIDs=[sid])

Quotas (``Quotas``: 4,000 non-archived servers, 150 replicating) are MGN's defaults; a run that
needs more replicating servers passes ``quotas=Quotas(max_replicating_servers=...)`` or calls
``emu.adjust_quotas(...)``, as a real account would ask for an increase.

Create clients (and import handler modules that create clients at import time) after
``installed()`` is entered: a client made earlier never sees the hook.
"""

from localcloud.mgn.applications import ApplicationRecord, WaveRecord
from localcloud.mgn.emulator import MgnEmulator
from localcloud.mgn.errors import EmulatorBug, MgnError, QuotaExceededError
from localcloud.mgn.jobs import Timings
from localcloud.mgn.quotas import Quotas
from localcloud.mgn.server_state import ServerRecord

__all__ = [
    "ApplicationRecord",
    "EmulatorBug",
    "MgnEmulator",
    "MgnError",
    "QuotaExceededError",
    "Quotas",
    "ServerRecord",
    "Timings",
    "WaveRecord",
]
