"""The MGN operations the emulator answers. Each takes validated request params, returns the output.

Quota decisions (why ConflictException rather than ServiceQuotaExceededException): botocore's
model declares only Uninitialized/Validation/Conflict errors for StartTest, StartCutover and
TerminateTargetInstances, so a job that would break the concurrency quotas (20 active jobs,
200 servers across active jobs, 1 active job per server) is refused with ConflictException
naming the quota; more than 200 servers in one request breaks the model's list maximum and is
a ValidationException before any of this runs.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any

from localcloud.mgn import lifecycle
from localcloud.mgn.applications import ApplicationsApi
from localcloud.mgn.backend import MgnBackend
from localcloud.mgn.errors import ConflictError, NotFoundError, ValidationError
from localcloud.mgn.jobs import JobRecord
from localcloud.mgn.model_validation import FieldProblem
from localcloud.mgn.server_state import ServerRecord
from localcloud.mgn.tags import TagsApi, check_tags
from localcloud.mgn.util import iso, parse_iso

MAX_ACTIVE_JOBS = 20
MAX_SERVERS_IN_ACTIVE_JOBS = 200

Params = dict[str, Any]
Operation = Callable[[Params], dict[str, Any]]

# Request members that identify the call rather than configure the resource.
_NOT_SETTINGS = {"sourceServerID", "accountID", "replicationConfigurationTemplateID", "arn", "tags"}


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str) -> int:
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "offset" and number.isdigit():
            return int(number)
    except (ValueError, UnicodeDecodeError):
        pass
    raise ValidationError("Invalid nextToken", [FieldProblem("nextToken", "not a token this service issued")])


class MgnApi:
    """Operation handlers over one backend. ``operations`` maps model operation names to them."""

    def __init__(self, backend: MgnBackend, default_page_size: int) -> None:
        self.b = backend
        self.default_page_size = default_page_size
        self.operations: dict[str, Operation] = {
            "InitializeService": self.initialize_service,
            "DescribeSourceServers": self.describe_source_servers,
            "GetReplicationConfiguration": self.get_replication_configuration,
            "UpdateReplicationConfiguration": self.update_replication_configuration,
            "DescribeReplicationConfigurationTemplates": self.describe_replication_configuration_templates,
            "CreateReplicationConfigurationTemplate": self.create_replication_configuration_template,
            "UpdateReplicationConfigurationTemplate": self.update_replication_configuration_template,
            "GetLaunchConfiguration": self.get_launch_configuration,
            "UpdateLaunchConfiguration": self.update_launch_configuration,
            "StartTest": self.start_test,
            "StartCutover": self.start_cutover,
            "ChangeServerLifeCycleState": self.change_server_life_cycle_state,
            "FinalizeCutover": self.finalize_cutover,
            "TerminateTargetInstances": self.terminate_target_instances,
            "DescribeJobs": self.describe_jobs,
            "DescribeJobLogItems": self.describe_job_log_items,
            "MarkAsArchived": self.mark_as_archived,
            "DisconnectFromService": self.disconnect_from_service,
            "DeleteSourceServer": self.delete_source_server,
        }
        self.applications = ApplicationsApi(backend, self._page, check_tags)
        self.operations.update(self.applications.operations)
        self.operations.update(TagsApi(backend).operations)

    # ---- helpers -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.b.clock.now()

    def _server(self, params: Params) -> ServerRecord:
        sid = params["sourceServerID"]
        server = self.b.servers.get(sid)
        if server is None:
            raise NotFoundError(
                f"Source server {sid} not found", resource_id=sid, resource_type="SOURCE_SERVER"
            )
        return server

    def _page(self, items: list[Any], params: Params) -> dict[str, Any]:
        start = _decode_token(params["nextToken"]) if params.get("nextToken") else 0
        size = params.get("maxResults") or self.default_page_size
        page = items[start : start + size]
        out: dict[str, Any] = {"items": page}
        if start + size < len(items):
            out["nextToken"] = _encode_token(start + size)
        return out

    @staticmethod
    def _check_encryption(settings: Params, current: Params | None = None) -> None:
        merged = {**(current or {}), **settings}
        if merged.get("ebsEncryption") == "CUSTOM" and not merged.get("ebsEncryptionKeyArn"):
            raise ValidationError(
                "ebsEncryptionKeyArn is required when ebsEncryption is CUSTOM",
                [FieldProblem("ebsEncryptionKeyArn", "required when ebsEncryption is CUSTOM")],
            )

    # ---- service and source servers --------------------------------------------------------

    def initialize_service(self, params: Params) -> dict[str, Any]:
        self.b.initialized = True
        self.b.default_template()  # InitializeService creates the default templates
        return {}

    def describe_source_servers(self, params: Params) -> dict[str, Any]:
        f = params.get("filters") or {}
        servers = list(self.b.servers.values())
        if f.get("sourceServerIDs"):
            wanted = set(f["sourceServerIDs"])
            servers = [s for s in servers if s.server_id in wanted]
        if f.get("isArchived") is not None:
            servers = [s for s in servers if s.is_archived == f["isArchived"]]
        if f.get("lifeCycleStates"):
            servers = [s for s in servers if s.lifecycle in f["lifeCycleStates"]]
        if f.get("replicationTypes"):
            servers = [s for s in servers if "AGENT_BASED" in f["replicationTypes"]]
        if f.get("applicationIDs"):
            apps = set(f["applicationIDs"])
            servers = [s for s in servers if s.application_id in apps]
        page = self._page(servers, params)
        now = self._now()
        page["items"] = [s.view(now) for s in page["items"]]
        return page

    def mark_as_archived(self, params: Params) -> dict[str, Any]:
        server = self._server(params)
        lifecycle.check_archive(server)
        server.is_archived = True
        self.b.replication.release_slot(server)  # an archived server no longer counts as replicating
        return server.view(self._now())

    def disconnect_from_service(self, params: Params) -> dict[str, Any]:
        server = self._server(params)
        lifecycle.check_disconnect(server)
        if server.replicating:
            self.b.replication.disconnect(server)
        if server.lifecycle != "CUTOVER":
            server.lifecycle = "DISCONNECTED"
        return server.view(self._now())

    def delete_source_server(self, params: Params) -> dict[str, Any]:
        server = self._server(params)
        lifecycle.check_delete(server)
        del self.b.servers[server.server_id]
        return {}

    # ---- replication configuration ---------------------------------------------------------

    def get_replication_configuration(self, params: Params) -> dict[str, Any]:
        return self._server(params).replication_view()

    def update_replication_configuration(self, params: Params) -> dict[str, Any]:
        server = self._server(params)
        if server.is_archived or not server.replicating:
            raise lifecycle.conflict(
                server,
                f"Cannot update replication of {server.server_id}: it is "
                f"{'archived' if server.is_archived else 'disconnected'}",
            )
        settings = {k: v for k, v in params.items() if k not in _NOT_SETTINGS}
        self._check_encryption(settings, server.replication)
        if "stagingAreaTags" in settings:
            check_tags(settings["stagingAreaTags"], "stagingAreaTags")
        known = {d["deviceName"] for d in server.disks}
        bad = [
            FieldProblem(
                f"replicatedDisks[{i}].deviceName", f"{d.get('deviceName')!r} is not a disk of this server"
            )
            for i, d in enumerate(settings.get("replicatedDisks") or [])
            if d.get("deviceName") not in known
        ]
        if bad:
            raise ValidationError("Unknown replicated disk", bad)
        before = dict(server.replication)
        server.replication.update(settings)
        self.b.replication.configuration_changed(server, before)
        return server.replication_view()

    def describe_replication_configuration_templates(self, params: Params) -> dict[str, Any]:
        templates = list(self.b.templates.values())
        ids = params.get("replicationConfigurationTemplateIDs")
        if ids:
            missing = [i for i in ids if i not in self.b.templates]
            if missing:
                raise NotFoundError(
                    f"Replication configuration template {missing[0]} not found",
                    resource_id=missing[0],
                    resource_type="REPLICATION_CONFIGURATION_TEMPLATE",
                )
            templates = [t for t in templates if t["replicationConfigurationTemplateID"] in ids]
        page = self._page(templates, params)
        page["items"] = [dict(t) for t in page["items"]]
        return page

    def create_replication_configuration_template(self, params: Params) -> dict[str, Any]:
        self._check_encryption(params)
        check_tags(params.get("tags") or {})
        check_tags(params["stagingAreaTags"], "stagingAreaTags")
        settings = {k: v for k, v in params.items() if k != "tags"}
        template = self.b.create_template(settings)
        template["tags"] = dict(params.get("tags") or {})
        return dict(template)

    def update_replication_configuration_template(self, params: Params) -> dict[str, Any]:
        template_id = params["replicationConfigurationTemplateID"]
        template = self.b.templates.get(template_id)
        if template is None:
            raise NotFoundError(
                f"Replication configuration template {template_id} not found",
                resource_id=template_id,
                resource_type="REPLICATION_CONFIGURATION_TEMPLATE",
            )
        if params.get("arn") and params["arn"] != template["arn"]:
            raise ValidationError(
                "arn does not match replicationConfigurationTemplateID",
                [FieldProblem("arn", "does not match the template")],
            )
        settings = {k: v for k, v in params.items() if k not in _NOT_SETTINGS}
        self._check_encryption(settings, template)
        if "stagingAreaTags" in settings:
            check_tags(settings["stagingAreaTags"], "stagingAreaTags")
        template.update(settings)  # only servers added later copy the template, as in MGN
        return dict(template)

    # ---- launch configuration --------------------------------------------------------------

    def get_launch_configuration(self, params: Params) -> dict[str, Any]:
        return self._server(params).launch_view()

    def update_launch_configuration(self, params: Params) -> dict[str, Any]:
        server = self._server(params)
        if server.active_job_id:
            raise lifecycle.conflict(
                server, f"{server.server_id} participates in active job {server.active_job_id}"
            )
        settings = {k: v for k, v in params.items() if k not in _NOT_SETTINGS}
        server.launch.update(settings)
        return server.launch_view()

    # ---- launches ----------------------------------------------------------------------------

    def _check_job_request(
        self, ids: list[str], problem: Callable[[ServerRecord], dict[str, str] | None]
    ) -> None:
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValidationError(
                "Duplicate source server IDs",
                [FieldProblem("sourceServerIDs", f"{d} appears more than once") for d in duplicates],
            )
        errors = []
        for sid in ids:
            server = self.b.servers.get(sid)
            detail = (
                lifecycle.problem_detail(sid, "SOURCE_SERVER_NOT_FOUND", f"Source server {sid} not found")
                if server is None
                else problem(server)
            )
            if detail:
                errors.append(detail)
        if errors:
            first = errors[0]
            raise ConflictError(
                first["message"]
                if len(errors) == 1
                else f"{len(errors)} source servers cannot take part in this job",
                resource_id=first["resourceId"],
                resource_type="SOURCE_SERVER",
                errors=errors,
            )
        active = self.b.active_jobs()
        if len(active) >= MAX_ACTIVE_JOBS:
            raise ConflictError(
                f"Quota reached: at most {MAX_ACTIVE_JOBS} concurrent jobs per Region ({len(active)} active)",
                resource_type="JOB",
            )
        busy = sum(len(j.server_ids) for j in active)
        if busy + len(ids) > MAX_SERVERS_IN_ACTIVE_JOBS:
            raise ConflictError(
                f"Quota reached: at most {MAX_SERVERS_IN_ACTIVE_JOBS} source servers across all "
                f"active jobs ({busy} active, {len(ids)} requested)",
                resource_type="JOB",
            )

    def _start_launch(self, params: Params, test: bool) -> dict[str, Any]:
        ids = params["sourceServerIDs"]
        allowed = lifecycle.START_TEST_FROM if test else lifecycle.START_CUTOVER_FROM
        action = "launch test instances for" if test else "launch cutover instances for"
        self._check_job_request(ids, lambda s: lifecycle.launch_problem(s, allowed, action))
        tags = params.get("tags") or {}
        check_tags(tags)
        job = self.b.new_job("LAUNCH", "START_TEST" if test else "START_CUTOVER", ids, tags)
        initiated = {"initiated": {"apiCallDateTime": iso(self._now()), "jobID": job.job_id}}
        for sid in ids:
            server = self.b.servers[sid]
            server.lifecycle_before_launch = server.lifecycle
            if test:
                server.lifecycle, server.last_test = "TESTING", dict(initiated)
            else:
                server.lifecycle, server.last_cutover = "CUTTING_OVER", dict(initiated)
        self.b.runner.start_launch(job)
        return {"job": job.view()}

    def start_test(self, params: Params) -> dict[str, Any]:
        return self._start_launch(params, test=True)

    def start_cutover(self, params: Params) -> dict[str, Any]:
        return self._start_launch(params, test=False)

    def terminate_target_instances(self, params: Params) -> dict[str, Any]:
        ids = params["sourceServerIDs"]
        self._check_job_request(ids, lifecycle.terminate_problem)
        tags = params.get("tags") or {}
        check_tags(tags)
        job = self.b.new_job("TERMINATE", "TERMINATE", ids, tags)
        for sid in ids:
            job.instance_ids[sid] = self.b.servers[sid].launched_instance["ec2InstanceID"]  # type: ignore[index]
        self.b.runner.start_terminate(job)
        return {"job": job.view()}

    def change_server_life_cycle_state(self, params: Params) -> dict[str, Any]:
        server = self._server(params)
        target = params["lifeCycle"]["state"]
        lifecycle.check_change_state(server, target)
        stamp = {"apiCallDateTime": iso(self._now())}
        if target == "READY_FOR_TEST" and server.lifecycle == "TESTING":
            server.last_test["reverted"] = stamp
        elif target == "READY_FOR_CUTOVER" and server.lifecycle == "TESTING":
            server.last_test["finalized"] = stamp
        elif target == "READY_FOR_CUTOVER" and server.lifecycle == "CUTTING_OVER":
            server.last_cutover["reverted"] = stamp
        server.lifecycle = target
        return server.view(self._now())

    def finalize_cutover(self, params: Params) -> dict[str, Any]:
        server = self._server(params)
        lifecycle.check_finalize(server)
        server.lifecycle = "CUTOVER"
        server.last_cutover["finalized"] = {"apiCallDateTime": iso(self._now())}
        self.b.replication.disconnect(server)
        return server.view(self._now())

    # ---- jobs ----------------------------------------------------------------------------------

    def describe_jobs(self, params: Params) -> dict[str, Any]:
        f = params.get("filters") or {}
        jobs: list[JobRecord] = list(self.b.jobs.values())
        if f.get("jobIDs"):
            wanted = set(f["jobIDs"])
            jobs = [j for j in jobs if j.job_id in wanted]
        if f.get("fromDate"):
            start = parse_iso(f["fromDate"])
            jobs = [j for j in jobs if j.created_at >= start]
        if f.get("toDate"):
            end = parse_iso(f["toDate"])
            jobs = [j for j in jobs if j.created_at <= end]
        # "The response is sorted by creationDateTime - latest date first" (DescribeJobs in
        # botocore's MGN model); jobs of the same second come newest first too.
        order = {j.job_id: n for n, j in enumerate(jobs)}
        jobs.sort(key=lambda j: (j.created_at, order[j.job_id]), reverse=True)
        page = self._page(jobs, params)
        page["items"] = [j.view() for j in page["items"]]
        return page

    def describe_job_log_items(self, params: Params) -> dict[str, Any]:
        job = self.b.jobs.get(params["jobID"])
        page = self._page(job.log if job else [], params)
        page["items"] = [
            dict(i, **({"eventData": dict(i["eventData"])} if "eventData" in i else {}))
            for i in page["items"]
        ]
        return page
