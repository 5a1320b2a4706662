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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from localcloud.mgn.errors import ConflictError, NotFoundError, QuotaExceededError
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

_NOT_STARTED = frozenset({"DISCOVERED", "PENDING_INSTALLATION", "NOT_READY"})


@dataclass
class WaveRecord:
    wave_id: str
    arn: str
    name: str
    created_at: datetime
    modified_at: datetime
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    is_archived: bool = False


@dataclass
class ApplicationRecord:
    application_id: str
    arn: str
    name: str
    created_at: datetime
    modified_at: datetime
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    is_archived: bool = False
    wave_id: str | None = None


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


def _problem(resource_id: str, resource_type: str, code: str, message: str) -> dict[str, str]:
    """One entry of ConflictException.errors."""
    return {"code": code, "message": message, "resourceId": resource_id, "resourceType": resource_type}


def _refuse(problems: list[dict[str, str]], summary: str) -> None:
    if problems:
        first = problems[0]
        raise ConflictError(
            first["message"] if len(problems) == 1 else f"{len(problems)} {summary}",
            resource_id=first["resourceId"],
            resource_type=first["resourceType"],
            errors=problems,
        )


class ApplicationsApi:
    """Handlers of the wave and application operations over one backend (see ``operations``)."""

    def __init__(
        self,
        backend: MgnBackend,
        page: Callable[[list[Any], Params], dict[str, Any]],
        check_tags: Callable[[dict[str, str]], None],
    ) -> None:
        self.b = backend
        self._page = page
        self._check_tags = check_tags
        self.operations: dict[str, Operation] = {
            "CreateWave": self.create_wave,
            "UpdateWave": self.update_wave,
            "DeleteWave": self.delete_wave,
            "ListWaves": self.list_waves,
            "ArchiveWave": self.archive_wave,
            "UnarchiveWave": self.unarchive_wave,
            "CreateApplication": self.create_application,
            "UpdateApplication": self.update_application,
            "DeleteApplication": self.delete_application,
            "ListApplications": self.list_applications,
            "ArchiveApplication": self.archive_application,
            "UnarchiveApplication": self.unarchive_application,
            "AssociateSourceServers": self.associate_source_servers,
            "DisassociateSourceServers": self.disassociate_source_servers,
            "AssociateApplications": self.associate_applications,
            "DisassociateApplications": self.disassociate_applications,
        }

    # ---- lookups and views -------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.b.clock.now()

    def _wave(self, wave_id: str) -> WaveRecord:
        wave = self.b.waves.get(wave_id)
        if wave is None:
            raise NotFoundError(f"Wave {wave_id} not found", resource_id=wave_id, resource_type=WAVE)
        return wave

    def _application(self, app_id: str) -> ApplicationRecord:
        app = self.b.applications.get(app_id)
        if app is None:
            raise NotFoundError(
                f"Application {app_id} not found", resource_id=app_id, resource_type=APPLICATION
            )
        return app

    def _servers(self, ids: Iterable[str]) -> list[ServerRecord]:
        servers = []
        for sid in dict.fromkeys(ids):  # a repeated id counts once
            server = self.b.servers.get(sid)
            if server is None:
                raise NotFoundError(
                    f"Source server {sid} not found", resource_id=sid, resource_type=SOURCE_SERVER
                )
            servers.append(server)
        return servers

    def _members(self) -> dict[str, list[ServerRecord]]:
        """Application id -> its servers, built once per call rather than per application."""
        members: dict[str, list[ServerRecord]] = {}
        for server in self.b.servers.values():
            if server.application_id:
                members.setdefault(server.application_id, []).append(server)
        return members

    def view_application(
        self, app: ApplicationRecord, members: dict[str, list[ServerRecord]] | None = None
    ) -> dict[str, Any]:
        members = self._members() if members is None else members
        return application_view(app, members.get(app.application_id, []), self._now())

    def view_wave(
        self, wave: WaveRecord, members: dict[str, list[ServerRecord]] | None = None
    ) -> dict[str, Any]:
        members = self._members() if members is None else members
        apps = [a for a in self.b.applications.values() if a.wave_id == wave.wave_id]
        servers = [s for a in apps for s in members.get(a.application_id, [])]
        return wave_view(wave, [self.view_application(a, members) for a in apps], servers, self._now())

    def _check_unique_name(
        self, name: str, taken: Iterable[tuple[str, str]], kind: str, own_id: str | None
    ) -> None:
        # MGN compares application names case-insensitively; the emulator does the same for waves.
        for other_id, other_name in taken:
            if other_id != own_id and other_name.casefold() == name.casefold():
                raise ConflictError(
                    f"A {kind.lower()} named {other_name!r} already exists ({other_id})",
                    resource_id=other_id,
                    resource_type=kind,
                )

    @staticmethod
    def _check_editable(resource_id: str, kind: str, archived: bool) -> None:
        if archived:
            raise ConflictError(
                f"{kind.capitalize()} {resource_id} is archived; unarchive it first",
                resource_id=resource_id,
                resource_type=kind,
            )

    # ---- waves ----------------------------------------------------------------------------------

    def create_wave(self, params: Params) -> dict[str, Any]:
        self._check_unique_name(
            params["name"], ((w.wave_id, w.name) for w in self.b.waves.values()), WAVE, None
        )
        tags = dict(params.get("tags") or {})
        self._check_tags(tags)
        wave_id = "wave-" + self.b.ids.alnum(17)
        now = self._now()
        wave = WaveRecord(
            wave_id=wave_id,
            arn=self.b.arn("wave", wave_id),
            name=params["name"],
            description=params.get("description"),
            tags=tags,
            created_at=now,
            modified_at=now,
        )
        self.b.waves[wave_id] = wave
        return self.view_wave(wave)

    def update_wave(self, params: Params) -> dict[str, Any]:
        wave = self._wave(params["waveID"])
        self._check_editable(wave.wave_id, WAVE, wave.is_archived)
        if "name" in params:
            self._check_unique_name(
                params["name"], ((w.wave_id, w.name) for w in self.b.waves.values()), WAVE, wave.wave_id
            )
            wave.name = params["name"]
        if "description" in params:
            wave.description = params["description"]
        wave.modified_at = self._now()
        return self.view_wave(wave)

    def delete_wave(self, params: Params) -> dict[str, Any]:
        wave = self._wave(params["waveID"])
        apps = [a.application_id for a in self.b.applications.values() if a.wave_id == wave.wave_id]
        if apps:
            raise ConflictError(
                f"Wave {wave.wave_id} still has {len(apps)} application(s); disassociate them first",
                resource_id=wave.wave_id,
                resource_type=WAVE,
                errors=[
                    _problem(
                        a, APPLICATION, "APPLICATION_IN_WAVE", f"Application {a} belongs to {wave.wave_id}"
                    )
                    for a in apps
                ],
            )
        del self.b.waves[wave.wave_id]
        return {}

    def list_waves(self, params: Params) -> dict[str, Any]:
        f = params.get("filters") or {}
        waves = list(self.b.waves.values())
        if f.get("waveIDs"):
            wanted = set(f["waveIDs"])
            waves = [w for w in waves if w.wave_id in wanted]
        if f.get("isArchived") is not None:
            waves = [w for w in waves if w.is_archived == f["isArchived"]]
        page = self._page(waves, params)
        members = self._members()
        page["items"] = [self.view_wave(w, members) for w in page["items"]]
        return page

    def _set_wave_archived(self, params: Params, archived: bool) -> dict[str, Any]:
        wave = self._wave(params["waveID"])
        if wave.is_archived != archived:
            wave.is_archived = archived
            wave.modified_at = self._now()
        return self.view_wave(wave)

    def archive_wave(self, params: Params) -> dict[str, Any]:
        return self._set_wave_archived(params, True)

    def unarchive_wave(self, params: Params) -> dict[str, Any]:
        return self._set_wave_archived(params, False)

    # ---- applications ---------------------------------------------------------------------------

    def _app_names(self) -> Iterable[tuple[str, str]]:
        return ((a.application_id, a.name) for a in self.b.applications.values())

    def create_application(self, params: Params) -> dict[str, Any]:
        self._check_unique_name(params["name"], self._app_names(), APPLICATION, None)
        tags = dict(params.get("tags") or {})
        self._check_tags(tags)
        app_id = "app-" + self.b.ids.alnum(17)
        now = self._now()
        app = ApplicationRecord(
            application_id=app_id,
            arn=self.b.arn("application", app_id),
            name=params["name"],
            description=params.get("description"),
            tags=tags,
            created_at=now,
            modified_at=now,
        )
        self.b.applications[app_id] = app
        return self.view_application(app)

    def update_application(self, params: Params) -> dict[str, Any]:
        app = self._application(params["applicationID"])
        self._check_editable(app.application_id, APPLICATION, app.is_archived)
        if "name" in params:
            self._check_unique_name(params["name"], self._app_names(), APPLICATION, app.application_id)
            app.name = params["name"]
        if "description" in params:
            app.description = params["description"]
        app.modified_at = self._now()
        return self.view_application(app)

    def delete_application(self, params: Params) -> dict[str, Any]:
        app = self._application(params["applicationID"])
        servers = [s.server_id for s in self.b.servers.values() if s.application_id == app.application_id]
        if servers:
            raise ConflictError(
                f"Application {app.application_id} still has {len(servers)} source server(s); "
                "disassociate them first",
                resource_id=app.application_id,
                resource_type=APPLICATION,
                errors=[
                    _problem(
                        s,
                        SOURCE_SERVER,
                        "SOURCE_SERVER_IN_APPLICATION",
                        f"{s} belongs to {app.application_id}",
                    )
                    for s in servers
                ],
            )
        del self.b.applications[app.application_id]
        return {}

    def list_applications(self, params: Params) -> dict[str, Any]:
        f = params.get("filters") or {}
        apps = list(self.b.applications.values())
        if f.get("applicationIDs"):
            wanted = set(f["applicationIDs"])
            apps = [a for a in apps if a.application_id in wanted]
        if f.get("waveIDs"):
            waves = set(f["waveIDs"])
            apps = [a for a in apps if a.wave_id in waves]
        if f.get("isArchived") is not None:
            apps = [a for a in apps if a.is_archived == f["isArchived"]]
        page = self._page(apps, params)
        members = self._members()
        page["items"] = [self.view_application(a, members) for a in page["items"]]
        return page

    def _set_application_archived(self, params: Params, archived: bool) -> dict[str, Any]:
        app = self._application(params["applicationID"])
        if app.is_archived != archived:
            app.is_archived = archived
            app.modified_at = self._now()
        return self.view_application(app)

    def archive_application(self, params: Params) -> dict[str, Any]:
        return self._set_application_archived(params, True)

    def unarchive_application(self, params: Params) -> dict[str, Any]:
        return self._set_application_archived(params, False)

    # ---- associations ---------------------------------------------------------------------------

    def associate_source_servers(self, params: Params) -> dict[str, Any]:
        app = self._application(params["applicationID"])
        servers = self._servers(params["sourceServerIDs"])
        self._check_editable(app.application_id, APPLICATION, app.is_archived)
        problems = []
        for server in servers:
            sid = server.server_id
            if server.is_archived:
                problems.append(_problem(sid, SOURCE_SERVER, "SOURCE_SERVER_ARCHIVED", f"{sid} is archived"))
            elif server.application_id not in (None, app.application_id):
                problems.append(
                    _problem(
                        sid,
                        SOURCE_SERVER,
                        "SOURCE_SERVER_IN_ANOTHER_APPLICATION",
                        f"{sid} already belongs to application {server.application_id}; disassociate it first",
                    )
                )
        _refuse(problems, "source servers cannot join this application")
        limit = self.b.quotas.max_servers_per_application
        current = sum(1 for s in self.b.servers.values() if s.application_id == app.application_id)
        joining = [s for s in servers if s.application_id != app.application_id]
        if current + len(joining) > limit:
            raise QuotaExceededError(
                f"Application {app.application_id} can hold at most {limit} source servers "
                f"({current} associated, {len(joining)} more requested)",
                SERVERS_PER_APPLICATION_QUOTA_CODE,
                limit,
                resource_type=APPLICATION,
            )
        for server in joining:
            server.application_id = app.application_id
        if joining:
            app.modified_at = self._now()
        return {}

    def disassociate_source_servers(self, params: Params) -> dict[str, Any]:
        app = self._application(params["applicationID"])
        servers = self._servers(params["sourceServerIDs"])
        self._check_editable(app.application_id, APPLICATION, app.is_archived)
        problems = [
            _problem(
                s.server_id,
                SOURCE_SERVER,
                "SOURCE_SERVER_NOT_IN_APPLICATION",
                f"{s.server_id} does not belong to application {app.application_id}",
            )
            for s in servers
            if s.application_id != app.application_id
        ]
        _refuse(problems, "source servers do not belong to this application")
        for server in servers:
            server.application_id = None
        app.modified_at = self._now()
        return {}

    def _applications(self, ids: Iterable[str]) -> list[ApplicationRecord]:
        return [self._application(a) for a in dict.fromkeys(ids)]

    def associate_applications(self, params: Params) -> dict[str, Any]:
        wave = self._wave(params["waveID"])
        apps = self._applications(params["applicationIDs"])
        self._check_editable(wave.wave_id, WAVE, wave.is_archived)
        problems = []
        for app in apps:
            aid = app.application_id
            if app.is_archived:
                problems.append(
                    _problem(aid, APPLICATION, "APPLICATION_ARCHIVED", f"Application {aid} is archived")
                )
            elif app.wave_id not in (None, wave.wave_id):
                problems.append(
                    _problem(
                        aid,
                        APPLICATION,
                        "APPLICATION_IN_ANOTHER_WAVE",
                        f"Application {aid} already belongs to wave {app.wave_id}; disassociate it first",
                    )
                )
        _refuse(problems, "applications cannot join this wave")
        joining = [a for a in apps if a.wave_id != wave.wave_id]
        for app in joining:
            app.wave_id = wave.wave_id
            app.modified_at = self._now()
        if joining:
            wave.modified_at = self._now()
        return {}

    def disassociate_applications(self, params: Params) -> dict[str, Any]:
        wave = self._wave(params["waveID"])
        apps = self._applications(params["applicationIDs"])
        self._check_editable(wave.wave_id, WAVE, wave.is_archived)
        problems = [
            _problem(
                a.application_id,
                APPLICATION,
                "APPLICATION_NOT_IN_WAVE",
                f"Application {a.application_id} does not belong to wave {wave.wave_id}",
            )
            for a in apps
            if a.wave_id != wave.wave_id
        ]
        _refuse(problems, "applications do not belong to this wave")
        for app in apps:
            app.wave_id = None
            app.modified_at = self._now()
        wave.modified_at = self._now()
        return {}
