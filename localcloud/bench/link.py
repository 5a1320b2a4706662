"""The link benchmark: a wave's initial syncs over one private link, three ways of sharing it.

``default``: MGN's default, no throttle: every server takes what TCP gives it, the whole link.
``equal``: the budget split equally once, when the wave starts (what a team does by hand).
``budget``: the pipeline's plan (``mgn_pipeline.replication.bandwidth``) every reconcile: floors,
the nearest window's need first, the rest by what is left, written only when it moved.
In each, a wave is cut over at its window (its ready servers disconnect and leave the link).

Everything goes through the MGN API to the emulator, whose link (``localcloud.mgn.link``) shares
its capacity among the servers in INITIAL_SYNC, each capped by its throttle. Measured: when each
wave is ready (every server READY_FOR_TEST) against its window, the makespan, how full the budget
is while anything is left to copy, the peak on the link, the throttle writes (and those in quiet
reconciles, which should be none), and how good each wave's ETA was.
"""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3
from moto import mock_aws

from localcloud.clock import SimClock
from localcloud.mgn import MgnEmulator, Timings
from localcloud.template import create_table
from mgn_pipeline.replication.bandwidth import LinkBudget
from mgn_pipeline.replication.link_keeper import DEFAULT_WINDOW_TAG_KEY, LinkKeeper, LinkTags
from mgn_pipeline.replication.link_store import LinkState, LinkStore
from mgn_pipeline.shared.aws.audit import AuditTrail
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.aws.notifier import Notifier
from mgn_pipeline.shared.observability import logger, metrics
from mgn_pipeline.shared.scope import Scope
from mgn_pipeline.shared.server import SourceServer
from mgn_pipeline.shared.trigger import RECONCILER

GB = 1_000_000_000
STRATEGIES = ("default", "equal", "budget")
HAND_EDIT_MBPS = 500  # what a person sets on one server mid-wave (the plan repairs it)


@dataclass(frozen=True)
class LinkWave:
    servers: int = 200
    total_tb: float = 40.0
    link_mbps: float = 1000.0
    budget_mbps: int = 700
    waves: int = 4
    first_window_h: float = 48.0
    window_every_h: float = 36.0
    reconcile_every_s: float = 300.0
    seed: int = 5
    smallest_gb: float = 20.0
    largest_gb: float = 2000.0

    def disk_sizes(self) -> list[int]:
        """A mix from ``smallest_gb`` to ``largest_gb`` (log-uniform), scaled to ``total_tb``."""
        rng = random.Random(self.seed)
        low, high = self.smallest_gb, self.largest_gb
        raw = [low * (high / low) ** rng.random() for _ in range(self.servers)]
        scale = self.total_tb * 1000 / sum(raw)
        return [int(min(high, max(low, size * scale)) * GB) for size in raw]


@dataclass
class WaveOutcome:
    window: datetime
    ready_at: datetime | None = None
    # (when, seconds left predicted) from the first hour on; checked against ready_at at the end.
    predictions: list[tuple[datetime, float]] = field(default_factory=list)

    def eta_errors(self, start: datetime) -> list[float]:
        """Each prediction's miss (predicted against simulated ready time) as a share of the time
        the wave took to be ready."""
        if self.ready_at is None:
            return []
        took = (self.ready_at - start).total_seconds()
        return [
            abs((when - self.ready_at).total_seconds() + seconds) / took for when, seconds in self.predictions
        ]


@contextmanager
def _account(clock: SimClock) -> Iterator[MgnEmulator]:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        staging = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        launch = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
        emulator = MgnEmulator(
            clock, staging_subnet_id=staging, launch_subnet_id=launch, timings=Timings(initiating_seconds=600)
        )
        with emulator.installed():
            yield emulator


@contextmanager
def _pipeline_quiet() -> Iterator[None]:
    """The keeper's log line and metrics of every reconcile stay out of the benchmark's output
    (thousands of reconciles); warnings and errors still show."""
    saved = {key: os.environ.get(key) for key in _QUIET}
    level = logger.log_level
    os.environ.update(_QUIET)
    logger.setLevel("WARNING")
    try:
        with redirect_stdout(io.StringIO()):  # per-wave ETA metrics print their EMF at once
            yield
    finally:
        logger.setLevel(level)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_QUIET = {"POWERTOOLS_METRICS_NAMESPACE": "MgnPipeline"}


def run_link_wave(strategy: str, wave: LinkWave) -> dict[str, Any]:
    """One wave under ``strategy``; returns its figures."""
    clock = SimClock()
    with _pipeline_quiet(), _account(clock) as emulator:
        emulator.adjust_quotas(max_replicating_servers=max(150, wave.servers))
        link = emulator.connect_link(wave.link_mbps)
        client = boto3.client("mgn", region_name="us-east-1")
        budget = LinkBudget(budget_mbps=wave.budget_mbps)
        if strategy == "budget":
            # The template new servers copy carries the floor: none starts unthrottled.
            client.initialize_service()
            [template] = client.describe_replication_configuration_templates()["items"]
            client.update_replication_configuration_template(
                replicationConfigurationTemplateID=template["replicationConfigurationTemplateID"],
                bandwidthThrottling=budget.min_mbps,
            )
        start = clock.now()
        windows = [
            start + timedelta(hours=wave.first_window_h + n * wave.window_every_h) for n in range(wave.waves)
        ]
        ids: list[str] = []
        wave_of: dict[str, int] = {}
        for n, size in enumerate(wave.disk_sizes()):
            sid = emulator.register_agent(
                f"app-{n:04d}",
                {
                    "wave": f"w{n % wave.waves + 1}",
                    DEFAULT_WINDOW_TAG_KEY: windows[n % wave.waves].strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
                disks=[{"deviceName": "/dev/sda", "bytes": size}],
            )
            ids.append(sid)
            wave_of[sid] = n % wave.waves
        if strategy == "equal":
            share = max(1, wave.budget_mbps // wave.servers)
            for sid in ids:
                client.update_replication_configuration(sourceServerID=sid, bandwidthThrottling=share)
        outcomes = [WaveOutcome(window) for window in windows]
        writes = quiet_writes = reconciles = 0
        hand_edit_at = start + timedelta(hours=6)
        hand_edited: str | None = None
        repaired_after_s: float | None = None
        cut: set[str] = set()
        keeper = _keeper(clock, client, budget) if strategy == "budget" else None
        used_samples: list[float] = []
        limit = start + timedelta(days=60)
        while clock.now() < limit:
            clock.advance(wave.reconcile_every_s)
            reconciles += 1
            now = clock.now()
            items = _describe_items(client)
            servers = _progress(items)
            copying = {sid: s for sid, s in servers.items() if s["state"] in ("INITIATING", "INITIAL_SYNC")}
            if copying:
                used_samples.append(link.used_mbps)
            if strategy == "budget" and hand_edited is None and now >= hand_edit_at and copying:
                hand_edited = sorted(copying)[0]
                client.update_replication_configuration(
                    sourceServerID=hand_edited, bandwidthThrottling=HAND_EDIT_MBPS
                )
                hand_edit_at = now
            for n, outcome in enumerate(outcomes):
                members = [sid for sid in ids if wave_of[sid] == n]
                if outcome.ready_at is None and all(servers[sid]["ready"] for sid in members):
                    outcome.ready_at = now
            if all(outcome.ready_at is not None for outcome in outcomes):
                break
            # Each wave is cut over at its window (or as its servers become ready after it): they
            # leave the link, and their steady share with them.
            for sid in ids:
                if sid not in cut and servers[sid]["ready"] and now >= windows[wave_of[sid]]:
                    client.disconnect_from_service(sourceServerID=sid)
                    cut.add(sid)
            if strategy != "budget":
                continue
            assert keeper is not None  # noqa: S101 - built for the budget strategy
            seen = [SourceServer.from_api(item) for item in items if item["sourceServerID"] not in cut]
            if hand_edited is not None and hand_edit_at == now:
                # The guard that CloudTrail's event of the edit wakes (SettingsEnforcer) asks the
                # keeper which throttle the server should have, and puts it back.
                edited = next(s for s in seen if s.server_id == hand_edited)
                planned = keeper.desired_throttle(edited, HAND_EDIT_MBPS)
                if planned is not None and planned != HAND_EDIT_MBPS:
                    client.update_replication_configuration(
                        sourceServerID=hand_edited, bandwidthThrottling=planned
                    )
                    repaired_after_s = (now - hand_edit_at).total_seconds()
            done = keeper.run_pass(RECONCILER, seen)
            metrics.clear_metrics()  # a Lambda flushes them at the end of each invocation
            writes += len(done.writes)
            # A quiet reconcile: no server started or stopped copying, no re-plan due.
            quiet_writes += 0 if done.rebalanced else len(done.writes)
            state = done.state
            if now - start >= timedelta(hours=1) and state.eta_at == now.isoformat():
                _predict(outcomes, state, now)
            in_force = sum(
                budget.budget_mbps if state.throttles.get(s, 0) == 0 else state.throttles[s]
                for s in ids
                if s not in cut
            )
            if in_force > budget.budget_mbps:
                raise AssertionError(f"throttles in force exceed the budget at {now}")
        peak = _peak(link.samples, clock.now())
        last_ready = max((o.ready_at for o in outcomes if o.ready_at is not None), default=None)
        return {
            "strategy": strategy,
            "makespan_h": round(((last_ready or clock.now()) - start).total_seconds() / 3600, 1),
            "finished": all(o.ready_at is not None for o in outcomes),
            "waves": [
                {
                    "window_h": round((o.window - start).total_seconds() / 3600, 1),
                    "ready_h": None
                    if o.ready_at is None
                    else round((o.ready_at - start).total_seconds() / 3600, 1),
                    "met": o.ready_at is not None and o.ready_at <= o.window,
                    "eta_error_max": round(max(o.eta_errors(start), default=0.0), 3),
                }
                for o in outcomes
            ],
            "windows_met": sum(o.ready_at is not None and o.ready_at <= o.window for o in outcomes),
            "budget_used_while_copying": round(
                sum(min(u, wave.budget_mbps) for u in used_samples) / (len(used_samples) * wave.budget_mbps),
                3,
            )
            if used_samples
            else 0.0,
            "peak_mbps": round(peak, 1),
            "over_budget_minutes": round(
                sum(wave.reconcile_every_s for u in used_samples if u > wave.budget_mbps + 1e-6) / 60
            ),
            "throttle_writes": writes + (wave.servers if strategy == "equal" else 0),
            "writes_in_quiet_reconciles": quiet_writes,
            "reconciles": reconciles,
            "hand_edit_repaired_after_s": repaired_after_s,
        }


def _peak(samples: list[Any], end: datetime) -> float:
    """The most the link carried for any length of time (a change put back at the same instant,
    as the reconcile that sees a hand edit does, carried nothing)."""
    lasting = [
        a.used_mbps
        for a, b in zip(samples, [*samples[1:], None], strict=True)
        if (b.time if b else end) > a.time
    ]
    return max(lasting, default=0.0)


def _describe_items(client: Any) -> list[dict[str, Any]]:
    return [
        item
        for page in client.get_paginator("describe_source_servers").paginate(
            filters={}, PaginationConfig={"PageSize": 200}
        )
        for item in page["items"]
    ]


def _progress(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        info = item["dataReplicationInfo"]
        disks = info.get("replicatedDisks") or []
        total = sum(d["totalStorageBytes"] for d in disks)
        copied = sum(d["replicatedStorageBytes"] for d in disks)
        out[item["sourceServerID"]] = {
            "state": info["dataReplicationState"],
            "left": total - copied,
            "copied": copied,
            "ready": item["lifeCycle"]["state"] != "NOT_READY",
        }
    return out


def _keeper(clock: SimClock, mgn: Any, budget: LinkBudget) -> LinkKeeper:
    """The pipeline's keeper on this account: its link record in a servers table, its audit trail."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_table(dynamodb, "ServersTable", "servers")
    create_table(dynamodb, "AuditTable", "audit")
    sns = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name="pipeline")["TopicArn"]
    return LinkKeeper(
        gateway=MgnGateway(mgn),
        store=LinkStore(dynamodb, "servers"),
        budget=budget,
        tags=LinkTags(),
        scope=Scope(None, None),
        audit=AuditTrail(dynamodb, "audit", wave_of=lambda _sid: "w"),
        notifier=lambda: Notifier(sns, topic),
        wave_of=lambda server: server.tags.get("wave", "unassigned"),
        now=clock.now,
    )


def _predict(outcomes: list[WaveOutcome], state: LinkState, now: datetime) -> None:
    """Each unfinished wave's ETA, as the keeper projected it (its link record)."""
    for n, outcome in enumerate(outcomes):
        projected = state.waves.get(f"w{n + 1}")
        if outcome.ready_at is not None or projected is None or projected.eta is None:
            continue
        outcome.predictions.append((now, (datetime.fromisoformat(projected.eta) - now).total_seconds()))
