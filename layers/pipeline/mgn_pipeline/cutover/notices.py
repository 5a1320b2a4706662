"""What the cutover gate leaves behind for people: audit records and messages naming the server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from mgn_pipeline.shared.aws.audit import PIPELINE_ACTOR, AuditRecord, AuditTrail
from mgn_pipeline.shared.aws.mgn import MgnGateway
from mgn_pipeline.shared.aws.notifier import Notifier, server_line
from mgn_pipeline.shared.errors import PipelineError

TRIGGER = "cutover-gate"


class GateNotices:
    def __init__(
        self,
        *,
        audit: AuditTrail,
        notifier: Callable[[], Notifier],
        gateway: MgnGateway,
        now: Callable[[], datetime],
    ) -> None:
        self._audit = audit
        self._notifier = notifier
        self._gateway = gateway
        self._now = now

    def wave_of(self, server_id: str) -> str:
        return self._audit.wave_for(server_id)

    def record(
        self,
        server_id: str,
        action: str,
        reason: str,
        details: dict[str, Any],
        *,
        actor: str | None = PIPELINE_ACTOR,
        trigger: str = TRIGGER,
    ) -> None:
        """One audit record; ``actor`` is the person for decisions, the pipeline for its own steps."""
        self._audit.append(
            AuditRecord(
                subject=server_id, action=action, trigger=trigger, actor=actor, reason=reason, details=details
            ),
            self._now(),
        )

    def tell(
        self,
        server_id: str,
        kind: str,
        subject: str,
        *,
        happened: list[str],
        why: list[str] | tuple[str, ...] = (),
        what_to_do: list[str] | tuple[str, ...] = (),
        hostname: str | None = None,
    ) -> None:
        """A message for people: ``subject`` names the server as ``{host}`` (host name, else id);
        ``hostname`` when the caller has just read the server (else it is read here)."""
        hostname = hostname or self._hostname(server_id)
        wave = self._audit.wave_for(server_id)
        self._notifier().tell(
            kind,
            subject.format(host=hostname or server_id),
            wave=wave,
            about=server_line(server_id, hostname, wave),
            happened=happened,
            why=why,
            what_to_do=what_to_do,
        )

    def _hostname(self, server_id: str) -> str | None:
        try:
            return self._gateway.get_server(server_id).hostname or None
        except PipelineError:
            return None  # the message still names the server by its id
