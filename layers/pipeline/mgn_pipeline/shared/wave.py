"""Which migration wave a server belongs to.

Teams group servers into waves either with a tag on the source server (``WaveTagKey``, e.g.
``wave=2026-12-payments``) or with MGN's own waves (server -> application -> wave). The tag wins,
because it is what the operator set on this very server; MGN's wave is the fallback. A server in
neither is "unassigned", which is a wave of its own for status views and approvals.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mgn_pipeline.shared.server import SourceServer

UNASSIGNED = "unassigned"
DEFAULT_WAVE_TAG_KEY = "wave"
# Wave names go into DynamoDB keys, SSM Automation parameters and CSV files: keep them plain.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def wave_name(raw: str) -> str:
    """A wave label fit for keys and runbook parameters (1-128 of ``[A-Za-z0-9._-]``)."""
    cleaned = _UNSAFE.sub("-", raw.strip())[:128]
    return cleaned or UNASSIGNED


def wave_of(server: SourceServer, tag_key: str, mgn_waves: Mapping[str, str] | None = None) -> str:
    """The server's wave: its tag, else its MGN application's wave (``mgn_waves``: applicationID -> name)."""
    tagged = server.tags.get(tag_key)
    if tagged and tagged.strip():
        return wave_name(tagged)
    if server.application_id and mgn_waves:
        mgn_wave = mgn_waves.get(server.application_id)
        if mgn_wave:
            return wave_name(mgn_wave)
    return UNASSIGNED
