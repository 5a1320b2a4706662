"""Tags of MGN's resources (source servers, jobs, templates, waves, applications) and their rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from localcloud.mgn.errors import NotFoundError, ValidationError
from localcloud.mgn.model_validation import FieldProblem

if TYPE_CHECKING:
    from localcloud.mgn.backend import MgnBackend

MAX_TAGS = 50

Params = dict[str, Any]


class _Tagged(Protocol):
    tags: dict[str, str]


def check_tags(tags: dict[str, str], field: str = "tags") -> None:
    """ValidationException for reserved keys (aws:...) or more than MAX_TAGS tags."""
    problems = [
        FieldProblem(f"{field}.{k}", "tag keys starting with aws: are reserved")
        for k in tags
        if k.lower().startswith("aws:")
    ]
    if len(tags) > MAX_TAGS:
        problems.append(FieldProblem(field, f"a resource can have at most {MAX_TAGS} tags"))
    if problems:
        raise ValidationError("Invalid tags", problems)


class TagsApi:
    """TagResource, UntagResource and ListTagsForResource over one backend (see ``operations``)."""

    def __init__(self, backend: MgnBackend) -> None:
        self.b = backend
        self.operations: dict[str, Callable[[Params], dict[str, Any]]] = {
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource,
        }

    def _tags_of(self, arn: str) -> dict[str, str]:
        resource = arn.rsplit("/", 1)[-1]
        if arn == self.b.arn("replication-configuration-template", resource) and resource in self.b.templates:
            tags: dict[str, str] = self.b.templates[resource].setdefault("tags", {})
            return tags
        tagged: dict[str, Mapping[str, _Tagged]] = {
            "source-server": self.b.servers,
            "job": self.b.jobs,
            "wave": self.b.waves,
            "application": self.b.applications,
        }
        for kind, records in tagged.items():
            if arn == self.b.arn(kind, resource) and resource in records:
                return records[resource].tags
        raise NotFoundError(f"Resource {arn} not found", resource_id=arn)

    def tag_resource(self, params: Params) -> dict[str, Any]:
        tags = self._tags_of(params["resourceArn"])
        check_tags({**tags, **params["tags"]})
        tags.update(params["tags"])
        return {}

    def untag_resource(self, params: Params) -> dict[str, Any]:
        tags = self._tags_of(params["resourceArn"])
        for key in params["tagKeys"]:
            tags.pop(key, None)
        return {}

    def list_tags_for_resource(self, params: Params) -> dict[str, Any]:
        return {"tags": dict(self._tags_of(params["resourceArn"]))}
