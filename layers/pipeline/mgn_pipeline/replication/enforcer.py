"""Keeping every in-scope server, and the replication templates, on private replication settings.

Field-by-field: read, compare with the policy, write only what differs. An already compliant
account gets reads and no writes; a duplicated or replayed event finds nothing to do. Each
repair is appended to the audit trail, counted, and told to a person.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from mgn_pipeline.replication.launch_policy import LaunchPolicy, LaunchViolationMode
from mgn_pipeline.replication.policy import FieldDrift, ReplicationPolicy
from mgn_pipeline.shared.aws.audit import AuditRecord, AuditTrail
from mgn_pipeline.shared.aws.launch_configurations import RememberedLaunchConfigurations
from mgn_pipeline.shared.aws.launch_templates import LaunchTemplates
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.aws.notifier import Notifier, server_line
from mgn_pipeline.shared.errors import MgnRequestRejectedError
from mgn_pipeline.shared.observability import logger, metrics
from mgn_pipeline.shared.scope import Scope
from mgn_pipeline.shared.server import LifeCycleState, SourceServer
from mgn_pipeline.shared.trigger import Trigger

# The throttle the link budget planned for a server, given the one MGN has now (None: no plan).
ThrottlePlan = Callable[[SourceServer, int], "int | None"]

# MGN ignores replication settings of servers that no longer replicate; writing them is noise.
_NOT_REPLICATING = {LifeCycleState.CUTOVER, LifeCycleState.DISCONNECTED, LifeCycleState.STOPPED}

# What a created template gets beyond the policy (MGN requires every one of these fields).
_NEW_TEMPLATE_DEFAULTS: dict[str, Any] = {
    "replicationServerInstanceType": "t3.small",
    "useDedicatedReplicationServer": False,
    "defaultLargeStagingDiskType": "GP3",
    "bandwidthThrottling": 0,
    "stagingAreaTags": {},
}


class SettingsEnforcer:
    def __init__(
        self,
        gateway: MgnGateway,
        launch_configurations: RememberedLaunchConfigurations,
        launch_templates: Callable[[], LaunchTemplates],
        policy: ReplicationPolicy,
        launch_policy: LaunchPolicy,
        scope: Scope,
        audit: AuditTrail,
        notifier: Callable[[], Notifier],
        now: Callable[[], datetime],
        throttle_plan: ThrottlePlan | None = None,
    ) -> None:
        """``throttle_plan``: with a link budget, the throttle each server should have (None: none)."""
        self._mgn = gateway
        self._throttle_plan = throttle_plan
        self._launch_configurations = launch_configurations
        self._launch_templates = launch_templates
        self._policy = policy
        self._launch_policy = launch_policy
        self._scope = scope
        self._audit = audit
        self._notifier = notifier
        self._now = now

    # ------------------------------------------------------------------ servers
    def enforce_server(self, server: SourceServer, trigger: Trigger) -> str:
        """Repair the server's replication and launch settings. Returns what it did, in words."""
        if server.is_archived or server.lifecycle in _NOT_REPLICATING:
            return "not replicating: settings left alone"
        if not self._scope.includes(server.tags):
            return "out of scope: settings left alone"
        done = [self._enforce_replication(server, trigger), self._enforce_launch(server, trigger)]
        return "; ".join(done)

    def enforce_launch_template(self, server: SourceServer, trigger: Trigger) -> str:
        """Only the EC2 launch template (EC2 reads, no MGN call once its id is known): it can be
        edited in EC2 without any MGN API call, so it is checked whenever the server moves on."""
        if server.is_archived or server.lifecycle in _NOT_REPLICATING:
            return "not replicating: settings left alone"
        if not self._scope.includes(server.tags):
            return "out of scope: settings left alone"
        return self._enforce_launch(server, trigger)

    def _enforce_replication(self, server: SourceServer, trigger: Trigger) -> str:
        current = self._mgn.get_replication_configuration(server.server_id)
        drifts = self._policy.drift(current)
        if self._throttle_plan is not None:
            throttle = int(current.get("bandwidthThrottling") or 0)
            planned = self._throttle_plan(server, throttle)
            if planned is not None and planned != throttle:
                drifts.append(FieldDrift("bandwidthThrottling", throttle, planned))
        if not drifts:
            return "replication settings compliant"
        fields = self._policy.update_fields(drifts)
        try:
            self._mgn.update_replication_configuration(server.server_id, fields)
        except MgnRequestRejectedError as exc:
            wave = self._audit.wave_for(server.server_id)
            self._notifier().tell(
                "drift-repair-failed",
                f"MGN refused the private-IP settings for {_name(server)}",
                wave=wave,
                about=server_line(server.server_id, server.hostname, wave),
                happened=[
                    "Its replication settings are off the closed-network policy; the pipeline tried to put",
                    f"them back and MGN rejected the change: {exc}",
                ],
                why=[*_drift_lines(drifts), _found_through(trigger)],
                what_to_do=[
                    "Fix the field MGN names: in the stack parameters (StagingSubnetId,",
                    "ReplicationSecurityGroupIds, EbsKmsKeyArn, StagingAreaTags) if the policy is wrong, or",
                    "in the server's replication settings in the MGN console. Until then the server may",
                    "replicate with the drifted settings; the pipeline tries again at the next reconcile.",
                ],
            )
            raise
        self._record_repair(server.server_id, "replication-settings-repaired", trigger, drifts)
        wave = self._audit.wave_for(server.server_id)
        self._notifier().tell(
            "drift-repaired",
            f"Replication settings drift repaired on {_name(server)}",
            wave=wave,
            about=server_line(server.server_id, server.hostname, wave),
            happened=[
                "Its replication settings were off the closed-network policy; the pipeline put them back:",
                *_drift_lines(drifts),
            ],
            why=[_found_through(trigger)],
            what_to_do=_AFTER_REPAIR,
        )
        return f"replication settings repaired ({', '.join(d.name for d in drifts)})"

    def _enforce_launch(self, server: SourceServer, trigger: Trigger) -> str:
        # On a sign that someone changed the settings, MGN is read again: the post-launch actions
        # remembered with the template id may have changed with them.
        template_id = self._launch_configurations.template_id(
            server.server_id, fresh=trigger.settings_may_have_changed
        )
        if template_id is None:
            return "no launch template yet"
        templates = self._launch_templates()
        version, data = templates.default_version(template_id)
        violations = self._launch_policy.violations(data)
        if not violations:
            return "launch template compliant"
        wave = self._audit.wave_for(server.server_id)
        about = server_line(server.server_id, server.hostname, wave)
        if self._launch_policy.mode is LaunchViolationMode.BLOCK:
            self._record_repair(server.server_id, "launch-template-blocked", trigger, violations)
            self._notifier().tell(
                "launch-blocked",
                f"Launches blocked for {_name(server)}: launch template not private",
                wave=wave,
                about=about,
                happened=[
                    f"Its EC2 launch template {template_id} is off the launch policy; test and cutover",
                    "launches of this server are blocked (LaunchViolationMode=block):",
                    *_drift_lines(violations),
                ],
                why=[_found_through(trigger)],
                what_to_do=[
                    f"Create a version of {template_id} without a public IP, in a subnet of",
                    "AllowedLaunchSubnetIds, and make it the default version. The next reconcile",
                    "(within 5 minutes) sees it and the server's launches go ahead.",
                ],
            )
            return (
                f"launch template violates policy, launches blocked ({', '.join(v.name for v in violations)})"
            )
        repaired = self._launch_policy.repaired(data, violations)
        new_version = templates.replace_default(
            template_id, version, repaired, "mgn-pipeline: no public IP, allowed private subnet"
        )
        self._record_repair(
            server.server_id,
            "launch-template-repaired",
            trigger,
            violations,
            {"launchTemplateId": template_id, "version": new_version},
        )
        self._notifier().tell(
            "drift-repaired",
            f"Launch template repaired for {_name(server)}",
            wave=wave,
            about=about,
            happened=[
                f"Its EC2 launch template {template_id} was off the launch policy; the pipeline made",
                f"version {new_version} without the violations and set it as the default:",
                *_drift_lines(violations),
            ],
            why=[_found_through(trigger)],
            what_to_do=_AFTER_REPAIR,
        )
        return f"launch template repaired (version {new_version})"

    # ------------------------------------------------------------------ templates
    def enforce_templates(self, trigger: Trigger) -> list[str]:
        """Every replication template on policy, so servers installed from now on start compliant."""
        templates = self._mgn.replication_templates()
        if not templates:
            fields = {**_NEW_TEMPLATE_DEFAULTS, **self._policy.template_fields()}
            template_id = self._mgn.create_replication_template(fields)
            self._record_repair(f"template/{template_id}", "replication-template-created", trigger, [])
            return [f"template {template_id} created"]
        outcomes = []
        for template in templates:
            template_id = template["replicationConfigurationTemplateID"]
            drifts = self._policy.template_drift(template)
            if not drifts:
                outcomes.append(f"template {template_id} compliant")
                continue
            self._mgn.update_replication_template(template_id, self._policy.update_fields(drifts))
            self._record_repair(f"template/{template_id}", "replication-template-repaired", trigger, drifts)
            self._notifier().tell(
                "drift-repaired",
                f"Replication template {template_id} drift repaired",
                about=f"Replication configuration template {template_id} (every server installed from now on)",
                happened=[
                    "The template was off the closed-network policy; the pipeline put it back:",
                    *_drift_lines(drifts),
                ],
                why=[_found_through(trigger)],
                what_to_do=_AFTER_REPAIR,
            )
            outcomes.append(f"template {template_id} repaired")
        return outcomes

    # ------------------------------------------------------------------ records
    def _record_repair(
        self,
        subject: str,
        action: str,
        trigger: Trigger,
        drifts: list[FieldDrift],
        details: dict[str, Any] | None = None,
    ) -> None:
        self._audit.append(
            AuditRecord(
                subject=subject,
                action=action,
                trigger=trigger.label,
                actor=trigger.actor,
                reason="drift from the closed-network policy" if drifts else "no template existed",
                before={d.name: d.current for d in drifts},
                after={d.name: d.desired for d in drifts},
                details=details or {},
            ),
            self._now(),
        )
        metrics.add_metric(name="SettingsRepaired", unit=MetricUnit.Count, value=1)
        logger.warning(
            "settings drift handled",
            extra={
                "subject": subject,
                "action": action,
                "changed_by": trigger.actor,
                "drift": [d.describe() for d in drifts],
            },
        )


def _name(server: SourceServer) -> str:
    return server.hostname or server.server_id


def _drift_lines(drifts: list[FieldDrift]) -> list[str]:
    return [f"  - {d.describe()}" for d in drifts]


def _found_through(trigger: Trigger) -> str:
    if trigger.actor:
        return f"Found through {trigger.label}: the change was made by {trigger.actor}."
    return f"Found through {trigger.label} (who made the change is not known: see CloudTrail)."


# A repair needs no action to stay safe; a person decides whether the change was wanted.
_AFTER_REPAIR = [
    "Nothing to undo: replication and launches are private again.",
    "If the change was intended, make it through the stack parameters instead (the pipeline puts",
    "back anything off the policy). If not, ask whoever made it (above; CloudTrail has the call).",
]
