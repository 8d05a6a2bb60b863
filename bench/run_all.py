"""Run every benchmark script in bench/ (`make bench`), one after the other, each in its own process.

A benchmark is any `bench/*.py` except this file and names starting with `_`. Each prints its own figures;
this runner prints a heading per script and exits non-zero if any of them failed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def scripts() -> list[Path]:
    return sorted(path for path in BENCH.glob("*.py") if path.name != Path(__file__).name and path.name[0] != "_")


def main() -> int:
    failed = []
    for script in scripts():
        print(f"\n## {script.name}\n", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=BENCH.parent, check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
