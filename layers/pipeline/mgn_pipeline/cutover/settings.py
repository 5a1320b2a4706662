"""Settings of the cutover functions: the cutover fields are part of ``PipelineSettings``.

Import inside handler bodies: pydantic costs cold start (see ``mgn_pipeline.settings``).
"""

from __future__ import annotations

from mgn_pipeline.settings import PipelineSettings, load_settings

# The cutover tasks and the approval bridge read the same settings as the functions that advance servers.
CutoverSettings = PipelineSettings

__all__ = ["CutoverSettings", "load_settings"]
