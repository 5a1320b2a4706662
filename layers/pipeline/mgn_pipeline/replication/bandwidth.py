"""One link budget for a wave's replication: the per-server throttles that share it, and ETAs.

Every source server replicates over the same Direct Connect or VPN link. MGN throttles per server
(``bandwidthThrottling`` in the replication configuration, Mbps, 0 = none) and knows nothing of the
link, so left alone a wave takes the whole link, and production traffic with it. The plan:

* a server that only sends its writes (CONTINUOUS) keeps ``steady_mbps`` (its lag shows if that is
  too little for its change rate);
* a server tagged as an exception keeps the throttle a person gave it (counted against the budget);
* every server still copying gets at least ``min_mbps`` (0 would mean unthrottled), then what it
  needs to be ready by its wave's window (bytes left over time left), nearest window first;
* what is left goes to the copying servers in proportion to what each has left to copy, so the
  link stays full and they finish together.

Throttles are written only when the plan moved by more than ``hysteresis``, or when more than
``slack`` of the budget lies unused (a server finished and its room is shared out), so a quiet wave
is not rewritten every reconcile; lowerings go before raises, and the throttles in force never add
up to more than the budget at any moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

BITS_PER_MEGABIT = 1_000_000
# Re-planned at least this often (windows draw nearer) besides when a server starts or stops copying.
REBALANCE_EVERY = timedelta(hours=6)
_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class LinkServer:
    """One server on the link, as the reconciler saw it."""

    server_id: str
    copying: bool  # initial sync, rescan or backlog: bytes to send beyond its writes
    bytes_left: int
    throttle_mbps: int  # what its replication configuration says now (0: unthrottled)
    window: datetime | None = None  # its wave's planned cutover window
    exempt: bool = False  # tagged: the throttle a person set stays


@dataclass(frozen=True, slots=True)
class LinkBudget:
    budget_mbps: int
    # A server in CONTINUOUS sends only its writes: 1 Mbps carries about 10 GB of changes a day.
    steady_mbps: int = 1
    min_mbps: int = 1
    server_max_mbps: int = 0  # what one agent can send (0: no limit of its own)
    hysteresis: float = 0.2
    min_step_mbps: int = 2  # and by at least this much (throttles are whole Mbps: 3 to 4 is +33 %)
    # Budget left unused that makes every raise worth writing (a server finished: share its room).
    slack: float = 0.03
    ready_before: timedelta = timedelta(hours=4)  # the margin a wave's servers aim to be ready by


def plan_throttles(servers: Iterable[LinkServer], budget: LinkBudget, now: datetime) -> dict[str, int]:
    """The throttle (Mbps) each server should have now; they add up to at most the budget, unless
    the exceptions and the floors alone exceed it (then every copying server gets its floor)."""
    servers = list(servers)
    plan: dict[str, float] = {}
    copying = [s for s in servers if s.copying and not s.exempt]
    for server in servers:
        if server.exempt:
            plan[server.server_id] = server.throttle_mbps
        elif not server.copying:
            plan[server.server_id] = budget.steady_mbps
    for server in copying:
        plan[server.server_id] = budget.min_mbps
    pool = budget.budget_mbps - sum(plan.values())
    cap = {s.server_id: float(budget.server_max_mbps or budget.budget_mbps) for s in copying}
    # What each needs to be ready by its window, nearest window first.
    for server in sorted((s for s in copying if s.window is not None), key=lambda s: (s.window, s.server_id)):
        if pool <= 0:
            break
        give = min(
            _needed_mbps(server, now, budget) - plan[server.server_id],
            cap[server.server_id] - plan[server.server_id],
            pool,
        )
        if give > 0:
            plan[server.server_id] += give
            pool -= give
    # The rest by what each has left, water-filled under the per-server cap.
    open_ = {s.server_id: float(s.bytes_left) for s in copying if s.bytes_left > 0}
    while pool > 1e-9 and open_:
        weight = sum(open_.values())
        if weight <= 0:
            break
        full: list[str] = []
        given = 0.0
        for server_id, left in open_.items():
            room = cap[server_id] - plan[server_id]
            give = min(pool * left / weight, room)
            plan[server_id] += give
            given += give
            if room - give <= 1e-9:
                full.append(server_id)
        pool -= given
        for server_id in full:
            open_.pop(server_id)
        if not full:
            break
    return _whole_mbps(plan, {s.server_id for s in copying}, budget)


def _whole_mbps(plan: Mapping[str, float], copying: set[str], budget: LinkBudget) -> dict[str, int]:
    """Throttles are whole Mbps: round down, then hand the Mbps that rounding left to the copying
    servers with the largest remainders (200 servers rounded down would leave a seventh unused)."""
    whole = {server_id: max(int(mbps), budget.min_mbps) for server_id, mbps in plan.items()}
    spare = budget.budget_mbps - sum(whole.values())
    by_remainder = sorted(copying, key=lambda sid: (whole[sid] - plan[sid], sid))
    for server_id in by_remainder[: max(0, int(spare))]:
        if plan[server_id] > whole[server_id]:
            whole[server_id] += 1
    return whole


def _needed_mbps(server: LinkServer, now: datetime, budget: LinkBudget) -> float:
    assert server.window is not None  # noqa: S101 - only called for servers with a window
    seconds = max((server.window - budget.ready_before - now).total_seconds(), _HOUR)
    return server.bytes_left * 8 / BITS_PER_MEGABIT / seconds


def throttle_writes(
    servers: Iterable[LinkServer], plan: Mapping[str, int], budget: LinkBudget, *, rebalance: bool = True
) -> list[tuple[str, int]]:
    """The writes that move the throttles in force toward ``plan``: (server, Mbps), lowerings first.

    A throttle that moved less than the hysteresis stays, unless the raises need its room. An
    unthrottled server (0) counts as the whole budget until it is throttled. Without ``rebalance``
    only what cannot wait is written: a server with no throttle, and what brings the throttles in
    force back within the budget.
    """
    servers = list(servers)
    exempt = sum(s.throttle_mbps for s in servers if s.exempt)
    current = {s.server_id: s.throttle_mbps for s in servers if not s.exempt}

    def in_force(after: Mapping[str, int]) -> float:
        return exempt + sum(
            (budget.budget_mbps if mbps == 0 else mbps) for mbps in {**current, **after}.values()
        )

    lowerings: list[tuple[str, int]] = []
    raises: list[tuple[str, int]] = []
    small_lowerings: list[tuple[str, int]] = []
    small_raises: list[tuple[str, int]] = []
    for server_id, now_mbps in current.items():
        want = plan.get(server_id)
        if want is None or want == now_mbps:
            continue
        moved_enough = abs(want - now_mbps) >= budget.min_step_mbps
        if now_mbps == 0 or (moved_enough and want < now_mbps * (1 - budget.hysteresis)):
            lowerings.append((server_id, want))
        elif moved_enough and want > now_mbps * (1 + budget.hysteresis):
            raises.append((server_id, want))
        elif want < now_mbps:
            small_lowerings.append((server_id, want))
        else:
            small_raises.append((server_id, want))
    if not rebalance:
        forced = [(sid, want) for sid, want in lowerings if current[sid] == 0]
        if in_force(dict(forced)) > budget.budget_mbps:
            forced = lowerings + small_lowerings
        return forced
    writes = dict(lowerings)
    if budget.budget_mbps - in_force({**writes, **dict(raises)}) > budget.slack * budget.budget_mbps:
        raises += small_raises
    if raises and in_force({**writes, **dict(raises)}) > budget.budget_mbps:
        # The raises need room the small lowerings hold: take it, largest first.
        for server_id, want in sorted(small_lowerings, key=lambda w: w[1] - current[w[0]]):
            writes[server_id] = want
            lowerings.append((server_id, want))
            if in_force({**writes, **dict(raises)}) <= budget.budget_mbps:
                break
    fitted: list[tuple[str, int]] = []
    for server_id, want in sorted(raises, key=lambda w: current[w[0]] - w[1]):
        room = budget.budget_mbps - in_force({**writes, **dict(fitted)}) + current[server_id]
        give = min(want, int(room))
        if give > current[server_id]:
            fitted.append((server_id, give))
    return lowerings + fitted


def project_ready(
    servers: Iterable[LinkServer],
    budget: LinkBudget,
    now: datetime,
    *,
    efficiency: float = 1.0,
    step_s: float = 900.0,
    horizon_s: float = 90 * 86400.0,
    every: timedelta | None = None,
) -> dict[str, datetime | None]:
    """When each copying server will have copied everything if the pipeline goes on as it does: the
    throttles in force until the next rebalance (a server finishing, or ``every``), then the plan
    (servers finishing free their room for the others); each server gets ``efficiency`` times its
    throttle (what the link gave lately, against what was allowed). None: not within the horizon."""
    every = every or REBALANCE_EVERY
    state = {s.server_id: s for s in servers}
    ready: dict[str, datetime | None] = {
        sid: None for sid, s in state.items() if s.copying and s.bytes_left > 0
    }
    rates = {sid: s.throttle_mbps or budget.budget_mbps for sid, s in state.items()}
    t, since_rebalance = 0.0, 0.0
    while t < horizon_s and any(ready[sid] is None for sid in ready):
        when = now + timedelta(seconds=t)
        finished = False
        for sid in ready:
            server = state[sid]
            if ready[sid] is not None:
                continue
            rate = rates.get(sid, 0) * BITS_PER_MEGABIT / 8 * efficiency
            if rate <= 0:
                continue
            if server.bytes_left <= rate * step_s:
                ready[sid] = when + timedelta(seconds=server.bytes_left / rate)
                state[sid] = replace(server, copying=False, bytes_left=0)
                finished = True
            else:
                state[sid] = replace(server, bytes_left=int(server.bytes_left - rate * step_s))
        t += step_s
        since_rebalance += step_s
        if finished or since_rebalance >= every.total_seconds():
            rates = dict(plan_throttles(state.values(), budget, now + timedelta(seconds=t)))
            since_rebalance = 0.0
    return ready


def rebalance_due(
    copying_before: Mapping[str, bool],
    servers: Iterable[LinkServer],
    last_rebalance: datetime | None,
    now: datetime,
    every: timedelta = REBALANCE_EVERY,
) -> bool:
    """Whether to re-plan now: a server started or stopped copying (or is new), a throttle is not
    what was planned (``copying_before`` lost it), or ``every`` passed (windows draw nearer). Between
    those a reconcile writes nothing; what it must still write (an unthrottled server, a throttle
    over the budget) ``throttle_writes`` finds on its own."""
    if last_rebalance is None or now - last_rebalance >= every:
        return True
    return any(copying_before.get(s.server_id) != s.copying for s in servers)


def eta_seconds(bytes_left: int, bytes_per_second: float) -> float | None:
    """Seconds to copy what is left at the throughput a server actually got (None: not moving)."""
    if bytes_left <= 0:
        return 0.0
    return bytes_left / bytes_per_second if bytes_per_second > 0 else None
