#!/usr/bin/env python
"""`make bench [BENCH_ARGS="name ..."]`: run the named benchmarks (all of them when none is named).

Each benchmark is a module `bench/bench_<name>.py` with `main(argv) -> int`; arguments after the
name up to the next known name go to that benchmark, e.g.
    make bench BENCH_ARGS="api --databases postgresql --rows 200000"
"""
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> dict[str, Path]:
    return {path.stem.removeprefix("bench_"): path for path in sorted(HERE.glob("bench_*.py"))}


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        status = max(status, _load(name, benchmarks[name]).main(args) or 0)
    return status


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main(sys.argv[1:]))
