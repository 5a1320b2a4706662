"""Settings of the launch batcher (the test-launch fields themselves are part of ``PipelineSettings``).

Import inside handler bodies: pydantic costs cold start (see ``mgn_pipeline.settings``).
"""

from __future__ import annotations

from pydantic import Field

from mgn_pipeline.settings import PipelineSettings, load_settings

# The reconciler and the MGN event function read the test-launch fields from PipelineSettings.
TestLaunchSettings = PipelineSettings


class LaunchBatcherSettings(PipelineSettings):
    launch_queue_table: str = Field(alias="LAUNCH_QUEUE_TABLE_NAME", min_length=3, max_length=255)


__all__ = ["LaunchBatcherSettings", "TestLaunchSettings", "load_settings"]
