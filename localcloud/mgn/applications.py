"""MGN's own grouping of source servers: applications (groups of servers) and waves (groups of applications).

A source server belongs to at most one application, an application to at most one wave. Rules the
emulator applies, strict where MGN's documentation is silent (each refusal is a ConflictException,
unknown ids a ResourceNotFoundException):

- names are unique per Region, compared case-insensitively (documented for applications; waves
  are assumed to follow the same rule);
- an application holds at most ``Quotas.max_servers_per_application`` servers (200, the console's
  documented limit), beyond that ServiceQuotaExceededException;
- a server or application already in another application or wave must be disassociated first;
  associating one where it already is changes nothing;
- archived servers, applications and waves take no new members, and archived applications and
  waves cannot be edited (unarchive them first);
- a wave with applications, or an application with servers, cannot be deleted; deleting an
  application takes it out of its wave.

Association requests are all or nothing: one bad id refuses the whole request.

Waves and applications are one resource written once (``groups.Grouping``), parameterised here by
kind: what each is called, its request members, how it reaches its members, the applications' quota.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from localcloud.mgn.errors import NotFoundError
from localcloud.mgn.groups import Grouping, GroupKind, GroupRecord, MemberQuota, Members, Page
from localcloud.mgn.quotas import SERVERS_PER_APPLICATION_QUOTA_CODE
from localcloud.mgn.server_state import ServerRecord
from localcloud.mgn.util import iso

if TYPE_CHECKING:
    from localcloud.mgn.backend import MgnBackend

Params = dict[str, Any]
Operation = Callable[[Params], dict[str, Any]]

WAVE = "WAVE"
APPLICATION = "APPLICATION"
SOURCE_SERVER = "SOURCE_SERVER"

WAVES = GroupKind(WAVE, arn_kind="wave", id_prefix="wave-", id_member="waveID", ids_filter="waveIDs")
APPLICATIONS = GroupKind(
    APPLICATION,
    arn_kind="application",
    id_prefix="app-",
    id_member="applicationID",
    ids_filter="applicationIDs",
    parent_filter="waveIDs",
)

_NOT_STARTED = frozenset({"DISCOVERED", "PENDING_INSTALLATION", "NOT_READY"})


@dataclass
class WaveRecord(GroupRecord):
    """A wave: a group of applications."""

    @property
    def wave_id(self) -> str:
        return self.group_id


@dataclass
class ApplicationRecord(GroupRecord):
    """An application: a group of source servers, in at most one wave (its ``parent_id``)."""

    @property
    def application_id(self) -> str:
        return self.group_id

    @property
    def wave_id(self) -> str | None:
        return self.parent_id

    @wave_id.setter
    def wave_id(self, wave_id: str | None) -> None:
        self.parent_id = wave_id


# ---- aggregated status (the console's application and wave columns) ----------------------------


def _progress(states: list[str]) -> str:
    if states and all(s == "COMPLETED" for s in states):
        return "COMPLETED"
    if all(s == "NOT_STARTED" for s in states):
        return "NOT_STARTED"
    return "IN_PROGRESS"


def _health(states: list[str]) -> str:
    for worst in ("ERROR", "LAGGING"):
        if worst in states:
            return worst
    return "HEALTHY"


def _server_progress(server: ServerRecord) -> str:
    if server.lifecycle == "CUTOVER":
        return "COMPLETED"
    return (
        "NOT_STARTED" if server.lifecycle in _NOT_STARTED and server.first_byte_at is None else "IN_PROGRESS"
    )


def _server_health(server: ServerRecord) -> str:
    if server.repl_error or server.repl_state == "STALLED":
        return "ERROR"
    return "LAGGING" if server.interrupted_since is not None else "HEALTHY"


def application_view(app: ApplicationRecord, servers: list[ServerRecord], now: datetime) -> dict[str, Any]:
    """The Application shape; ``servers`` are the ones associated with it."""
    out: dict[str, Any] = {
        "applicationID": app.application_id,
        "arn": app.arn,
        "name": app.name,
        "isArchived": app.is_archived,
        "applicationAggregatedStatus": {
            "lastUpdateDateTime": iso(now),
            "healthStatus": _health([_server_health(s) for s in servers]),
            "progressStatus": _progress([_server_progress(s) for s in servers]),
            "totalSourceServers": len(servers),
        },
        "creationDateTime": iso(app.created_at),
        "lastModifiedDateTime": iso(app.modified_at),
        "tags": dict(app.tags),
    }
    if app.description is not None:
        out["description"] = app.description
    if app.wave_id:
        out["waveID"] = app.wave_id
    return out


def wave_view(
    wave: WaveRecord, apps: list[dict[str, Any]], servers: list[ServerRecord], now: datetime
) -> dict[str, Any]:
    """The Wave shape; ``apps`` are the views of its applications, ``servers`` theirs."""
    statuses = [a["applicationAggregatedStatus"] for a in apps]
    aggregated: dict[str, Any] = {
        "lastUpdateDateTime": iso(now),
        "healthStatus": _health([s["healthStatus"] for s in statuses]),
        "progressStatus": _progress([s["progressStatus"] for s in statuses]),
        "totalApplications": len(apps),
    }
    started = [s.first_byte_at for s in servers if s.first_byte_at is not None]
    if started:
        aggregated["replicationStartedDateTime"] = iso(min(started))
    out: dict[str, Any] = {
        "waveID": wave.wave_id,
        "arn": wave.arn,
        "name": wave.name,
        "isArchived": wave.is_archived,
        "waveAggregatedStatus": aggregated,
        "creationDateTime": iso(wave.created_at),
        "lastModifiedDateTime": iso(wave.modified_at),
        "tags": dict(wave.tags),
    }
    if wave.description is not None:
        out["description"] = wave.description
    return out


class _ServersOfApplications(Members[ServerRecord]):
    resource_type = SOURCE_SERVER
    plural = "source servers"
    ids_member = "sourceServerIDs"

    def __init__(self, backend: MgnBackend) -> None:
        self.b = backend

    def label(self, member_id: str) -> str:
        return member_id

    def find(self, ids: Iterable[str]) -> list[ServerRecord]:
        servers = []
        for sid in dict.fromkeys(ids):  # a repeated id counts once
            server = self.b.servers.get(sid)
            if server is None:
                raise NotFoundError(
                    f"Source server {sid} not found", resource_id=sid, resource_type=SOURCE_SERVER
                )
            servers.append(server)
        return servers

    def all(self) -> Iterable[ServerRecord]:
        return self.b.servers.values()

    def id_of(self, member: ServerRecord) -> str:
        return member.server_id

    def group_of(self, member: ServerRecord) -> str | None:
        return member.application_id

    def is_archived(self, member: ServerRecord) -> bool:
        return member.is_archived

    def move(self, member: ServerRecord, group_id: str | None, now: datetime) -> None:
        member.application_id = group_id  # a server has no lastModifiedDateTime


class _ApplicationsOfWaves(Members[ApplicationRecord]):
    resource_type = APPLICATION
    plural = "applications"
    ids_member = "applicationIDs"

    def __init__(self, applications: Grouping[ApplicationRecord, ServerRecord]) -> None:
        self.applications = applications

    def label(self, member_id: str) -> str:
        return f"Application {member_id}"

    def find(self, ids: Iterable[str]) -> list[ApplicationRecord]:
        return self.applications.find(ids)

    def all(self) -> Iterable[ApplicationRecord]:
        return self.applications.records.values()

    def id_of(self, member: ApplicationRecord) -> str:
        return member.group_id

    def group_of(self, member: ApplicationRecord) -> str | None:
        return member.parent_id

    def is_archived(self, member: ApplicationRecord) -> bool:
        return member.is_archived

    def move(self, member: ApplicationRecord, group_id: str | None, now: datetime) -> None:
        member.parent_id = group_id
        member.modified_at = now


class ApplicationsApi:
    """Handlers of the wave and application operations over one backend (see ``operations``)."""

    def __init__(self, backend: MgnBackend, page: Page, check_tags: Callable[[dict[str, str]], None]) -> None:
        self.b = backend
        self.applications = Grouping(
            backend,
            APPLICATIONS,
            ApplicationRecord,
            backend.applications,
            _ServersOfApplications(backend),
            self.view_applications,
            page=page,
            check_tags=check_tags,
            member_quota=MemberQuota(
                SERVERS_PER_APPLICATION_QUOTA_CODE, lambda: backend.quotas.max_servers_per_application
            ),
        )
        self.waves = Grouping(
            backend,
            WAVES,
            WaveRecord,
            backend.waves,
            _ApplicationsOfWaves(self.applications),
            self.view_waves,
            page=page,
            check_tags=check_tags,
        )
        self.operations: dict[str, Operation] = {}
        for grouping, noun in ((self.waves, "Wave"), (self.applications, "Application")):
            self.operations.update(
                {
                    f"Create{noun}": grouping.create,
                    f"Update{noun}": grouping.update,
                    f"Delete{noun}": grouping.delete,
                    f"List{noun}s": grouping.list,
                    f"Archive{noun}": grouping.archive,
                    f"Unarchive{noun}": grouping.unarchive,
                }
            )
        self.operations.update(
            {
                "AssociateSourceServers": self.applications.associate,
                "DisassociateSourceServers": self.applications.disassociate,
                "AssociateApplications": self.waves.associate,
                "DisassociateApplications": self.waves.disassociate,
            }
        )

    # ---- views ---------------------------------------------------------------------------------

    def _servers_by_application(self) -> dict[str, list[ServerRecord]]:
        """Application id -> its servers, built once per call rather than per application."""
        members: dict[str, list[ServerRecord]] = {}
        for server in self.b.servers.values():
            if server.application_id:
                members.setdefault(server.application_id, []).append(server)
        return members

    def view_applications(
        self, apps: list[ApplicationRecord], members: dict[str, list[ServerRecord]] | None = None
    ) -> list[dict[str, Any]]:
        members = self._servers_by_application() if members is None else members
        now = self.b.clock.now()
        return [application_view(app, members.get(app.application_id, []), now) for app in apps]

    def view_waves(self, waves: list[WaveRecord]) -> list[dict[str, Any]]:
        members = self._servers_by_application()
        now = self.b.clock.now()
        views = []
        for wave in waves:
            apps = [a for a in self.b.applications.values() if a.wave_id == wave.wave_id]
            servers = [s for a in apps for s in members.get(a.application_id, [])]
            views.append(wave_view(wave, self.view_applications(apps, members), servers, now))
        return views
