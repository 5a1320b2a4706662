"""A grouping resource of MGN, written once: waves group applications, applications group source servers.

Both kinds answer the same operations (create, update, delete, list, archive, unarchive, associate and
disassociate members) with the same rules, worded for their kind (``applications.py`` lists the
rules and builds the two kinds). A ``Grouping`` is one kind's handlers; ``Members`` is how a group
reaches the records it groups.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from localcloud.mgn.errors import ConflictError, NotFoundError, QuotaExceededError

if TYPE_CHECKING:
    from localcloud.mgn.backend import MgnBackend

Params = dict[str, Any]
Page = Callable[[list[Any], Params], dict[str, Any]]


@dataclass
class GroupRecord:
    """One wave or application. ``parent_id`` is the group holding this one (an application's wave)."""

    group_id: str
    arn: str
    name: str
    created_at: datetime
    modified_at: datetime
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    is_archived: bool = False
    parent_id: str | None = None


@dataclass(frozen=True)
class GroupKind:
    """What differs between waves and applications in their requests and messages."""

    resource_type: str  # "WAVE": ConflictException's resourceType, and the kind's word in messages
    arn_kind: str  # "wave": the ARN's resource part
    id_prefix: str  # "wave-"
    id_member: str  # "waveID": the request member naming the group
    ids_filter: str  # "waveIDs": the list filter of group ids
    parent_filter: str | None = None  # "waveIDs" for applications: the list filter on parent_id

    @property
    def noun(self) -> str:
        return self.resource_type.lower()

    @property
    def title(self) -> str:
        return self.resource_type.capitalize()


@dataclass(frozen=True)
class MemberQuota:
    """How many members one group may hold (applications: 200 servers), and the quota's code."""

    code: str
    limit: Callable[[], int]


class Members[M](ABC):
    """How a group reaches its members: which exist, which group each is in, moving one."""

    resource_type: str  # "SOURCE_SERVER"
    plural: str  # "source servers"
    ids_member: str  # "sourceServerIDs": the request member listing them

    def counted(self) -> str:
        """The members' word after a count: "source server(s)"."""
        return f"{self.plural.removesuffix('s')}(s)"

    @abstractmethod
    def label(self, member_id: str) -> str:
        """How messages name a member: its id, or "Application app-..."."""

    @abstractmethod
    def find(self, ids: Iterable[str]) -> list[M]:
        """The members with these ids, a repeated id once; NotFoundError for an unknown one."""

    @abstractmethod
    def all(self) -> Iterable[M]: ...

    @abstractmethod
    def id_of(self, member: M) -> str: ...

    @abstractmethod
    def group_of(self, member: M) -> str | None: ...

    @abstractmethod
    def is_archived(self, member: M) -> bool: ...

    @abstractmethod
    def move(self, member: M, group_id: str | None, now: datetime) -> None:
        """Put the member in ``group_id`` (None: in no group)."""


def problem(resource_id: str, resource_type: str, code: str, message: str) -> dict[str, str]:
    """One entry of ConflictException.errors."""
    return {"code": code, "message": message, "resourceId": resource_id, "resourceType": resource_type}


def refuse(problems: list[dict[str, str]], summary: str) -> None:
    """All or nothing: any problem refuses the whole request, naming the first."""
    if problems:
        first = problems[0]
        raise ConflictError(
            first["message"] if len(problems) == 1 else f"{len(problems)} {summary}",
            resource_id=first["resourceId"],
            resource_type=first["resourceType"],
            errors=problems,
        )


class Grouping[R: GroupRecord, M]:
    """The operation handlers of one kind of group over its records (see ``applications.py``)."""

    def __init__(
        self,
        backend: MgnBackend,
        kind: GroupKind,
        record_type: type[R],
        records: dict[str, R],
        members: Members[M],
        views: Callable[[list[R]], list[dict[str, Any]]],
        *,
        page: Page,
        check_tags: Callable[[dict[str, str]], None],
        member_quota: MemberQuota | None = None,
    ) -> None:
        self.b = backend
        self.kind = kind
        self.record_type = record_type
        self.records = records
        self.members = members
        self._views = views
        self._page = page
        self._check_tags = check_tags
        self.member_quota = member_quota

    # ---- lookups and checks ------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.b.clock.now()

    def get(self, group_id: str) -> R:
        record = self.records.get(group_id)
        if record is None:
            raise NotFoundError(
                f"{self.kind.title} {group_id} not found",
                resource_id=group_id,
                resource_type=self.kind.resource_type,
            )
        return record

    def find(self, ids: Iterable[str]) -> list[R]:
        return [self.get(group_id) for group_id in dict.fromkeys(ids)]  # a repeated id counts once

    def view(self, record: R) -> dict[str, Any]:
        return self._views([record])[0]

    def _check_unique_name(self, name: str, own_id: str | None) -> None:
        # MGN compares application names case-insensitively; the emulator does the same for waves.
        for other in self.records.values():
            if other.group_id != own_id and other.name.casefold() == name.casefold():
                raise ConflictError(
                    f"A {self.kind.noun} named {other.name!r} already exists ({other.group_id})",
                    resource_id=other.group_id,
                    resource_type=self.kind.resource_type,
                )

    def _check_editable(self, record: R) -> None:
        if record.is_archived:
            raise ConflictError(
                f"{self.kind.title} {record.group_id} is archived; unarchive it first",
                resource_id=record.group_id,
                resource_type=self.kind.resource_type,
            )

    # ---- the group itself --------------------------------------------------------------------

    def create(self, params: Params) -> dict[str, Any]:
        self._check_unique_name(params["name"], None)
        tags = dict(params.get("tags") or {})
        self._check_tags(tags)
        group_id = self.kind.id_prefix + self.b.ids.alnum(17)
        now = self._now()
        record = self.record_type(
            group_id=group_id,
            arn=self.b.arn(self.kind.arn_kind, group_id),
            name=params["name"],
            description=params.get("description"),
            tags=tags,
            created_at=now,
            modified_at=now,
        )
        self.records[group_id] = record
        return self.view(record)

    def update(self, params: Params) -> dict[str, Any]:
        record = self.get(params[self.kind.id_member])
        self._check_editable(record)
        if "name" in params:
            self._check_unique_name(params["name"], record.group_id)
            record.name = params["name"]
        if "description" in params:
            record.description = params["description"]
        record.modified_at = self._now()
        return self.view(record)

    def delete(self, params: Params) -> dict[str, Any]:
        record = self.get(params[self.kind.id_member])
        group_id = record.group_id
        held = [self.members.id_of(m) for m in self.members.all() if self.members.group_of(m) == group_id]
        if held:
            member_type = self.members.resource_type
            raise ConflictError(
                f"{self.kind.title} {group_id} still has {len(held)} {self.members.counted()}; "
                "disassociate them first",
                resource_id=group_id,
                resource_type=self.kind.resource_type,
                errors=[
                    problem(
                        member_id,
                        member_type,
                        f"{member_type}_IN_{self.kind.resource_type}",
                        f"{self.members.label(member_id)} belongs to {group_id}",
                    )
                    for member_id in held
                ],
            )
        del self.records[group_id]
        return {}

    def list(self, params: Params) -> dict[str, Any]:
        filters = params.get("filters") or {}
        records = list(self.records.values())
        if filters.get(self.kind.ids_filter):
            wanted = set(filters[self.kind.ids_filter])
            records = [r for r in records if r.group_id in wanted]
        parent_filter = self.kind.parent_filter
        if parent_filter is not None and filters.get(parent_filter):
            parents = set(filters[parent_filter])
            records = [r for r in records if r.parent_id in parents]
        if filters.get("isArchived") is not None:
            records = [r for r in records if r.is_archived == filters["isArchived"]]
        page = self._page(records, params)
        page["items"] = self._views(page["items"])
        return page

    def _set_archived(self, params: Params, archived: bool) -> dict[str, Any]:
        record = self.get(params[self.kind.id_member])
        if record.is_archived != archived:
            record.is_archived = archived
            record.modified_at = self._now()
        return self.view(record)

    def archive(self, params: Params) -> dict[str, Any]:
        return self._set_archived(params, True)

    def unarchive(self, params: Params) -> dict[str, Any]:
        return self._set_archived(params, False)

    # ---- its members -------------------------------------------------------------------------

    def associate(self, params: Params) -> dict[str, Any]:
        record = self.get(params[self.kind.id_member])
        members = self.members.find(params[self.members.ids_member])
        self._check_editable(record)
        group_id, kind, member_type = record.group_id, self.kind, self.members.resource_type
        problems = []
        for member in members:
            member_id, current = self.members.id_of(member), self.members.group_of(member)
            label = self.members.label(member_id)
            if self.members.is_archived(member):
                problems.append(
                    problem(member_id, member_type, f"{member_type}_ARCHIVED", f"{label} is archived")
                )
            elif current not in (None, group_id):
                problems.append(
                    problem(
                        member_id,
                        member_type,
                        f"{member_type}_IN_ANOTHER_{kind.resource_type}",
                        f"{label} already belongs to {kind.noun} {current}; disassociate it first",
                    )
                )
        refuse(problems, f"{self.members.plural} cannot join this {kind.noun}")
        joining = [m for m in members if self.members.group_of(m) != group_id]
        self._check_member_quota(record, len(joining))
        for member in joining:
            self.members.move(member, group_id, self._now())
        if joining:
            record.modified_at = self._now()
        return {}

    def _check_member_quota(self, record: R, joining: int) -> None:
        if self.member_quota is None:
            return
        limit = self.member_quota.limit()
        current = sum(1 for m in self.members.all() if self.members.group_of(m) == record.group_id)
        if current + joining > limit:
            raise QuotaExceededError(
                f"{self.kind.title} {record.group_id} can hold at most {limit} {self.members.plural} "
                f"({current} associated, {joining} more requested)",
                self.member_quota.code,
                limit,
                resource_type=self.kind.resource_type,
            )

    def disassociate(self, params: Params) -> dict[str, Any]:
        record = self.get(params[self.kind.id_member])
        members = self.members.find(params[self.members.ids_member])
        self._check_editable(record)
        group_id, kind, member_type = record.group_id, self.kind, self.members.resource_type
        problems = [
            problem(
                self.members.id_of(m),
                member_type,
                f"{member_type}_NOT_IN_{kind.resource_type}",
                f"{self.members.label(self.members.id_of(m))} does not belong to {kind.noun} {group_id}",
            )
            for m in members
            if self.members.group_of(m) != group_id
        ]
        refuse(problems, f"{self.members.plural} do not belong to this {kind.noun}")
        for member in members:
            self.members.move(member, None, self._now())
        record.modified_at = self._now()
        return {}
