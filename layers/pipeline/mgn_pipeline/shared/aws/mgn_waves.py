"""MGN's own waves: application -> wave, read only when a server without a wave tag is in an application.

Takes an injected ``boto3.client("mgn")``. ListApplications and ListWaves are read together, at
most once per ``refresh`` (a wave moved in the console shows within that time), because most
servers carry the wave tag and never need them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from mgn_pipeline.shared.aws.mgn import translate_errors
from mgn_pipeline.shared.server import SourceServer
from mgn_pipeline.shared.wave import wave_of


class MgnWaves:
    def __init__(
        self,
        client: Callable[[], Any],
        tag_key: str,
        now: Callable[[], datetime],
        refresh: timedelta = timedelta(minutes=5),
    ) -> None:
        self._client = client
        self._tag_key = tag_key
        self._now = now
        self._refresh = refresh
        self._by_application: dict[str, str] | None = None
        self._read_at: datetime | None = None

    def wave_for(self, server: SourceServer) -> str:
        if server.tags.get(self._tag_key, "").strip() or not server.application_id:
            return wave_of(server, self._tag_key)
        return wave_of(server, self._tag_key, self._application_waves())

    def _application_waves(self) -> dict[str, str]:
        now = self._now()
        if self._by_application is None or self._read_at is None or now - self._read_at >= self._refresh:
            mgn = self._client()
            with translate_errors("ListWaves"):
                waves = {
                    str(w["waveID"]): str(w.get("name") or w["waveID"])
                    for page in mgn.get_paginator("list_waves").paginate(filters={})
                    for w in page.get("items", [])
                }
            with translate_errors("ListApplications"):
                self._by_application = {
                    str(a["applicationID"]): waves.get(str(a.get("waveID") or ""), "")
                    for page in mgn.get_paginator("list_applications").paginate(filters={})
                    for a in page.get("items", [])
                }
            self._read_at = now
        return self._by_application
