"""What set the pipeline in motion for a server: an event, an API call someone made, or the reconciler."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Trigger:
    # Short cause for logs and records, e.g. "reconciler" or "cloudtrail:UpdateReplicationConfiguration".
    label: str
    # Who made the API call that triggered us, when CloudTrail says so.
    actor: str | None = None
    event_id: str | None = None
    # A periodic sweep (the reconciler), as opposed to a sign that something changed.
    periodic: bool = False
    # Someone other than the pipeline may have changed a server's settings (a CloudTrail write by
    # another principal, a deployment): the guards check them now, not at the next recheck.
    settings_may_have_changed: bool = False

    def __str__(self) -> str:
        return self.label


RECONCILER = Trigger("reconciler", periodic=True)
DEPLOYMENT = Trigger("deployment", settings_may_have_changed=True)
