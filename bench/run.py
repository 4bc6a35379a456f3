#!/usr/bin/env python
"""`make bench [BENCH_ARGS="name [args] [name [args]] ..."]`: run the named benchmarks, all when none is named.

Each benchmark is a script `bench/bench_<name>.py`, run in its own process with the arguments that
follow its name, e.g.
    make bench BENCH_ARGS="api --databases postgresql --rows 200000"
    make bench BENCH_ARGS="service --database sqlite api --skip-export"
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> dict[str, Path]:
    return {path.stem.removeprefix("bench_"): path for path in sorted(HERE.glob("bench_*.py"))}


def _split(argv: list[str], names: set[str]) -> list[tuple[str, list[str]]]:
    runs: list[tuple[str, list[str]]] = []
    for arg in argv:
        if arg in names:
            runs.append((arg, []))
        elif runs:
            runs[-1][1].append(arg)
        else:
            raise SystemExit(f"bench: unknown benchmark {arg!r}; choose from {', '.join(sorted(names))}")
    return runs


def main(argv: list[str]) -> int:
    benchmarks = available()
    if argv and argv[0] in ("-h", "--help", "--list"):
        print(__doc__.strip())
        print("Benchmarks:", ", ".join(benchmarks) or "(none)")
        return 0
    runs = _split(argv, set(benchmarks)) if argv else [(name, []) for name in benchmarks]
    status = 0
    for name, args in runs:
        print(f"=== bench {name} {' '.join(args)}".rstrip(), flush=True)
        status = max(status, subprocess.call([sys.executable, str(benchmarks[name]), *args], cwd=HERE.parent))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
