"""Settings each function reads from its environment, parsed at invocation into pydantic models.

Handlers import this module inside the handler body, not at module level: pydantic's import
costs about 150 ms, more than the cold-start budget of a function woken by a rare event
(``benchmarks/cold_start.py``), and it is paid once per container either way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mgn_pipeline.errors import SettingsError


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    servers_table: str = Field(alias="SERVERS_TABLE_NAME", min_length=3, max_length=255)


class ReconcilerSettings(_Settings):
    page_size: int = Field(alias="RECONCILER_PAGE_SIZE", default=200, ge=1, le=200)


class MgnEventSettings(_Settings):
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=3, max_length=255)
    # Long enough to absorb EventBridge retries (24 h) and the reconciler's catch-up.
    idempotency_ttl_seconds: int = Field(alias="IDEMPOTENCY_TTL_SECONDS", default=172_800, ge=300)


SettingsT = TypeVar("SettingsT", bound=_Settings)


def load_settings(model: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
    """Parse ``environ`` (default: the process environment) into ``model``.

    A missing or malformed variable raises :class:`SettingsError` naming each variable, so the
    log says exactly what to fix in the stack.
    """
    try:
        return model.model_validate(dict(os.environ if environ is None else environ))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise SettingsError(f"{model.__name__} cannot be read from the environment: {problems}") from exc
