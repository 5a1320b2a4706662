"""Small formatting and id helpers shared by the MGN emulator modules."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime

_ALNUM = string.ascii_lowercase + string.digits


def iso(dt: datetime) -> str:
    """MGN's ISO8601DatetimeString: ``2026-01-05T08:00:00Z`` (milliseconds only when present)."""
    dt = dt.astimezone(UTC)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_seconds(dt: datetime) -> str:
    """EventBridge/CloudTrail time: whole seconds with a ``Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """Parse an ISO8601DatetimeString (validated by the model beforehand)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def iso_duration(seconds: float) -> str:
    """ISO-8601 duration such as ``PT5M3S`` or ``P1DT2H`` (whole seconds, ``PT0S`` for zero)."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    if clock or not days:
        out += "T" + (clock or "0S")
    return out


class IdFactory:
    """Deterministic ids (seeded), so a test run always produces the same ids."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)

    def hex(self, n: int) -> str:
        return "".join(self._rng.choice("0123456789abcdef") for _ in range(n))

    def alnum(self, n: int) -> str:
        return "".join(self._rng.choice(_ALNUM) for _ in range(n))

    def uuid(self) -> str:
        h = self.hex(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"
