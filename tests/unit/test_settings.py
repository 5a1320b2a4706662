"""Settings come from the environment at invocation; a missing one names itself."""

from __future__ import annotations

import pytest

from mgn_pipeline.errors import SettingsError
from mgn_pipeline.settings import MgnEventSettings, ReconcilerSettings, load_settings


def test_settings_read_from_environment() -> None:
    settings = load_settings(MgnEventSettings, {"SERVERS_TABLE_NAME": "srv", "IDEMPOTENCY_TABLE_NAME": "idem"})
    assert settings.servers_table == "srv"
    assert settings.idempotency_ttl_seconds == 172_800


def test_missing_setting_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="IDEMPOTENCY_TABLE_NAME"):
        load_settings(MgnEventSettings, {"SERVERS_TABLE_NAME": "srv"})


def test_out_of_range_setting_is_refused() -> None:
    with pytest.raises(SettingsError, match="RECONCILER_PAGE_SIZE"):
        load_settings(ReconcilerSettings, {"SERVERS_TABLE_NAME": "srv", "RECONCILER_PAGE_SIZE": "500"})


def test_defaults_to_process_environment() -> None:
    assert load_settings(ReconcilerSettings).servers_table == "servers"
