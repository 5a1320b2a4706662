"""Validate every statemachines/*.asl.json with the npm package asl-validator.

The definitions carry `${Name}` placeholders that SAM fills from the state machine's
`DefinitionSubstitutions`. asl-validator rejects ARN-shaped fields holding such placeholders, so this
script writes a copy of each definition with every placeholder replaced by a plausible value (an ARN
shaped after the resource the template binds it to) and validates the copy.

It also fails when a definition uses a placeholder that no state machine in template.yaml substitutes
(the deployed state machine would carry a literal `${Name}`), and warns about substitutions that no
definition uses.

Usage: python tools/asl_validate.py [--template template.yaml] [--validator node_modules/.bin/asl-validator]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.cfn_yaml import load_template

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")
ACCOUNT = "123456789012"
REGION = "us-east-1"

# How a resource type's Fn::GetAtt Arn / Ref looks, so the stand-in has the right shape.
ARN_BY_TYPE = {
    "AWS::Serverless::Function": "arn:aws:lambda:{r}:{a}:function:{n}",
    "AWS::Lambda::Function": "arn:aws:lambda:{r}:{a}:function:{n}",
    "AWS::Lambda::Alias": "arn:aws:lambda:{r}:{a}:function:{n}:live",
    "AWS::Serverless::StateMachine": "arn:aws:states:{r}:{a}:stateMachine:{n}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{r}:{a}:stateMachine:{n}",
    "AWS::Serverless::SimpleTable": "arn:aws:dynamodb:{r}:{a}:table/{n}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{r}:{a}:table/{n}",
    "AWS::SNS::Topic": "arn:aws:sns:{r}:{a}:{n}",
    "AWS::SQS::Queue": "arn:aws:sqs:{r}:{a}:{n}",
    "AWS::Events::EventBus": "arn:aws:events:{r}:{a}:event-bus/{n}",
    "AWS::IAM::Role": "arn:aws:iam::{a}:role/{n}",
    "AWS::S3::Bucket": "arn:aws:s3:::{lower}",
    "AWS::SSM::Document": "arn:aws:ssm:{r}:{a}:document/{n}",
    "AWS::SSM::Parameter": "arn:aws:ssm:{r}:{a}:parameter/{n}",
    "AWS::KMS::Key": "arn:aws:kms:{r}:{a}:key/00000000-0000-0000-0000-000000000000",
    "AWS::Logs::LogGroup": "arn:aws:logs:{r}:{a}:log-group:{n}",
}
# What `!Ref` returns when it is not the ARN.
REF_BY_TYPE = {
    "AWS::Serverless::Function": "{n}",
    "AWS::Lambda::Function": "{n}",
    "AWS::Serverless::SimpleTable": "{n}",
    "AWS::DynamoDB::Table": "{n}",
    "AWS::SQS::Queue": "https://sqs.{r}.amazonaws.com/{a}/{n}",
    "AWS::S3::Bucket": "{lower}",
    "AWS::Events::EventBus": "{n}",
    "AWS::SSM::Document": "{n}",
    "AWS::SSM::Parameter": "/{n}",
    "AWS::IAM::Role": "{n}",
    "AWS::Logs::LogGroup": "{n}",
}


def _fmt(pattern: str, name: str) -> str:
    return pattern.format(r=REGION, a=ACCOUNT, n=name, lower=name.lower())


def _by_name(key: str) -> str:
    """Fallback when the template gives no hint: guess from the placeholder's name."""
    k = key.lower()
    if "function" in k or "lambda" in k:
        return _fmt(ARN_BY_TYPE["AWS::Lambda::Function"], key)
    if "statemachine" in k:
        return _fmt(ARN_BY_TYPE["AWS::StepFunctions::StateMachine"], key)
    if "topic" in k:
        return _fmt(ARN_BY_TYPE["AWS::SNS::Topic"], key)
    if "queueurl" in k:
        return _fmt(REF_BY_TYPE["AWS::SQS::Queue"], key)
    if "queue" in k:
        return _fmt(ARN_BY_TYPE["AWS::SQS::Queue"], key)
    if "role" in k:
        return _fmt(ARN_BY_TYPE["AWS::IAM::Role"], key)
    if "bus" in k:
        return _fmt(ARN_BY_TYPE["AWS::Events::EventBus"], key)
    if k.endswith("arn"):
        return f"arn:aws:states:{REGION}:{ACCOUNT}:activity:{key}"
    return f"placeholder-{key}"


def _stand_in(key: str, value: Any, resources: dict[str, Any]) -> str:
    """A plausible concrete value for DefinitionSubstitutions[key] = value."""
    if isinstance(value, str | int | float):
        return PLACEHOLDER.sub(lambda m: _by_name(m.group(1)), str(value))
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Fn::GetAtt":
            parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
            logical = str(parts[0])
            attribute = str(parts[1]) if len(parts) > 1 else ""
            rtype = resources.get(logical, {}).get("Type", "")
            if attribute in ("Arn", "") and rtype in ARN_BY_TYPE:
                return _fmt(ARN_BY_TYPE[rtype], logical)
            if attribute == "QueueUrl":
                return _fmt(REF_BY_TYPE["AWS::SQS::Queue"], logical)
            if attribute == "Name" or attribute.endswith("Name"):
                return logical
            return _by_name(key)
        if fn == "Ref":
            rtype = resources.get(str(arg), {}).get("Type", "")
            if rtype in REF_BY_TYPE:
                return _fmt(REF_BY_TYPE[rtype], str(arg))
            if rtype in ARN_BY_TYPE:
                return _fmt(ARN_BY_TYPE[rtype], str(arg))
            if str(arg) == "AWS::Region":
                return REGION
            if str(arg) == "AWS::AccountId":
                return ACCOUNT
            return _by_name(key)
        if fn == "Fn::Sub":
            text = arg[0] if isinstance(arg, list) else str(arg)
            text = text.replace("${AWS::Region}", REGION).replace("${AWS::AccountId}", ACCOUNT)
            text = text.replace("${AWS::Partition}", "aws").replace("${AWS::StackName}", "stack")
            return PLACEHOLDER.sub(lambda m: m.group(1).split(".")[0], text)
    return _by_name(key)


def substitutions_from_template(template: dict[str, Any], base: Path) -> dict[str, dict[str, Any]]:
    """Map definition file (resolved path) -> its DefinitionSubstitutions, for every state machine.

    ``base`` is the template's directory: DefinitionUri is relative to it.
    """
    resources = template.get("Resources") or {}
    found: dict[str, dict[str, Any]] = {}
    for resource in resources.values():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = resource.get("Properties") or {}
        uri = props.get("DefinitionUri")
        if isinstance(uri, str):
            found.setdefault(str((base / uri).resolve()), {}).update(
                props.get("DefinitionSubstitutions") or {}
            )
    return found


def prepare(
    definition: Path, subs: dict[str, Any], resources: dict[str, Any], out_dir: Path
) -> tuple[Path, list[str]]:
    """Write the placeholder-free copy; return it and the placeholders that have no substitution."""
    text = definition.read_text(encoding="utf-8")
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in subs:
            missing.append(key)
            return _by_name(key)
        return _stand_in(key, subs[key], resources)

    out = out_dir / definition.name
    out.write_text(PLACEHOLDER.sub(replace, text), encoding="utf-8")
    return out, sorted(set(missing))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--definitions", default="statemachines")
    parser.add_argument("--validator", default="node_modules/.bin/asl-validator")
    parser.add_argument("--out", default="build/asl")
    args = parser.parse_args(argv)

    files = sorted(Path(args.definitions).glob("*.asl.json"))
    template: dict[str, Any] = {}
    if Path(args.template).exists():
        template = load_template(args.template)
    else:
        print(f"asl-validate: warning: {args.template} missing, substitutions guessed from names")
    resources = template.get("Resources") or {}
    subs_by_file = substitutions_from_template(template, Path(args.template).resolve().parent)
    if not files and not subs_by_file:
        print(
            f"asl-validate: no {args.definitions}/*.asl.json and no state machine in the template: nothing to do"
        )
        return 0
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    failures = 0
    used: set[tuple[str, str]] = set()
    for definition in files:
        subs = subs_by_file.get(str(definition.resolve()))
        if template and subs is None:
            print(f"asl-validate: warning: {definition} is not the DefinitionUri of any state machine")
            subs = {}
        copy, missing = prepare(definition, subs or {}, resources, out_dir)
        used.update(
            (str(definition.resolve()), m.group(1)) for m in PLACEHOLDER.finditer(definition.read_text())
        )
        if template and missing:
            failures += 1
            print(
                f"FAIL {definition}: placeholders without a DefinitionSubstitutions entry: {', '.join(missing)}"
            )
        try:
            json.loads(copy.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            failures += 1
            print(f"FAIL {definition}: not valid JSON after substitution: {exc}")
            continue
        result = subprocess.run(
            [args.validator, "--json-path", str(copy)], capture_output=True, text=True, check=False
        )
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0:
            failures += 1
            print(f"FAIL {definition} (validated copy {copy}):\n{output}")
        else:
            print(
                f"ok   {definition}{' - ' + output if output and output != '✓ State machine definition is valid' else ''}"
            )

    for path, subs in subs_by_file.items():
        unused = sorted(k for k in subs if (path, k) not in used)
        if unused and Path(path).exists():
            print(f"asl-validate: warning: {Path(path).name}: substitutions never used: {', '.join(unused)}")
        if not Path(path).exists():
            failures += 1
            print(f"FAIL DefinitionUri {path} does not exist")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
