"""``backupctl fleet (plan|verify|prune|proof|drill) --fleet FLEET.toml``: many stores in one
process, and ``backupctl fleet merge``: the shards' documents joined into one (docs/fleet.md).

The fleet file and each store's config: :mod:`backupctl.fleet.spec`; one store's run:
:mod:`backupctl.fleet.jobs`; the pool: :mod:`backupctl.fleet.pool`; exit severity, the JSON
document, the index page and merge: :mod:`backupctl.fleet.report`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click

from backupctl.commands.options import no_cache_option, no_cache_requested
from backupctl.errors import UsageError

__all__ = ["command"]

_EXITS = (
    "Exit codes: the worst of the stores' (1 error > 2 bad config > 4 refusal > 3 violation > 0); "
    "2 also for a bad fleet file or flag, before any store runs."
)


def _common(func: Any) -> Any:
    for option in reversed(
        (
            click.option(
                "--fleet",
                "fleet_path",
                required=True,
                type=click.Path(dir_okay=False),
                help="The fleet file (docs/fleet.md).",
            ),
            click.option(
                "--workers",
                type=click.IntRange(1, 256),
                default=None,
                help="Stores run at once (default: [fleet] workers, else 8).",
            ),
            click.option(
                "--shard",
                "shard_text",
                metavar="K/N|auto/N",
                default=None,
                help="Run only shard K of N (0-based, stable by store name); auto/N takes K "
                "from $JOB_COMPLETION_INDEX.",
            ),
            click.option(
                "--json", "as_json", is_flag=True, help="Print one JSON document on stdout."
            ),
            no_cache_option(),
        )
    ):
        func = option(func)
    return func


def _now() -> datetime:
    return datetime.now(UTC)


def run_fleet(
    options: Any,
    fleet_path: str,
    workers: int | None,
    shard_text: str | None,
    as_json: bool,
    *,
    sinks: tuple[TextIO, ...] = (),
    on_done: Callable[[str, Any], None] | None = None,
) -> Any:
    """Run ``options.command`` over the fleet (or one shard of it); stream the JSON document
    to stdout (``as_json``) and ``sinks``; print the table otherwise. Returns the summary.

    Raises:
        ConfigError, UsageError: a bad fleet file or ``--shard`` (nothing has run).
    """
    from backupctl.fleet.jobs import run_store
    from backupctl.fleet.pool import DEFAULT_WORKERS, run_pool
    from backupctl.fleet.report import FleetSummary, JsonStream, render_table
    from backupctl.fleet.shard import parse_shard
    from backupctl.fleet.spec import load_fleet

    if no_cache_requested():
        options = dataclasses.replace(options, no_cache=True)
    spec = load_fleet(fleet_path)
    shard = parse_shard(shard_text) if shard_text is not None else None
    entries = [e for e in spec.stores if shard is None or shard.holds(e.name)]
    if entries:
        from backupctl.fleet.boto import share_model_loader

        share_model_loader()  # S3 stores parse botocore's models once, not once a client
    pool_size = workers or spec.workers or DEFAULT_WORKERS
    summary = FleetSummary(
        command=options.command,
        fleet=spec.path,
        fleet_sha256=spec.sha256,
        shard=shard,
        workers=pool_size,
        started=_now(),
    )
    stream = JsonStream([*((sys.stdout,) if as_json else ()), *sinks])
    done = _progress(len(entries), options.command)
    from backupctl.stores.s3client import shared_sessions

    try:
        with shared_sessions():  # one botocore session for the fleet's clients (s3client.py)
            for entry, outcome in run_pool(entries, lambda e: run_store(e, options), pool_size):
                stream.store(entry.name, outcome)
                summary.add(entry.name, outcome)
                if on_done is not None:
                    on_done(entry.name, outcome)
                done(entry.name, outcome.exit)
    finally:
        done(None, 0)
    summary.finished = _now()
    stream.end(summary.to_json())
    if not as_json:
        for line in render_table(summary):
            click.echo(line)
    return summary


def _progress(total: int, command: str) -> Callable[[str | None, int], None]:
    """One progress line on stderr when it is a TTY (``done(name, exit)`` per store,
    ``done(None, 0)`` at the end); nothing otherwise."""
    if not sys.stderr.isatty() or not total:
        return lambda _name, _code: None
    state = {"done": 0, "bad": 0}

    def done(name: str | None, code: int) -> None:
        if name is None:
            click.echo("", err=True)
            return
        state["done"] += 1
        state["bad"] += code != 0
        click.echo(
            f"\rfleet {command}: {state['done']}/{total} stores, {state['bad']} not ok"
            f" (last: {name[:32]})\x1b[K",
            err=True,
            nl=False,
        )

    return done


def _check_time(text: str | None, what: str) -> None:
    """Fail early (exit 2) on a --at/--from/--to that no store could parse."""
    if text is not None:
        from backupctl.evidence.verify import parse_day_or_time

        parse_day_or_time(text, what, UTC)


def _exit(summary: Any) -> None:
    code = summary.exit
    if code:
        click.get_current_context().exit(code)


@click.group("fleet")
def command() -> None:
    """Run plan, verify, prune, proof or drill over many stores in one process, with a bounded
    pool, one summary table (or one JSON document with --json) and the worst exit code.

    \b
    backupctl fleet verify --fleet fleet.toml --workers 8
    backupctl fleet verify --fleet fleet.toml --shard 0/3 --json > shard-0.json
    backupctl fleet merge shard-0.json shard-1.json shard-2.json

    The fleet file lists the stores: each with its own config, or one template config with
    per-store variables (docs/fleet.md).
    """


@command.command("plan")
@_common
def plan(fleet_path: str, workers: int | None, shard_text: str | None, as_json: bool) -> None:
    """What prune would do in each store (nothing is changed). Exit 0 unless a store failed."""
    from backupctl.fleet.jobs import JobOptions

    _exit(run_fleet(JobOptions("plan"), fleet_path, workers, shard_text, as_json))


plan.help = (plan.help or "") + "\n\n" + _EXITS


@command.command("verify")
@_common
@click.option("--at", "at_text", metavar="TIME", default=None, help="Check as of this time.")
@click.option(
    "--from",
    "from_text",
    metavar="DATE",
    default=None,
    help="Report no missed backup or coverage gap before DATE (in each store's time zone).",
)
def verify(
    fleet_path: str,
    workers: int | None,
    shard_text: str | None,
    as_json: bool,
    at_text: str | None,
    from_text: str | None,
) -> None:
    """verify each store: missed backups, coverage, over-retention, integrity, audit log."""
    from backupctl.fleet.jobs import JobOptions

    _check_time(at_text, "--at")
    _check_time(from_text, "--from")
    options = JobOptions("verify", at=at_text, since=from_text)
    _exit(run_fleet(options, fleet_path, workers, shard_text, as_json))


verify.help = (verify.help or "") + "\n\n" + _EXITS


@command.command("prune")
@_common
@click.option(
    "--dry-run", is_flag=True, help="Plan and report what would be deleted; touch nothing."
)
def prune(
    fleet_path: str, workers: int | None, shard_text: str | None, as_json: bool, dry_run: bool
) -> None:
    """prune each store under its own lock and safety rules. There is no --force: overriding
    a safety rule is one store's decision (backupctl prune --config F --force --reason …)."""
    from backupctl.fleet.jobs import JobOptions

    _exit(run_fleet(JobOptions("prune", dry_run=dry_run), fleet_path, workers, shard_text, as_json))


prune.help = (prune.help or "") + "\n\n" + _EXITS


@command.command("proof")
@_common
@click.option("--from", "from_text", metavar="DATE", required=True, help="Start of the period.")
@click.option("--to", "to_text", metavar="DATE", required=True, help="End (exclusive).")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for index.html, fleet.json and one proof folder per store (created).",
)
def proof(
    fleet_path: str,
    workers: int | None,
    shard_text: str | None,
    as_json: bool,
    from_text: str,
    to_text: str,
    out_dir: str,
) -> None:
    """Write each store's proof into OUT/STORE/, the fleet document OUT/fleet.json and an
    index page OUT/index.html linking every proof, with the fleet verdict (PASS only when
    every store's proof was written and passed)."""
    from backupctl.evidence.verify import parse_day_or_time
    from backupctl.fleet.jobs import JobOptions

    _check_time(from_text, "--from")
    _check_time(to_text, "--to")
    if parse_day_or_time(to_text, "--to", UTC) <= parse_day_or_time(from_text, "--from", UTC):
        raise UsageError(f"--to {to_text} is not after --from {from_text}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        sink = (out / "fleet.json").open("w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--out {out_dir}: cannot write there: {exc.strerror or exc}") from None
    proofs: dict[str, dict[str, Any]] = {}

    def keep(name: str, outcome: Any) -> None:
        if outcome.result is not None:
            proofs[name] = {k: outcome.result.get(k) for k in ("files", "sha256")}

    options = JobOptions("proof", proof_from=from_text, proof_to=to_text, proof_out=out)
    with sink:
        summary = run_fleet(
            options, fleet_path, workers, shard_text, as_json, sinks=(sink,), on_done=keep
        )
    write_index(out / "index.html", summary, {n: n for n in proofs}, proofs)
    if not as_json:
        click.echo(f"wrote {out / 'index.html'} and {out / 'fleet.json'}")
    _exit(summary)


proof.help = (proof.help or "") + "\n\n" + _EXITS


def write_index(
    path: Path, summary: Any, links: dict[str, str], proofs: dict[str, dict[str, Any]]
) -> None:
    """Write the fleet's index page (atomically: a reader never sees half a page).

    Raises:
        UsageError: the page cannot be written.
    """
    import os

    from backupctl.fleet.report import render_index

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(render_index(summary, links, proofs), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the index page: {exc.strerror or exc}") from None


@command.command("drill")
@_common
@click.option(
    "--snapshot",
    "how",
    default="latest",
    show_default=True,
    metavar="latest|random",
    help="Which snapshot to restore in each store.",
)
@click.option("--stratified", is_flag=True, help="Rotate over the daily, weekly, monthly tiers.")
@click.option(
    "--sample",
    type=click.FloatRange(0, 100, min_open=True),
    default=100.0,
    show_default=True,
    metavar="PCT",
    help="Verify only this share of the objects (seeded).",
)
@click.option("--seed", type=int, default=None, help="Seed for random choices (default: fresh).")
@click.option("--keep", is_flag=True, help="Leave the restored files in the scratch folders.")
def drill(
    fleet_path: str,
    workers: int | None,
    shard_text: str | None,
    as_json: bool,
    how: str,
    stratified: bool,
    sample: float,
    seed: int | None,
    keep: bool,
) -> None:
    """A timed test restore in each store, recorded in its audit log (a failed drill is 3)."""
    from backupctl.fleet.jobs import JobOptions

    if how not in ("latest", "random"):
        raise UsageError(
            f"--snapshot {how!r}: a fleet drills latest or random (an id names one store's "
            "snapshot: use backupctl drill --config F --snapshot ID)"
        )
    options = JobOptions(
        "drill",
        drill_how=how,
        drill_stratified=stratified,
        drill_sample=sample,
        drill_seed=seed,
        drill_keep=keep,
    )
    _exit(run_fleet(options, fleet_path, workers, shard_text, as_json))


drill.help = (drill.help or "") + "\n\n" + _EXITS


@command.command("merge")
@click.argument("inputs", nargs=-1, required=True, metavar="SHARD.json|PROOF_DIR...")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the merged document here (default: stdout).",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="For proofs: write the fleet index page here, linking each shard's store folders.",
)
def merge(inputs: tuple[str, ...], out_file: str | None, html_file: str | None) -> None:
    """Join the JSON documents of shards 0/N … N-1/N of one run (files, or fleet proof
    folders holding fleet.json) into the document an unsharded run writes. Refuses (exit 2)
    shards given twice, missing shards, a store in two shards, and documents of different
    commands or fleet files.

    Exit codes: the merged fleet's (the worst of its stores'), or 2 when it refuses.
    """
    from backupctl.fleet.report import (
        JsonStream,
        merge_documents,
        read_document,
        relative_link,
        render_table,
    )

    docs = [read_document(p) for p in inputs]
    summary, stores = merge_documents(docs)
    if html_file is not None:
        if summary.command != "proof":
            raise UsageError(f"--html: the documents are of fleet {summary.command}, not proof")
        page_dir = Path(html_file).parent
        links: dict[str, str] = {}
        proofs: dict[str, dict[str, Any]] = {}
        for d in docs:
            for name, entry in d.stores.items():
                result = entry.get("result") if isinstance(entry, dict) else None
                if isinstance(result, dict) and isinstance(result.get("dir"), str):
                    links[name] = relative_link(d.folder / result["dir"], page_dir)
                    proofs[name] = {k: result.get(k) for k in ("files", "sha256")}
        write_index(Path(html_file), summary, links, proofs)
    sink: TextIO
    try:
        sink = open(out_file, "w", encoding="utf-8") if out_file else sys.stdout  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"--out {out_file}: cannot write it: {exc.strerror or exc}") from None
    try:
        stream = JsonStream([sink])
        for name, entry in stores.items():
            stream.store(name, entry)
        stream.end(summary.to_json())
    finally:
        if out_file:
            sink.close()
    if out_file:
        for line in render_table(summary):
            click.echo(line)
    _exit(summary)
