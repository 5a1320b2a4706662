"""What every function's settings share: the base model, the parsers of list-valued variables, and
``load_settings``, which names each bad variable.

Import inside handler bodies, never at module level: pydantic's import costs about 150 ms, more than
the cold-start budget of a function woken by a rare event (``benchmarks/cold_start.py``).
Each capability declares its own fields (``<capability>/settings.py``); ``composition.settings``
puts together the model of each function from them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from mgn_pipeline.shared.errors import SettingsError


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _json_object(value: object) -> object:
    if isinstance(value, str):
        return json.loads(value) if value.strip() else {}
    return value


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


CommaList = Annotated[list[str], BeforeValidator(_comma_list)]
OptionalStr = Annotated[str | None, BeforeValidator(_blank_is_none)]
JsonObject = Annotated[dict[str, str], BeforeValidator(_json_object)]
TableName = Annotated[str, Field(min_length=3, max_length=255)]
TopicArn = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:sns:")]


class Settings(BaseModel):
    """Frozen, read by variable name (the alias); variables a model does not know are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class MgnPaceFields(Settings):
    """This container's share of MGN's account-wide request rate (``shared/aws/pace.py``); unset in a
    person's tools, which are not paced."""

    mgn_calls_per_second: float | None = Field(alias="MGN_CALLS_PER_SECOND", default=None, gt=0, le=100)


class OriginFields(Settings):
    """The account and Region the function runs in: events from anywhere else are refused
    (``shared/events.py`` EventOrigin). The template passes the account; Lambda sets AWS_REGION."""

    account_id: str = Field(alias="PIPELINE_ACCOUNT_ID", pattern=r"^\d{12}$")
    region: str = Field(alias="AWS_REGION", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")


class RecordFields(MgnPaceFields):
    """Where the functions that act on servers record what they did, and whom they tell."""

    servers_table: TableName = Field(alias="SERVERS_TABLE_NAME")
    audit_table: TableName = Field(alias="AUDIT_TABLE_NAME")
    notification_topic_arn: TopicArn = Field(alias="NOTIFICATION_TOPIC_ARN")


def load_settings[SettingsT: Settings](
    model: type[SettingsT], environ: Mapping[str, str] | None = None
) -> SettingsT:
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
