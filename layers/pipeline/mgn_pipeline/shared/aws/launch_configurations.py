"""What the pipeline needs of a server's MGN launch configuration, read from MGN once and remembered.

Two facts: the EC2 launch template id (MGN makes the template when the agent registers and keeps it
for the server's life) and the post-launch actions (changed only through UpdateLaunchConfiguration,
which CloudTrail reports). Both come from one GetLaunchConfiguration, are kept in the servers table
and are read from MGN again when the settings may have changed (someone else's API call, a
deployment): verifying a test or cutover launch then needs no MGN read of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mgn_pipeline.shared.aws.mgn import LaunchConfiguration, MgnGateway
from mgn_pipeline.shared.aws.server_registry import ServerRegistry


class RememberedLaunchConfigurations:
    def __init__(self, gateway: MgnGateway, registry: ServerRegistry | None) -> None:
        """Without a ``registry`` (a stack without the servers table) MGN is read every time."""
        self._gateway = gateway
        self._registry = registry

    def template_id(self, server_id: str, *, fresh: bool = False) -> str | None:
        """``fresh``: read MGN even if remembered (its settings may have changed)."""
        known = None if fresh else self._known(server_id)
        if known is None or known.template_id is None:
            known = self.refresh(server_id)
        return known.template_id

    def post_launch_actions(self, server_id: str) -> Mapping[str, Any]:
        known = self._known(server_id)
        if known is None or known.post_launch_actions is None:
            known = self.refresh(server_id)
        return known.post_launch_actions or {}

    def refresh(self, server_id: str) -> LaunchConfiguration:
        found = self._gateway.launch_configuration(server_id)
        if self._registry is not None:
            self._registry.learned_launch_configuration(server_id, found)
        return found

    def _known(self, server_id: str) -> LaunchConfiguration | None:
        return self._registry.launch_configuration(server_id) if self._registry is not None else None
