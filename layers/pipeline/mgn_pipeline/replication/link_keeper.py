"""Keeping one link budget over a wave: the reconciler's step after its pass over every server.

It plans the throttles (``bandwidth.plan_throttles``) from what the pass read (replication state,
bytes left per disk, the window and exception tags), writes only what ``throttle_writes`` says
must move (lowerings first, so the throttles in force stay within the budget), and records each
write in the audit trail. The throttles it wrote are kept in the link record, so a quiet reconcile
reads no replication configuration and writes nothing.

Between passes a person may edit a throttle: the guard (``SettingsEnforcer``), which reads the
server's replication configuration when CloudTrail reports the call, asks ``desired_throttle`` and
puts the planned one back, or, for a server tagged as an exception, notes the person's throttle so
the plan counts it.

Every hour (and at each re-plan) it projects when each server and wave will be ready to test
(``bandwidth.project_ready`` at the share of its throttle the link actually gave), keeps the ETAs
in the link record for ``mgn-migrate status`` and the dashboard, and tells a person once when a
wave's ETA passes its window, with the throughput the wave would need.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from mgn_pipeline.replication.bandwidth import (
    BITS_PER_MEGABIT,
    LinkBudget,
    LinkServer,
    plan_throttles,
    project_ready,
    rebalance_due,
    throttle_writes,
)
from mgn_pipeline.replication.link_store import DEFAULT_LINK, LinkState, LinkStore, WaveEta
from mgn_pipeline.replication.links import LinkRouter
from mgn_pipeline.shared.aws.audit import PIPELINE_ACTOR, AuditRecord, AuditTrail
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.aws.notifier import Notifier
from mgn_pipeline.shared.errors import MgnConflictError, MgnRequestRejectedError
from mgn_pipeline.shared.observability import logger, metrics
from mgn_pipeline.shared.scope import Scope
from mgn_pipeline.shared.server import LifeCycleState, ReplicationState, SourceServer
from mgn_pipeline.shared.trigger import Trigger

DEFAULT_WINDOW_TAG_KEY = "mgn-pipeline:cutover-window"
DEFAULT_EXCEPTION_TAG_KEY = "mgn-pipeline:bandwidth-exception"
# Bytes to send beyond the writes of the moment (INITIATING: about to start its initial sync).
COPYING = frozenset(
    {
        ReplicationState.INITIATING,
        ReplicationState.INITIAL_SYNC,
        ReplicationState.RESCAN,
        ReplicationState.BACKLOG,
    }
)
# On the link: every server whose agent replicates (MGN ignores the settings of the others).
_OFF_LINK = frozenset({LifeCycleState.CUTOVER, LifeCycleState.DISCONNECTED, LifeCycleState.STOPPED})
ETA_EVERY = timedelta(hours=1)
_TRUE = frozenset({"true", "yes", "1"})


@dataclass(frozen=True, slots=True)
class LinkTags:
    window_key: str = DEFAULT_WINDOW_TAG_KEY
    exception_key: str = DEFAULT_EXCEPTION_TAG_KEY


@dataclass(frozen=True, slots=True)
class LinkPass:
    outcomes: list[str]
    writes: list[tuple[str, int]]  # (server, Mbps) as written, in order
    rebalanced: bool
    state: LinkState  # the link record as saved


class LinkKeeper:
    def __init__(
        self,
        *,
        gateway: MgnGateway,
        store: LinkStore,
        budget: LinkBudget,
        tags: LinkTags,
        scope: Scope,
        audit: AuditTrail,
        notifier: Callable[[], Notifier],
        wave_of: Callable[[SourceServer], str],
        now: Callable[[], datetime],
    ) -> None:
        self._mgn = gateway
        self._store = store
        self.budget = budget
        self._tags = tags
        self._scope = scope
        self._audit = audit
        self._notifier = notifier
        self._wave_of = wave_of
        self._now = now
        self._state: LinkState | None = None  # read once per invocation

    @property
    def link(self) -> str:
        return self._store.link

    # ------------------------------------------------------------------ the guard's question
    def desired_throttle(self, server: SourceServer, current_mbps: int) -> int | None:
        """The throttle ``server`` should have, for the guard that just read ``current_mbps`` from
        MGN; None when the plan has none for it (not planned yet, or an exception: then the
        person's throttle is noted and counted against the budget)."""
        state = self._loaded()
        if self.is_exception(server):
            if state.throttles.get(server.server_id) != current_mbps:
                self._store.note_throttle(server.server_id, current_mbps)
                state.throttles[server.server_id] = current_mbps
            return None
        return state.throttles.get(server.server_id)

    def is_exception(self, server: SourceServer) -> bool:
        return server.tags.get(self._tags.exception_key, "").strip().lower() in _TRUE

    # ------------------------------------------------------------------ after the pass
    def keep(self, trigger: Trigger, servers: Sequence[SourceServer]) -> list[str]:
        """The reconciler's check after its pass: ``run_pass``, in words."""
        return self.run_pass(trigger, servers).outcomes

    def run_pass(self, trigger: Trigger, servers: Sequence[SourceServer]) -> LinkPass:
        """Plan, write what moved, project the ETAs. ``servers``: every server the pass read."""
        now = self._now()
        state = self._store.load()
        on_link = [
            s
            for s in servers
            if not s.is_archived and s.lifecycle not in _OFF_LINK and self._scope.includes(s.tags)
        ]
        link_servers = [self._link_server(server, state) for server in on_link]
        _measure(state, on_link, now)  # at the throttles in force since the last look
        due = rebalance_due(state.copying, link_servers, _time(state.last_rebalance), now)
        plan = plan_throttles(link_servers, self.budget, now)
        wanted = throttle_writes(link_servers, plan, self.budget, rebalance=due)
        by_id = {s.server_id: s for s in on_link}
        before = dict(state.throttles)
        written = self._write(wanted, state, by_id, trigger, due)
        on_ids = set(by_id)
        state.throttles = {sid: mbps for sid, mbps in state.throttles.items() if sid in on_ids}
        state.budget_mbps = self.budget.budget_mbps
        if due:
            state.last_rebalance = now.isoformat()
            state.copying = {s.server_id: s.copying for s in link_servers}
        outcomes = [
            f"link budget: {len(written)} of {len(wanted)} throttle writes" + (" (re-plan)" if due else "")
        ]
        eta_at = _time(state.eta_at)
        if due or eta_at is None or now - eta_at >= ETA_EVERY:
            current = [_with_throttle(s, state.throttles) for s in link_servers]
            outcomes += self._project(state, current, by_id, now)
        self._save(state, before)
        metrics.add_metric(name="ThrottlesWritten", unit=MetricUnit.Count, value=len(written))
        metrics.add_metric(
            name="LinkThrottlesInForceMbps",
            unit=MetricUnit.MegabitsPerSecond,
            value=sum(state.throttles.get(s.server_id, 0) for s in link_servers if s.copying),
        )
        logger.info(
            "link budget kept",
            extra={
                "link": self._store.link,
                "budget_mbps": self.budget.budget_mbps,
                "servers_on_link": len(link_servers),
                "copying": sum(s.copying for s in link_servers),
                "rebalanced": due,
                "writes": len(written),
                "efficiency": round(state.efficiency, 3),
            },
        )
        return LinkPass(outcomes=outcomes, writes=written, rebalanced=due, state=state)

    def _link_server(self, server: SourceServer, state: LinkState) -> LinkServer:
        exception = self.is_exception(server)
        known = state.throttles.get(server.server_id)
        if exception and known is None:
            # A person's throttle, read once; a later edit comes through the guard.
            known = int(
                self._mgn.get_replication_configuration(server.server_id).get("bandwidthThrottling") or 0
            )
            state.throttles[server.server_id] = known
        return LinkServer(
            server.server_id,
            copying=server.replication in COPYING,
            bytes_left=server.bytes_left,
            # Not written by the plan yet: counted as unthrottled (the whole budget) until it is.
            throttle_mbps=known or 0,
            window=self._window(server),
            exempt=exception,
        )

    def _window(self, server: SourceServer) -> datetime | None:
        raw = server.tags.get(self._tags.window_key, "").strip()
        if not raw:
            return None
        try:
            window = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            window = None
        if window is None or window.tzinfo is None:
            logger.error(
                "cutover window tag not understood; the server is planned without a window",
                extra={
                    "server_id": server.server_id,
                    "tag": self._tags.window_key,
                    "value": raw,
                    "fix": "an ISO 8601 time with its zone, e.g. 2026-12-12T22:00Z",
                },
            )
            return None
        return window.astimezone(UTC)

    def _write(
        self,
        wanted: list[tuple[str, int]],
        state: LinkState,
        servers: dict[str, SourceServer],
        trigger: Trigger,
        rebalanced: bool,
    ) -> list[tuple[str, int]]:
        written: list[tuple[str, int]] = []
        for server_id, mbps in wanted:
            before = state.throttles.get(server_id)
            try:
                self._mgn.update_replication_configuration(server_id, {"bandwidthThrottling": mbps})
            except MgnConflictError as exc:
                # It stopped replicating since the pass read it (disconnected, cut over): off the link.
                logger.info(
                    "server left the link before its throttle",
                    extra={"server_id": server_id, "error": str(exc)},
                )
                state.throttles.pop(server_id, None)
                continue
            except MgnRequestRejectedError as exc:
                # The writes after it may be raises that need its room: stop here, the next pass goes on.
                logger.error(
                    "MGN refused a throttle; the rest of this plan waits for the next reconcile",
                    extra={"server_id": server_id, "mbps": mbps, "error": str(exc)},
                )
                break
            state.throttles[server_id] = mbps
            written.append((server_id, mbps))
            server = servers[server_id]
            self._audit.append(
                AuditRecord(
                    subject=server_id,
                    action="replication-throttle-set",
                    trigger=trigger.label,
                    actor=PIPELINE_ACTOR,
                    reason="link budget: "
                    + ("re-planned" if rebalanced else "throttle missing or over the budget"),
                    before={"bandwidthThrottling": before},
                    after={"bandwidthThrottling": mbps},
                    details={
                        "budgetMbps": self.budget.budget_mbps,
                        "replication": server.replication.value,
                        "bytesLeft": server.bytes_left,
                    },
                ),
                self._now(),
            )
        return written

    def _project(
        self, state: LinkState, servers: list[LinkServer], by_id: dict[str, SourceServer], now: datetime
    ) -> list[str]:
        ready = project_ready(servers, self.budget, now, efficiency=state.efficiency)
        state.eta_at = now.isoformat()
        state.server_eta = {sid: when.isoformat() if when else None for sid, when in ready.items()}
        members: dict[str, list[LinkServer]] = defaultdict(list)
        for server in servers:
            members[self._wave_of(by_id[server.server_id])].append(server)
        waves: dict[str, WaveEta] = {}
        outcomes: list[str] = []
        for wave, group in sorted(members.items()):
            copying = [s for s in group if s.server_id in ready]
            windows = [s.window for s in group if s.window is not None]
            window = min(windows) if windows else None
            left = sum(s.bytes_left for s in copying)
            etas = [ready[s.server_id] for s in copying]
            eta = None if any(e is None for e in etas) else max((e for e in etas if e), default=now)
            late = bool(copying) and window is not None and (eta is None or eta > window)
            need = None
            if window is not None and left > 0 and window > now:
                need = round(left * 8 / BITS_PER_MEGABIT / (window - now).total_seconds(), 1)
            waves[wave] = WaveEta(
                wave=wave,
                window=window.isoformat() if window else None,
                eta=eta.isoformat() if eta else None,
                bytes_left=left,
                late=late,
                need_mbps=need,
            )
            _emit_wave_eta(wave, eta, window, now, bool(copying))
            if late and wave not in state.late_told:
                self._tell_late(waves[wave], group)
                state.late_told.append(wave)
                outcomes.append(f"wave {wave} late for its window")
            elif not late and wave in state.late_told:
                state.late_told.remove(wave)
        state.waves = waves
        return outcomes

    def _tell_late(self, wave: WaveEta, group: list[LinkServer]) -> None:
        getting = sum(s.throttle_mbps for s in group if s.copying)
        need = (
            f"{wave.need_mbps:g} Mbps"
            if wave.need_mbps is not None
            else "more than the link has (the window has passed)"
        )
        self._notifier().tell(
            "wave-late",
            f"Wave {wave.wave} will not be ready to test by its cutover window",
            wave=wave.wave,
            about=f"Wave {wave.wave}: {sum(s.copying for s in group)} servers still copying,"
            f" {wave.bytes_left / 1e9:,.0f} GB left"
            + ("" if self._store.link == DEFAULT_LINK else f", over link {self._store.link}"),
            happened=[
                f"Its replication is expected to be ready at {wave.eta or 'no time within 90 days'},"
                f" after its window {wave.window}.",
            ],
            why=[
                f"Ready by the window, it would need {need} from now on; its servers are allowed"
                f" {getting} Mbps now, of a link budget of {self.budget.budget_mbps} Mbps.",
            ],
            what_to_do=[
                f"Raise {'LinkBudgetMbps' if self._store.link == DEFAULT_LINK else 'its budget in LinkBudgets'}"
                " if the link has room, move the window (the servers'"
                f" {self._tags.window_key} tag), or move servers to a later wave.",
                "`mgn-migrate status` shows each wave's ETA; this message comes again if the wave"
                " catches up and then falls behind once more.",
            ],
        )

    def _save(self, state: LinkState, throttles_read: dict[str, int]) -> None:
        mine = {sid: mbps for sid, mbps in state.throttles.items() if throttles_read.get(sid) != mbps}

        def merged(current: LinkState) -> LinkState:
            # A guard noted an exception's throttle meanwhile: keep it, and what this pass wrote.
            noted = {sid: mbps for sid, mbps in current.throttles.items() if throttles_read.get(sid) != mbps}
            state.throttles.update(noted)
            state.throttles.update(mine)
            state.version = current.version
            return state

        self._store.save(state, merge=merged)
        self._state = state

    def _loaded(self) -> LinkState:
        if self._state is None:
            self._state = self._store.load()
        return self._state


class LinkKeepers:
    """One keeper per link; each server goes to the keeper of the link it replicates over."""

    def __init__(self, keepers: Sequence[LinkKeeper], router: LinkRouter, store: LinkStore) -> None:
        self._keepers = {keeper.link: keeper for keeper in keepers}
        self._router = router
        self._index = store

    @property
    def min_mbps(self) -> int:
        """The template's throttle: the smallest floor (a new server's link is not known yet)."""
        return min(keeper.budget.min_mbps for keeper in self._keepers.values())

    def desired_throttle(self, server: SourceServer, current_mbps: int) -> int | None:
        keeper = self._keepers.get(self._router.link_of(server) or "")
        return keeper.desired_throttle(server, current_mbps) if keeper else None

    def keep(self, trigger: Trigger, servers: Sequence[SourceServer]) -> list[str]:
        by_link: dict[str, list[SourceServer]] = {name: [] for name in self._keepers}
        for server in servers:
            link = self._router.link_of(server)
            if link in by_link:
                by_link[link].append(server)
        outcomes: list[str] = []
        for name, keeper in sorted(self._keepers.items()):
            outcomes += [f"{name}: {outcome}" for outcome in keeper.keep(trigger, by_link[name])]
        self._index.index_links(sorted(self._keepers))
        return outcomes


def _emit_wave_eta(
    wave: str, eta: datetime | None, window: datetime | None, now: datetime, copying: bool
) -> None:
    """The dashboard's per-wave ETA (one EMF document each: the dimension differs per wave)."""
    if not copying or eta is None:
        return
    with single_metric(
        name="WaveReadyInHours", unit=MetricUnit.Count, value=round((eta - now).total_seconds() / 3600, 2)
    ) as metric:
        metric.add_dimension(name="Wave", value=wave)
    if window is not None:
        with single_metric(
            name="WaveHoursToSpare",
            unit=MetricUnit.Count,
            value=round((window - eta).total_seconds() / 3600, 2),
        ) as metric:
            metric.add_dimension(name="Wave", value=wave)


def _with_throttle(server: LinkServer, throttles: dict[str, int]) -> LinkServer:
    return LinkServer(
        server.server_id,
        copying=server.copying,
        bytes_left=server.bytes_left,
        throttle_mbps=throttles.get(server.server_id, 0),
        window=server.window,
        exempt=server.exempt,
    )


def _measure(state: LinkState, servers: Sequence[SourceServer], now: datetime) -> None:
    """What the copying servers got since the last look, against what their throttles allowed."""
    then = _time(state.progress_at)
    if then is not None and now > then:
        seconds = (now - then).total_seconds()
        got = allowed = 0.0
        for server in servers:
            copied_then = state.progress.get(server.server_id)
            throttle = state.throttles.get(server.server_id, 0)
            if (
                copied_then is None
                or server.replication is not ReplicationState.INITIAL_SYNC
                or throttle <= 0
            ):
                continue
            got += max(0, server.replicated_bytes - copied_then)
            allowed += throttle * BITS_PER_MEGABIT / 8 * seconds
        if allowed > 0:
            state.efficiency = min(1.0, got / allowed)
    state.progress_at = now.isoformat()
    state.progress = {s.server_id: s.replicated_bytes for s in servers if s.replication in COPYING}


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
