"""The long fault soak: ``python -m bench.soak --runs N [--seed S] [--rate R] [--minutes M]``.

Same runs as tests/e2e/test_prune_faults.py (seeded S3 faults through the fault proxy, then
a clean rerun), many more seeds: after every faulty prune no kept snapshot lost an object and
no snapshot that still has its manifest lost data; the clean rerun converges to the plan.
Exits 1 on the first violation (printing the seed to replay), 0 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
import uuid
from collections import Counter


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--runs", type=int, default=2000, help="seeded runs (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument(
        "--rate", type=float, default=None, help="fault rate per request (default: varies per run)"
    )
    parser.add_argument("--minutes", type=float, default=60.0, help="stop after this wall time")
    args = parser.parse_args()
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(k, v)
    import structlog
    from botocore.retries.standard import ExponentialBackoff
    from moto.server import ThreadedMotoServer

    from backupctl.errors import StoreError
    from backupctl.prune.runner import compute_run_plan
    from backupctl.stores.s3 import S3Store
    from bench.bench_prune import _client
    from tests.e2e.faultproxy import FaultProxy
    from tests.e2e.test_prune_faults import (
        BATCH_SIZES,
        LISTINGS,
        NOW,
        check_invariants,
        converged,
        make_config,
        prune_once,
        seed_store,
        stored_keys,
    )

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    ExponentialBackoff.delay_amount = lambda self, context: 0.001  # type: ignore[method-assign]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"  # type: ignore[union-attr]
    proxy = FaultProxy(endpoint).start()
    direct = _client(endpoint)
    from backupctl.stores.s3client import make_s3_client

    faulty = make_s3_client(proxy.url, "us-east-1", max_attempts=3)
    bucket = f"soak-{uuid.uuid4().hex[:8]}"
    direct.create_bucket(Bucket=bucket)
    deadline = time.monotonic() + 60 * args.minutes
    outcomes: Counter[str] = Counter()
    try:
        for seed in range(args.seed, args.seed + args.runs):
            if time.monotonic() > deadline:
                print(f"time limit reached after {sum(outcomes.values())} runs", file=sys.stderr)
                break
            rng = random.Random(seed)
            prefix = f"soak{seed}"
            config = make_config(bucket, prefix, endpoint, listing=LISTINGS[seed % 2])
            seeded = seed_store(direct, bucket, prefix, rng, per_group=rng.randint(2, 6))
            keep = compute_run_plan(
                config, S3Store(config, client=direct).listing(), NOW
            ).kept_ids()
            proxy.configure(
                seed, rate=args.rate if args.rate is not None else rng.choice((0.1, 0.25, 0.4, 0.6))
            )
            try:
                outcomes[
                    "ok"
                    if prune_once(config, faulty, direct, BATCH_SIZES[seed % 3]).ok
                    else "failed"
                ] += 1
            except StoreError:
                outcomes["error"] += 1
            finally:
                proxy.configure(seed, rate=0.0)
            try:
                check_invariants(stored_keys(direct, bucket, prefix), seeded, keep)
                converged(config, direct, seeded, keep, prefix)
            except AssertionError as exc:
                print(f"VIOLATION at seed {seed}: {exc}", file=sys.stderr)
                return 1
            if (seed - args.seed + 1) % 100 == 0:
                print(
                    f"{seed - args.seed + 1} runs: {dict(outcomes)}; "
                    f"injected {dict(proxy.injected)}",
                    flush=True,
                )
    finally:
        proxy.stop()
        server.stop()
    print(
        f"soak done: {sum(outcomes.values())} runs, outcomes {dict(outcomes)}, "
        f"injected {dict(proxy.injected)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
