"""Fail if a check skipped in .checkov.yaml has no written reason.

Each entry of `skip-check:` must be `  - CKV_ID  # reason` with a reason of a few words.
Usage: python tools/checkov_skips.py [.checkov.yaml]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ENTRY = re.compile(r"^\s+-\s+(?P<id>[A-Z0-9_]+)\s*(?:#\s*(?P<reason>.*))?$")


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else ".checkov.yaml")
    in_skips = False
    problems: list[str] = []
    skips = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if re.match(r"^skip-check\s*:", line):
            in_skips = True
            continue
        if in_skips and re.match(r"^\S", line):
            in_skips = False
        if not in_skips or not line.strip() or line.lstrip().startswith("#"):
            continue
        match = ENTRY.match(line)
        if not match:
            problems.append(f"{path}:{number}: unreadable skip entry: {line.strip()}")
            continue
        skips += 1
        reason = (match.group("reason") or "").strip()
        if len(reason.split()) < 4:
            problems.append(f"{path}:{number}: {match.group('id')} is skipped without a written reason")
    for problem in problems:
        print(problem)
    if not problems:
        print(f"checkov_skips: {skips} skipped check(s), each with a reason")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
