"""Cold-start benchmark: the init cost of each Lambda handler module against a boto3 baseline.

For every ``functions/*/app.py`` it measures, in a FRESH interpreter per sample, how long importing
the handler module takes (the module creates its boto3 clients at import, so this is the Lambda
"Init" phase minus the runtime's own start-up). The baseline, measured in the same run and
interleaved with the functions, is ``import boto3; boto3.client("mgn")`` in a fresh interpreter.

The child interpreters get a Lambda-like environment: region, fake credentials,
AWS_LAMBDA_FUNCTION_NAME, and the Globals/Function ``Environment`` variables of template.yaml (with
dummy values for intrinsics such as ``!Ref``). Their ``sys.path`` starts with the function directory
and the pipeline layer as ``sam build`` makes it: ``layers/pipeline/Makefile`` (the layer's build)
runs into a temporary directory, so the package carries the bytecode the layer ships. The function
directory is copied without ``__pycache__`` and the children run with ``-B``, so the handler module
is compiled from source at every sample, as on Lambda (read-only code). Installed dependencies keep
their .pyc, as in the dependencies layer.

Prints a table (function, median init ms, baseline ms, ratio), writes ``reports/cold_start.json``
and exits 1 if any ratio is above the threshold (default 1.3). A benchmark, not a test: ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.cfn_yaml import load_template  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"
MIN_SAMPLES = 7

# Runs in the child: time the import (or the baseline statement) and print one JSON line.
CHILD = """
import importlib, json, sys, time
sys.path[:0] = {paths!r}
c0, t0 = time.process_time(), time.perf_counter()
{statement}
t1, c1 = time.perf_counter(), time.process_time()
# What the first invocation imports on top (pydantic settings, the capabilities' modules): reported
# beside the init, not part of the ratio, so what was moved out of init stays visible.
for name in {first_call!r}:
    importlib.import_module(name)
c2 = time.process_time()
print("COLD_START_RESULT " + json.dumps({{"wall": (t1 - t0) * 1000.0, "cpu": (c1 - c0) * 1000.0,
                                          "first_call_cpu": (c2 - c1) * 1000.0}}))
"""
# Modules the handlers import at their first invocation rather than at init.
FIRST_CALL_MODULES = [
    "mgn_pipeline.composition.settings",
    "mgn_pipeline.composition.launches",
    "mgn_pipeline.composition.cutover",
]
BASELINE_STATEMENT = 'import boto3\nboto3.client("mgn")'


@dataclass
class Target:
    name: str
    statement: str
    paths: list[str]
    env: dict[str, str]
    samples: list[float] = field(default_factory=list)
    first_call: list[float] = field(default_factory=list)
    error: str | None = None
    # The baseline imports nothing on a first call.
    first_call_modules: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")


def _condition(name_or_expr: Any, template: dict[str, Any], depth: int = 0) -> bool:
    """Evaluate a template condition with every parameter at its Default (unknown: False)."""
    if depth > 20:
        return False
    expr = name_or_expr
    if isinstance(expr, str):
        expr = (template.get("Conditions") or {}).get(expr)
    if isinstance(expr, dict) and len(expr) == 1:
        ((fn, arg),) = expr.items()
        if fn == "Condition":
            return _condition(arg, template, depth + 1)
        if fn == "Fn::Not":
            return not _condition(arg[0], template, depth + 1)
        if fn == "Fn::And":
            return all(_condition(a, template, depth + 1) for a in arg)
        if fn == "Fn::Or":
            return any(_condition(a, template, depth + 1) for a in arg)
        if fn == "Fn::Equals":
            left, right = (_literal(a, template) for a in arg)
            return left == right
    return False


def _literal(value: Any, template: dict[str, Any]) -> Any:
    """A parameter reference resolved to its Default; anything else as is."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        param = (template.get("Parameters") or {}).get(value["Ref"]) or {}
        return str(param.get("Default", f"bench-{str(value['Ref']).lower()}"))
    return value if not isinstance(value, int | float | bool) else str(value)


def _dummy(key: str, value: Any, template: dict[str, Any] | None = None) -> str:
    """A concrete stand-in for an Environment value (intrinsics become plausible dummies)."""
    template = template or {}
    if isinstance(value, dict) and set(value) == {"Fn::If"} and len(value["Fn::If"]) == 3:
        condition, if_true, if_false = value["Fn::If"]
        return _dummy(key, if_true if _condition(condition, template) else if_false, template)
    if isinstance(value, dict) and set(value) == {"Ref"}:
        params = template.get("Parameters") or {}
        if value["Ref"] in params and "Default" in params[value["Ref"]]:
            return str(params[value["Ref"]]["Default"])
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            ref = str(arg)
            return {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": "bench-stack"}.get(
                ref, f"bench-{ref.lower()}"
            )
        if fn == "Fn::GetAtt":
            parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
            if len(parts) > 1 and str(parts[1]).endswith("Arn"):
                return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bench-{str(parts[0]).lower()}"
            return f"bench-{str(parts[0]).lower()}"
        if fn == "Fn::Sub":
            text = arg[0] if isinstance(arg, list) else str(arg)
            for k, v in (("AWS::Region", REGION), ("AWS::AccountId", ACCOUNT), ("AWS::Partition", "aws")):
                text = text.replace("${" + k + "}", v)
            while "${" in text and "}" in text.split("${", 1)[1]:
                head, rest = text.split("${", 1)
                inner, tail = rest.split("}", 1)
                text = f"{head}bench-{inner.split('.')[0].lower()}{tail}"
            return text
    return f"bench-{key.lower().replace('_', '-')}"


def _variables(block: Any) -> dict[str, Any]:
    if not isinstance(block, dict):
        return {}
    env = block.get("Environment")
    if not isinstance(env, dict) or not isinstance(env.get("Variables"), dict):
        return {}
    return dict(env["Variables"])


def functions_from_template(
    template: dict[str, Any],
) -> tuple[dict[str, Any], dict[Path, tuple[str, str, dict[str, Any]]]]:
    """(Globals.Function env, {code dir: (logical id, handler, Function env)}) from the template."""
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    global_env = _variables(globals_fn)
    by_dir: dict[Path, tuple[str, str, dict[str, Any]]] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        code_uri = props.get("CodeUri", globals_fn.get("CodeUri"))
        if not isinstance(code_uri, str):
            continue
        handler = props.get("Handler", globals_fn.get("Handler", "app.lambda_handler"))
        by_dir[(ROOT / code_uri).resolve()] = (str(logical_id), str(handler), _variables(props))
    return global_env, by_dir


def lambda_env(
    function_name: str, variables: dict[str, Any], home: str, task_root: str, template: dict[str, Any]
) -> dict[str, str]:
    """A minimal, Lambda-like environment: nothing from the caller's AWS configuration leaks in."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": home,
        "TZ": "UTC",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "ASIABENCHMARKFAKEKEY",
        "AWS_SECRET_ACCESS_KEY": "benchmark-fake-secret",
        "AWS_SESSION_TOKEN": "benchmark-fake-token",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": task_root,
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
    }
    env.update({str(k): _dummy(str(k), v, template) for k, v in variables.items()})
    return env


def build_pipeline_layer(artifacts: Path) -> Path:
    """Run the layer's own build (the Makefile sam build runs) and return its python/ directory."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT / "layers" / "pipeline"),
            "build-PipelineLayer",
            f"ARTIFACTS_DIR={artifacts}",
            f"PYTHON={sys.executable}",
        ],
        check=True,
        env=env,
    )
    return artifacts / "python"


def run_sample(python: str, target: Target, timeout: float, clock: str) -> float:
    code = CHILD.format(paths=target.paths, statement=target.statement, first_call=target.first_call_modules)
    proc = subprocess.run(
        [python, "-I", "-B", "-c", code],
        env=target.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("COLD_START_RESULT "):
            result = json.loads(line.split(" ", 1)[1])
            target.first_call.append(float(result["first_call_cpu"]))
            return float(result[clock])
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
    raise RuntimeError(f"exit {proc.returncode}:\n{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cold-start init of each handler vs a boto3 baseline.")
    parser.add_argument(
        "--samples", type=int, default=9, help=f"fresh interpreters per target (>= {MIN_SAMPLES})"
    )
    parser.add_argument(
        "--threshold", type=float, default=1.3, help="max allowed median ratio to the baseline"
    )
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--output", type=Path, default=ROOT / "reports" / "cold_start.json")
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter to measure with (default: this one)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per sample")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time (what Lambda bills as Init); cpu: process CPU time, steadier on a busy machine",
    )
    args = parser.parse_args(argv)
    samples = max(args.samples, MIN_SAMPLES)

    app_files = sorted((ROOT / "functions").glob("*/app.py"))
    if not app_files:
        print("cold_start: no functions/*/app.py found", file=sys.stderr)
        return 2

    template: dict[str, Any] = {}
    global_env: dict[str, Any] = {}
    by_dir: dict[Path, tuple[str, str, dict[str, Any]]] = {}
    if args.template.exists():
        template = load_template(args.template)
        global_env, by_dir = functions_from_template(template)
    else:
        print(f"cold_start: warning: {args.template} not found; no template environment variables")

    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        tmp_path = Path(tmp)
        home = tmp_path / "home"
        home.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        layer = build_pipeline_layer(tmp_path / "opt")

        baseline = Target(
            name="baseline: boto3.client('mgn')",
            statement=BASELINE_STATEMENT,
            paths=[],
            env=lambda_env("baseline", global_env, str(home), str(tmp_path), template),
        )
        targets: list[Target] = []
        for app in app_files:
            src_dir = app.parent.resolve()
            logical_id, handler, fn_env = by_dir.get(src_dir, (src_dir.name, "app.lambda_handler", {}))
            if src_dir not in by_dir and by_dir:
                print(f"cold_start: warning: {src_dir.relative_to(ROOT)} is not the CodeUri of any function")
            module = handler.rsplit(".", 1)[0]
            task_root = tmp_path / "task" / src_dir.name
            shutil.copytree(src_dir, task_root, ignore=ignore)
            targets.append(
                Target(
                    name=src_dir.name,
                    statement=f"import importlib\nimportlib.import_module({module!r})",
                    paths=[str(task_root), str(layer)],
                    env=lambda_env(logical_id, {**global_env, **fn_env}, str(home), str(task_root), template),
                    first_call_modules=FIRST_CALL_MODULES,
                )
            )

        everything = [baseline, *targets]
        # Interleave: every round measures every target once, rotating who goes first.
        for round_no in range(samples):
            shift = round_no % len(everything)
            for target in everything[shift:] + everything[:shift]:
                if target.error:
                    continue
                try:
                    target.samples.append(run_sample(args.python, target, args.timeout, args.clock))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    target.error = str(exc)

    if baseline.error:
        print(f"cold_start: the baseline failed: {baseline.error}", file=sys.stderr)
        return 2
    base = baseline.median
    rows = []
    worst_ok = True
    print(f"\nCold start (import of the handler module), median of {samples} fresh interpreters")
    print(
        f"python {platform.python_version()} on {platform.machine()}, {args.clock} clock, threshold {args.threshold}"
    )
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > cores:
        print(
            f"warning: load average {load:.1f} on {cores} cores: wall-clock numbers are noisy (try --clock cpu)"
        )
    print()
    header = f"{'function':<24} {'init ms':>10} {'baseline ms':>12} {'ratio':>7}  {'result':<8}  first call +ms (cpu)"
    print(header)
    print("-" * len(header))
    for target in targets:
        if target.error:
            worst_ok = False
            rows.append({"function": target.name, "error": target.error})
            print(f"{target.name:<24} {'-':>10} {base:>12.1f} {'-':>7}  ERROR")
            print("    " + target.error.replace("\n", "\n    "))
            continue
        ratio = target.median / base
        ok = ratio <= args.threshold
        worst_ok &= ok
        rows.append(
            {
                "function": target.name,
                "median_ms": round(target.median, 2),
                "baseline_ms": round(base, 2),
                "ratio": round(ratio, 3),
                "ok": ok,
                "samples_ms": [round(s, 2) for s in target.samples],
                "first_call_imports_cpu_ms": round(statistics.median(target.first_call), 2),
            }
        )
        print(
            f"{target.name:<24} {target.median:>10.1f} {base:>12.1f} {ratio:>7.2f}  {'ok' if ok else 'TOO SLOW':<8}"
            f"  {statistics.median(target.first_call):>10.1f}"
        )

    report = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "samples": samples,
        "threshold": args.threshold,
        "clock": args.clock,
        "baseline": {
            "statement": BASELINE_STATEMENT,
            "median_ms": round(base, 2),
            "samples_ms": [round(s, 2) for s in baseline.samples],
        },
        "functions": rows,
        "ok": worst_ok,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    if not worst_ok:
        print(f"cold_start: FAIL: a function errored or its init is above {args.threshold}x the baseline")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
