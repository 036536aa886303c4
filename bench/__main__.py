"""`make bench`: run every benchmark module and print one table.

Each module ``bench/bench_*.py`` exposes ``run(quick: bool) -> list[Row]``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from pathlib import Path

import structlog

from backupctl import log
from bench.table import Row, print_table


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("only", nargs="*", help="module names to run, e.g. bench_plan")
    args = parser.parse_args()
    log.configure(json_logs=False)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING)
    )  # the table only
    rows: list[Row] = []
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if not info.name.startswith("bench_") or (args.only and info.name not in args.only):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        print(f"running {info.name} …", file=sys.stderr, flush=True)
        rows.extend(module.run(quick=args.quick))
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
