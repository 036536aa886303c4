"""``make demo``: the whole story on an embedded default, on loopback only.

Starts a local S3-compatible endpoint (moto's server on 127.0.0.1), creates about eight
months of SLA-shaped backup history (application backups 4x a day, a server backup daily
at 02:00, realistic sizes, a few missed backups), then runs the real CLI as an operator
would: plan, prune (refused first: the history predates the policy), prune --force with a
reason, verify, drill, proof, proof check, audit verify. Everything lands in one folder
(``demo-output/`` or ``$BACKUPCTL_DEMO_DIR``), which a rerun replaces.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from backupctl import humanize
from backupctl.configref import starter_config

TZ = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=TZ)
HISTORY_START = datetime(2026, 3, 20, 0, 0, tzinfo=TZ)
BUCKET = "backups"
PREFIX = "salure"
# Backups that "failed" in the seeded history; verify must find exactly these.
MISSED = (
    ("app", datetime(2026, 11, 2, 12, 0, tzinfo=TZ)),
    ("app", datetime(2026, 11, 17, 18, 0, tzinfo=TZ)),
    ("server", datetime(2026, 11, 19, 2, 0, tzinfo=TZ)),
)
LIVE_CHECK = 'test -n "$(ls -A {dir})"'  # the restore wrote something: enough for the demo


@dataclass
class Step:
    title: str
    args: list[str]
    expect: int
    result: str = ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_s3() -> tuple[object, str]:
    import logging

    from moto.server import ThreadedMotoServer

    # moto logs every request, and a traceback for the 500s it sometimes answers under parallel
    # deletes (botocore retries those); the demo shows its own outcome instead.
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def _quiet_logs() -> None:
    """The demo prints its own one-line story; each step's own logs go to demo-output/logs/."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _say(text: str) -> None:
    print(text, flush=True)


def _seed(endpoint: str) -> int:
    """Create the bucket and the history; returns the number of snapshots written."""
    from backupctl.seed import S3Writer, seed_history
    from backupctl.stores.s3client import make_s3_client

    client = make_s3_client(endpoint_url=endpoint, region="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    writer = S3Writer(client, BUCKET, PREFIX + "/")
    return len(
        seed_history(
            writer,
            groups={"app": "0 0,6,12,18 * * *", "server": "0 2 * * *"},
            start=HISTORY_START,
            end=NOW,
            tz=TZ,
            missed={(g, t) for g, t in MISSED},
            seed=2026,
        )
    )


def _run(step: Step, env: dict[str, str], out: Path) -> tuple[int, str]:
    from backupctl import proc

    done = proc.run([sys.executable, "-m", "backupctl.cli", *step.args], env_extra=env, timeout=300)
    stdout, stderr = done.stdout_text, done.stderr_text
    log_name = step.title.replace(" ", "-").replace("/", "-") + ".txt"
    (out / "logs").mkdir(exist_ok=True)
    (out / "logs" / log_name).write_text(
        f"$ backupctl {' '.join(step.args)}\n(exit {done.returncode})\n\n"
        f"{stdout}\n--- stderr ---\n{stderr}"
    )
    return done.returncode, stdout


def _summarise(title: str, stdout: str) -> str:
    """One line per step, read from the command's --json output when there is one."""
    try:
        data = json.loads(stdout)
    except ValueError:
        lines = [ln for ln in stdout.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else ""
    return _summary_of(title, data)


def _summary_of(title: str, data: dict[str, object]) -> str:
    if "decisions" in data:
        decisions = data["decisions"]
        assert isinstance(decisions, list)
        keep = sum(1 for d in decisions if d["action"] == "keep")
        return f"{keep} to keep, {len(decisions) - keep} to forget"
    if "violations" in data:
        violations = data["violations"]
        assert isinstance(violations, list)
        kinds: dict[str, int] = {}
        for v in violations:
            kinds[v["kind"]] = kinds.get(v["kind"], 0) + 1
        return (
            "ok"
            if data.get("ok")
            else "violations: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        )
    refusals = data.get("refusals")
    deleted = data.get("deleted")
    if isinstance(deleted, list) and (deleted or data.get("forced")):
        # before the refusals: a forced run lists the refusals it overrode, yet it deleted
        freed = data.get("bytes_freed", 0)
        text = f"deleted {len(deleted)} snapshots, freed {humanize.size(freed)}"  # type: ignore[arg-type]
        if isinstance(refusals, list) and refusals:
            text += f", forced past {len(refusals)} refusal(s)"
        return text
    if isinstance(refusals, list) and refusals:
        return "refused: " + "; ".join(str(r["message"]) for r in refusals)
    if isinstance(deleted, list):
        return f"deleted {len(deleted)} snapshots"
    if "verdict" in data:
        return f"verdict {data['verdict']}"
    return ", ".join(f"{k}={v}" for k, v in list(data.items())[:4])


def steps(config: Path, out: Path) -> list[Step]:
    """The operator's day, in order, with the exit code each step is expected to end with."""
    c = ["--config", str(config)]
    proof_dir = out / "proof"
    return [
        Step("plan", ["plan", *c, "--json"], 0),
        Step("prune refused", ["prune", *c, "--json"], 4),
        Step(
            "prune forced",
            [
                "prune",
                *c,
                "--force",
                "--reason",
                "first run on a history that predates the policy",
                "--json",
            ],
            0,
        ),
        Step("verify", ["verify", *c, "--json"], 3),
        Step("drill", ["drill", *c, "--snapshot", "latest", "--json"], 0),
        Step("drill deadline", ["drill", "deadline", *c, "--from", NOW.isoformat(), "--json"], 0),
        Step(
            "proof",
            [
                "proof",
                *c,
                "--from",
                (NOW - timedelta(days=60)).date().isoformat(),
                "--to",
                (NOW + timedelta(days=1)).date().isoformat(),
                "--out",
                str(proof_dir),
            ],
            3,
        ),
        Step("proof check", ["proof", "check", str(proof_dir)], 0),
        Step("audit verify", ["audit", "verify", *c], 0),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; returns 0 when every step ended as expected."""
    out = Path(os.environ.get("BACKUPCTL_DEMO_DIR", "demo-output")).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    # moto accepts any credentials; these are long so that log redaction of the secret's value
    # never masks an ordinary word (such as the "demo" in demo-output/).
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "backupctl-demo-access-key")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "backupctl-demo-secret-not-a-real-one")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    started = time.monotonic()
    _quiet_logs()
    server, endpoint = _start_s3()
    try:
        _say(f"backupctl demo: S3-compatible endpoint on {endpoint} (moto), output in {out}")
        t0 = time.monotonic()
        count = _seed(endpoint)
        _say(
            f"seeded {count} snapshots, {HISTORY_START:%Y-%m-%d} .. {NOW:%Y-%m-%d %H:%M %Z}, "
            f"{len(MISSED)} backups missed on purpose ({time.monotonic() - t0:.1f} s)"
        )
        config = out / "backupctl.toml"
        config.write_text(
            starter_config(
                f"s3://{BUCKET}/{PREFIX}",
                endpoint_url=endpoint,
                live_check=LIVE_CHECK,
                live_check_timeout=30,
            )
        )
        env = {
            "BACKUPCTL_NOW": NOW.isoformat(),
            "BACKUPCTL_CONFIG": str(config),
            # audit verify remembers each log's head per host; every demo writes a new log to
            # the same s3://backups/salure, so a rerun must not compare it with the last one
            "XDG_STATE_HOME": str(out / "state"),
        }
        failures = 0
        for step in steps(config, out):
            t0 = time.monotonic()
            code, stdout = _run(step, env, out)
            ok = code == step.expect
            failures += not ok
            mark = "ok " if ok else "!! "
            _say(
                f"{mark}{step.title:<15} exit {code} "
                f"(expected {step.expect}, {time.monotonic() - t0:4.1f} s)  "
                f"{_summarise(step.title, stdout)}"
            )
        _say(f"\nproof page: {out / 'proof' / 'proof.html'}")
        _say(f"logs of every step: {out / 'logs'}/   config: {config}")
        _say(
            f"finished in {time.monotonic() - started:.0f} s; "
            + (
                "every step ended as expected"
                if not failures
                else f"{failures} step(s) did not end as expected"
            )
        )
        return 1 if failures else 0
    finally:
        server.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
