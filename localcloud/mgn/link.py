"""The private link every source server replicates over (Direct Connect or VPN, TCP 1500).

Without a link the emulator's initial sync takes a fixed time per server. With one
(``MgnEmulator.connect_link``) it copies bytes: the servers in INITIAL_SYNC share the link's
capacity, each capped by its replication configuration's ``bandwidthThrottling`` (Mbps, 0 = no
cap), and the share is a water-fill (TCP flows on one bottleneck converge to about that): a server
capped below the fair share keeps its cap, the rest split what is left equally. Rates change only
when a server joins or leaves the link or a throttle changes; between those the copy is linear, so
the next finish is scheduled exactly and each change banks the bytes copied so far.

A server in CONTINUOUS sends only its writes: ``change_rate_mbps`` each, taken from the capacity
first (a throttle below it caps it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from localcloud.clock import SimClock
from localcloud.mgn.server_state import ServerRecord

MBPS = 1_000_000 / 8  # bytes a second in one megabit a second


def throttle_mbps(server: ServerRecord) -> float:
    """The server's cap in Mbps; 0 (MGN's default) means none."""
    return float(server.replication.get("bandwidthThrottling") or 0)


@dataclass
class LinkSample:
    """The link at one moment: what flows, and what the throttles allow (for tests and benchmarks)."""

    time: datetime
    used_mbps: float
    syncing: int
    throttles_mbps: float  # sum of the syncing servers' throttles (0 = uncapped counts as 0)


@dataclass
class ReplicationLink:
    clock: SimClock
    capacity_mbps: float
    on_synced: Callable[[ServerRecord], None]
    change_rate_mbps: float = 0.0
    syncing: dict[str, ServerRecord] = field(default_factory=dict)
    continuous: dict[str, ServerRecord] = field(default_factory=dict)
    rates_bps: dict[str, float] = field(default_factory=dict)
    samples: list[LinkSample] = field(default_factory=list)
    _banked_at: datetime | None = None
    _generation: int = 0

    # ---- servers joining and leaving

    def join(self, server: ServerRecord) -> None:
        """The server starts (or resumes) its initial sync."""
        self._bank()
        self.continuous.pop(server.server_id, None)
        self.syncing[server.server_id] = server
        self._rebalance()

    def leave(self, server: ServerRecord) -> None:
        """The server stops copying (finished, stalled, reconnecting, disconnected)."""
        self._bank()
        self.syncing.pop(server.server_id, None)
        self.continuous.pop(server.server_id, None)
        self._rebalance()

    def steady(self, server: ServerRecord) -> None:
        """The server is in CONTINUOUS: it sends its writes."""
        self._bank()
        self.syncing.pop(server.server_id, None)
        self.continuous[server.server_id] = server
        self._rebalance()

    def throttle_changed(self) -> None:
        self._bank()
        self._rebalance()

    # ---- what a server has copied

    def copied_bytes(self, server: ServerRecord, now: datetime) -> float:
        rate = self.rates_bps.get(server.server_id, 0.0)
        since = (now - self._banked_at).total_seconds() if self._banked_at is not None else 0.0
        return min(server.total_bytes, server.synced_bytes + rate * max(0.0, since))

    def rate_bps(self, server: ServerRecord) -> float:
        return self.rates_bps.get(server.server_id, 0.0)

    @property
    def used_mbps(self) -> float:
        return sum(self.rates_bps.values()) / MBPS + self._steady_mbps()

    # ---- the fluid model

    def _steady_mbps(self) -> float:
        return sum(
            min(self.change_rate_mbps, throttle_mbps(s) or self.change_rate_mbps)
            for s in self.continuous.values()
        )

    def _bank(self) -> None:
        now = self.clock.now()
        if self._banked_at is not None:
            elapsed = (now - self._banked_at).total_seconds()
            for server_id, rate in self.rates_bps.items():
                server = self.syncing.get(server_id)
                if server is not None:
                    server.synced_bytes = min(server.total_bytes, server.synced_bytes + rate * elapsed)
        self._banked_at = now

    def _rebalance(self) -> None:
        self.rates_bps = water_fill(
            {sid: throttle_mbps(s) for sid, s in self.syncing.items()},
            max(0.0, self.capacity_mbps - self._steady_mbps()),
        )
        self.rates_bps = {sid: mbps * MBPS for sid, mbps in self.rates_bps.items()}
        self.samples.append(
            LinkSample(
                self.clock.now(),
                self.used_mbps,
                len(self.syncing),
                sum(throttle_mbps(s) for s in self.syncing.values()),
            )
        )
        self._generation += 1
        generation = self._generation
        finishing = [
            ((server.total_bytes - server.synced_bytes) / rate, sid)
            for sid, server in self.syncing.items()
            if (rate := self.rates_bps.get(sid, 0.0)) > 0
        ]
        if not finishing:
            return
        seconds, _ = min(finishing)
        self.clock.call_later(max(seconds, 0.001), lambda: self._finish_due(generation))

    def _finish_due(self, generation: int) -> None:
        if generation != self._generation:
            return  # re-planned since
        self._bank()
        done = [s for s in self.syncing.values() if s.total_bytes - s.synced_bytes < 1.0]
        for server in done:
            server.synced_bytes = float(server.total_bytes)
            self.syncing.pop(server.server_id, None)
        self._rebalance()
        for server in done:
            self.on_synced(server)


def water_fill(caps_mbps: dict[str, float], capacity_mbps: float) -> dict[str, float]:
    """Each flow's rate on one bottleneck: capped flows (cap > 0) below the fair share keep their
    cap, the others split what is left equally."""
    rates: dict[str, float] = {}
    left = capacity_mbps
    pending = sorted(caps_mbps.items(), key=lambda item: item[1] if item[1] > 0 else float("inf"))
    while pending:
        share = left / len(pending)
        server_id, cap = pending[0]
        if 0 < cap <= share:
            rates[server_id] = cap
            left -= cap
            pending.pop(0)
            continue
        for server_id, _ in pending:
            rates[server_id] = share
        break
    return rates
