"""DynamoDB tables for unit tests, created with the key schema and indexes template.yaml gives them."""

from __future__ import annotations

from localcloud.template import create_table

__all__ = ["create_table"]
