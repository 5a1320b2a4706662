"""Fail if a `sam build` output holds x86_64 native code; the Lambda functions run on arm64.

Two checks over every file under the build directory (default .aws-sam/build):
- the name: any `*x86_64*.so` (the tag pip wheels give compiled extensions), and
- the content: any ELF object whose header says x86-64 (catches untagged `lib*.so` vendored by wheels).

Usage: python tools/check_arch.py [BUILD_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
MACHINES = {0x3E: "x86-64", 0xB7: "aarch64", 0x03: "i386", 0x28: "arm"}


def elf_machine(path: Path) -> str | None:
    """The e_machine of an ELF file, or None if it is not one."""
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return None
    if len(header) < 20 or not header.startswith(ELF_MAGIC):
        return None
    byteorder = "little" if header[5] == 1 else "big"
    machine = int.from_bytes(header[18:20], byteorder)
    return MACHINES.get(machine, hex(machine))


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else ".aws-sam/build")
    if not root.is_dir():
        print(f"check_arch: {root} does not exist: run `make build` first", file=sys.stderr)
        return 1
    bad: list[str] = []
    arm = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        machine = elf_machine(path)
        if "x86_64" in path.name and (path.name.endswith(".so") or ".so." in path.name):
            bad.append(f"{path} (name says x86_64)")
        elif machine not in (None, "aarch64"):
            bad.append(f"{path} (ELF {machine})")
        elif machine == "aarch64":
            arm += 1
    if bad:
        print("check_arch: native code for the wrong architecture in the build (functions are arm64):")
        for line in bad:
            print(f"  {line}")
        print("fix: give every layer `Metadata: {BuildMethod: python3.13, BuildArchitecture: arm64}`")
        return 1
    print(f"check_arch: ok, no x86_64 binaries under {root} ({arm} aarch64 ELF files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
