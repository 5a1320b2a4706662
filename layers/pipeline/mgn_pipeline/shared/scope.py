"""Which servers the pipeline manages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scope:
    """Which servers the pipeline manages: all, or those carrying a tag (with a value, if given)."""

    tag_key: str | None = None
    tag_value: str | None = None

    def includes(self, tags: Mapping[str, str]) -> bool:
        if not self.tag_key:
            return True
        if self.tag_key not in tags:
            return False
        return self.tag_value is None or tags[self.tag_key] == self.tag_value
