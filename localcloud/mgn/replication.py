"""Data replication of source servers, driven by the simulated clock.

INITIATING -> INITIAL_SYNC -> CONTINUOUS, then lifecycle NOT_READY -> READY_FOR_TEST.
The network is closed, so a configuration that routes replication over public IPs can
never connect: the agent's connection step fails and replication STALLS until the
configuration is corrected, after which the agent reconnects and picks up where it was.

The quota of actively replicating servers (150 by default, adjustable) is modelled here. The MGN
documentation lists the quota but does not say what happens to the next agent once it is full
(searched: the General Reference quota table, the user guide's FAQ and replication errors pages).
The emulator's choice: the new server is added (lifecycle NOT_READY) but does not start
replicating; it stays in INITIATING at the initiation step WAIT, without a dataReplicationError
(no DataReplicationErrorString describes a quota, and an error would make callers treat a healthy
queued server as broken), until a slot frees. Servers take free slots in the order they were added.
A slot is freed when a server stops replicating (DisconnectFromService, FinalizeCutover) or is
archived.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime
from ipaddress import IPv4Address, IPv4Network

from localcloud.clock import SimClock
from localcloud.mgn.events import EventEmitter
from localcloud.mgn.link import ReplicationLink
from localcloud.mgn.quotas import Quotas
from localcloud.mgn.server_state import NETWORK_SETTINGS, ServerRecord, uses_public_network


class ReplicationSimulator:
    """Moves each server's replication forward with clock timers."""

    def __init__(self, clock: SimClock, emitter: EventEmitter, quotas: Callable[[], Quotas]) -> None:
        self._clock = clock
        self._emitter = emitter
        self._quotas = quotas  # read on each use: the emulator may adjust them
        self._slot_holders: set[str] = set()
        self._waiting: deque[ServerRecord] = deque()
        # Set: initial syncs copy bytes over them, each server over the link of its source network.
        self._links: list[tuple[IPv4Network | None, ReplicationLink]] = []

    def connect_link(
        self, capacity_mbps: float, change_rate_mbps: float = 0.0, source_cidr: str | None = None
    ) -> ReplicationLink:
        """Replicate over a link of ``capacity_mbps`` from now on (servers not yet syncing): the
        servers whose source address is in ``source_cidr``, or every server no other link takes."""
        link = ReplicationLink(self._clock, capacity_mbps, self._finish_initial_sync, change_rate_mbps)
        self._links.append((IPv4Network(source_cidr) if source_cidr else None, link))
        return link

    def _link_for(self, server: ServerRecord) -> ReplicationLink | None:
        address = IPv4Address(server.ip_address)
        by_network = [link for network, link in self._links if network is not None and address in network]
        default = [link for network, link in self._links if network is None]
        chosen = by_network or default
        return chosen[0] if chosen else None

    def _now(self) -> datetime:
        return self._clock.now()

    def _later(self, server: ServerRecord, seconds: float, step: Callable[[ServerRecord], None]) -> None:
        # A timer only acts if nothing re-planned the server since (generation unchanged).
        generation = server.generation

        def fire() -> None:
            if server.generation == generation:
                step(server)

        self._clock.call_later(seconds, fire)

    def _replan(self, server: ServerRecord) -> None:
        server.generation += 1

    # ---- phases --------------------------------------------------------------------------

    def start(self, server: ServerRecord) -> None:
        """Agent installed: replication starts now, or when a replication slot frees."""
        server.repl_state = "INITIATING"
        server.initiation_started_at = self._now()
        server.awaiting_replication_slot = True
        self._waiting.append(server)
        self.admit_waiting()

    @property
    def slots_in_use(self) -> int:
        return len(self._slot_holders)

    def admit_waiting(self) -> None:
        """Start replication of waiting servers, oldest first, while slots are free."""
        limit = self._quotas().max_replicating_servers
        while self._waiting and len(self._slot_holders) < limit:
            server = self._waiting.popleft()
            server.awaiting_replication_slot = False
            self._slot_holders.add(server.server_id)
            self._enter_initiating(server)

    def release_slot(self, server: ServerRecord) -> None:
        """The server no longer counts as replicating (disconnected, finalized or archived)."""
        if server.awaiting_replication_slot:
            self._waiting.remove(server)
            server.awaiting_replication_slot = False
        if server.server_id in self._slot_holders:
            self._slot_holders.discard(server.server_id)
            self.admit_waiting()

    def _enter_initiating(self, server: ServerRecord) -> None:
        self._freeze_sync(server)
        self._replan(server)
        if server.initial_sync_complete and server.interrupted_since is None:
            server.interrupted_since = self._now()
        server.repl_state = "INITIATING"
        server.initiation_started_at = self._now()
        server.initiation_failed_step = None
        self._later(server, server.initiating_seconds, self._connect)

    def _connect(self, server: ServerRecord) -> None:
        """End of INITIATING: the agent tries to reach its replication server."""
        if uses_public_network(server.replication):
            self._stall(server)
            return
        server.first_byte_at = server.first_byte_at or self._now()
        if server.initial_sync_complete:
            self._enter_continuous(server)
        else:
            server.repl_state = "INITIAL_SYNC"
            server.sync_segment_start = self._now()
            link = self._link_for(server)
            if link is not None:
                server.link = link
                link.join(server)
                return
            remaining = max(0.0, server.initial_sync_seconds - server.sync_progress_seconds)
            self._later(server, remaining, self._finish_initial_sync)

    def _finish_initial_sync(self, server: ServerRecord) -> None:
        self._freeze_sync(server)
        server.initial_sync_complete = True
        self._enter_continuous(server)
        if server.lifecycle == "NOT_READY":
            server.lifecycle = "READY_FOR_TEST"
            # EventBridge documents this event only for the first time a server is ready.
            if not server.ready_for_test_announced:
                server.ready_for_test_announced = True
                self._emitter.lifecycle_change(self._now(), server.arn, "READY_FOR_TEST")

    def _enter_continuous(self, server: ServerRecord) -> None:
        server.repl_state = "CONTINUOUS"
        server.interrupted_since = None
        if server.link is not None:
            server.link.steady(server)

    def _stall(self, server: ServerRecord) -> None:
        self._freeze_sync(server)
        self._replan(server)
        if server.initial_sync_complete and server.interrupted_since is None:
            server.interrupted_since = self._now()
        server.repl_state = "STALLED"
        server.stalled_since = self._now()
        server.initiation_failed_step = "CONNECT_AGENT_TO_REPLICATION_SERVER"
        server.repl_error = {
            "error": "FAILED_TO_CONNECT_AGENT_TO_REPLICATION_SERVER",
            "rawError": "Agent could not reach the replication server's public IP on TCP 1500 "
            "(no route to the internet from this network)",
        }
        self._emitter.stalled_change(self._now(), server.arn, stalled=True)

    def _freeze_sync(self, server: ServerRecord) -> None:
        """Bank initial-sync progress made so far (before leaving INITIAL_SYNC)."""
        if server.link is not None:
            server.link.leave(server)  # banks its bytes; it stops sending
        if server.repl_state == "INITIAL_SYNC" and server.sync_segment_start is not None:
            server.sync_progress_seconds += (self._now() - server.sync_segment_start).total_seconds()
        server.sync_segment_start = None

    # ---- reactions to API calls ------------------------------------------------------------

    def configuration_changed(self, server: ServerRecord, before: dict[str, object]) -> None:
        """Replication settings were updated; react like MGN would."""
        if not server.replicating or server.awaiting_replication_slot:
            return  # a waiting server uses its settings once it gets a slot
        if server.link is not None and before.get("bandwidthThrottling") != server.replication.get(
            "bandwidthThrottling"
        ):
            server.link.throttle_changed()
        if server.repl_state == "STALLED":
            if not uses_public_network(server.replication):
                # Corrected: the stall is over, the agent reconnects.
                server.repl_error = None
                server.stalled_since = None
                self._emitter.stalled_change(self._now(), server.arn, stalled=False)
                self._enter_initiating(server)
            return
        if any(before.get(k) != server.replication.get(k) for k in NETWORK_SETTINGS):
            # MGN replaces the replication server; the agent has to connect again.
            self._enter_initiating(server)

    def disconnect(self, server: ServerRecord) -> None:
        """Replication stops for good (DisconnectFromService, FinalizeCutover)."""
        self._freeze_sync(server)
        self._replan(server)
        if server.repl_state == "STALLED":
            server.stalled_since = None
        server.repl_state = "DISCONNECTED"
        server.repl_error = None
        server.initiation_failed_step = None
        server.interrupted_since = None
        server.disconnected_at = self._now()
        self.release_slot(server)
