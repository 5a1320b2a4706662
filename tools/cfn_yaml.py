"""Load a CloudFormation / SAM template with PyYAML, tolerating the short-form intrinsic tags.

`!Ref X` becomes `{"Ref": "X"}`, `!GetAtt A.B` becomes `{"Fn::GetAtt": ["A", "B"]}` and every other
`!Tag value` becomes `{"Fn::Tag": value}`, which is the long form CloudFormation itself accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short-form tags."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path) -> dict[str, Any]:
    """Parse a template file; raises FileNotFoundError if it is missing."""
    with open(path, encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=CfnLoader)  # noqa: S506 - CfnLoader derives from SafeLoader
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a CloudFormation template (top level is not a mapping)")
    return data
