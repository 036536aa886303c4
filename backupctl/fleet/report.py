"""What a fleet run reports: the exit code's severity, the summary, the JSON document (written
as stores finish, so it never sits whole in memory), the human table, the proof index page and
``fleet merge``.

The JSON document (docs/fleet.md)::

    {"stores": {"NAME": {"exit", "verdict", "seconds", "counts", "error", "result"}, ...},
     "summary": {"command", "fleet", "fleet_sha256", "shard", "stores", "store_names",
                 "exit", "by_exit", "by_verdict", "started", "finished", "seconds", "workers"}}
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from backupctl.errors import EXIT_OK, UsageError
from backupctl.fleet.jobs import Outcome
from backupctl.fleet.shard import Shard, shard_of

__all__ = [
    "SEVERITY",
    "FleetSummary",
    "JsonStream",
    "merge_documents",
    "read_document",
    "render_index",
    "render_table",
    "worst",
]

SEVERITY = (1, 2, 4, 3, 0)
"""Exit codes from worst to best: the fleet exits with the worst of its stores'. 1 (an error:
the store could not be checked at all) and 2 (its config is bad: not checked either) come
before 4 (a safety rule refused: nothing was done) and 3 (the run worked and found a violation,
a FAIL verdict or a failed drill), then 0. Any other code ranks with 1."""
_RANK = {code: len(SEVERITY) - i for i, code in enumerate(SEVERITY)}


def worst(codes: Iterable[int]) -> int:
    """The worst exit code of ``codes`` by :data:`SEVERITY` (0 for none)."""
    result = EXIT_OK
    for code in codes:
        if _RANK.get(code, _RANK[1] + 1) > _RANK.get(result, _RANK[1] + 1):
            result = code
    return result


@dataclass
class FleetSummary:
    """Per store only its name and :meth:`Outcome.summary` (no listing, no result)."""

    command: str
    fleet: str
    fleet_sha256: str
    shard: Shard | None
    workers: int | None
    started: datetime
    finished: datetime | None = None
    rows: list[tuple[str, Outcome]] = field(default_factory=list)
    merged_from: list[str] | None = None

    def add(self, name: str, outcome: Outcome) -> None:
        """Record one finished store (its result is dropped)."""
        self.rows.append((name, outcome.summary()))

    @property
    def exit(self) -> int:
        """The fleet's exit code: the worst of its stores' (:func:`worst`)."""
        return worst(o.exit for _n, o in self.rows)

    def to_json(self) -> dict[str, Any]:
        """The ``summary`` object of the fleet document."""
        finished = self.finished or self.started
        doc: dict[str, Any] = {
            "command": self.command,
            "fleet": self.fleet,
            "fleet_sha256": self.fleet_sha256,
            "shard": self.shard.to_json() if self.shard else None,
            "stores": len(self.rows),
            "store_names": sorted(n for n, _o in self.rows),
            "exit": self.exit,
            "by_exit": {
                str(k): v for k, v in sorted(Counter(o.exit for _n, o in self.rows).items())
            },
            "by_verdict": dict(sorted(Counter(o.verdict for _n, o in self.rows).items())),
            "started": self.started.isoformat(),
            "finished": finished.isoformat(),
            "seconds": round((finished - self.started).total_seconds(), 3),
            "workers": self.workers,
        }
        if self.merged_from is not None:
            doc["merged_from"] = self.merged_from
        return doc


class JsonStream:
    """Writes the fleet document to ``sinks`` store by store, as each finishes."""

    def __init__(self, sinks: Sequence[TextIO]) -> None:
        self._sinks = list(sinks)
        self._count = 0
        self._write('{\n  "stores": {')

    def _write(self, text: str) -> None:
        for sink in self._sinks:
            sink.write(text)

    def store(self, name: str, outcome: Outcome | dict[str, Any]) -> None:
        """Append one store's entry (an outcome, or an entry read from a shard's document)."""
        entry = outcome if isinstance(outcome, dict) else outcome.to_json()
        body = json.dumps(entry, indent=2).replace("\n", "\n    ")
        self._write(("," if self._count else "") + f"\n    {json.dumps(name)}: {body}")
        self._count += 1

    def end(self, summary: dict[str, Any]) -> None:
        """Close the stores and write the summary."""
        body = json.dumps(summary, indent=2).replace("\n", "\n  ")
        self._write(("\n  " if self._count else "") + f'}},\n  "summary": {body}\n}}\n')
        for sink in self._sinks:
            sink.flush()


def _counts_text(o: Outcome) -> str:
    return ", ".join(f"{k}={v}" for k, v in o.counts.items())


def render_table(summary: FleetSummary) -> Iterator[str]:
    """The human summary: one row per store (sorted by name), the errors, the fleet line."""
    rows = [("STORE", "VERDICT", "EXIT", "SECONDS", "COUNTS")]
    for name, o in sorted(summary.rows):
        rows.append((name, o.verdict, str(o.exit), f"{o.seconds:.2f}", _counts_text(o) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        yield "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
    failed = [(n, o) for n, o in sorted(summary.rows) if o.error]
    if failed:
        yield ""
        yield f"PROBLEMS ({len(failed)}):"
        yield from (f"  {n}: {o.error}" for n, o in failed)
    doc = summary.to_json()
    verdicts = ", ".join(f"{n} {v}" for v, n in doc["by_verdict"].items())
    shard = f" (shard {summary.shard})" if summary.shard else ""
    yield ""
    yield (
        f"fleet {summary.command}{shard}: {doc['stores']} store(s): {verdicts or 'none'}; "
        f"exit {doc['exit']} (the worst) in {doc['seconds']:.1f} s"
    )


# ------------------------------------------------------------------------ proof index page


def render_index(
    summary: FleetSummary, links: dict[str, str], proofs: dict[str, dict[str, Any]]
) -> str:
    """The fleet proof's index page: a verdict (PASS when every store's proof was written and
    passed) and one row per store linking its proof page. Every value is HTML-escaped; links are
    percent-encoded relative paths. ``links``: store name -> path of its proof folder relative
    to the page; ``proofs``: store name -> its proof result (verdict, files, sha256)."""
    doc = summary.to_json()
    passed = doc["stores"] > 0 and doc["exit"] == EXIT_OK
    verdict = "PASS" if passed else "FAIL"
    e = html.escape
    rows = []
    for name, o in sorted(summary.rows):
        proof = proofs.get(name)
        if proof is not None and name in links:
            page = proof.get("files", {}).get("html", "proof.html")
            href = quote(f"{links[name].rstrip('/')}/{page}")
            cell = f'<a href="{e(href, quote=True)}">{e(name)}</a>'
            digest = f"<code>{e(str(proof.get('sha256', '')))}</code>"
        else:
            cell, digest = e(name), ""
        rows.append(
            f'<tr class="{"ok" if o.exit == EXIT_OK else "bad"}"><td>{cell}</td>'
            f"<td>{e(o.verdict)}</td><td>{o.exit}</td>"
            f"<td>{e(str(o.counts.get('findings', '')))}</td>"
            f"<td>{digest}</td><td>{e(o.error or '')}</td></tr>"
        )
    shard = f" (shard {summary.shard})" if summary.shard else ""
    title = f"Fleet retention proof{shard}: {verdict}"
    by_verdict = ", ".join(f"{n} {v}" for v, n in doc["by_verdict"].items()) or "no stores"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
        "tr.bad td{background:#fde8e8}.PASS{color:#176b24}.FAIL{color:#b00020}"
        "</style></head><body>\n"
        f'<h1>Fleet retention proof{e(shard)}: <span class="{verdict}">{verdict}</span></h1>\n'
        f"<p>{doc['stores']} store(s): {e(by_verdict)}. Fleet file {e(summary.fleet)} "
        f"(sha256 <code>{e(summary.fleet_sha256)}</code>); written {e(doc['finished'])}.</p>\n"
        "<p>Each store's proof is its own folder: check one with "
        "<code>backupctl proof check FOLDER</code>.</p>\n"
        "<table><tr><th>store</th><th>verdict</th><th>exit</th><th>findings</th>"
        "<th>proof.json sha256</th><th>problem</th></tr>\n" + "\n".join(rows) + "\n</table>\n"
        "</body></html>\n"
    )


# ------------------------------------------------------------------------------------ merge


@dataclass(frozen=True)
class ShardDocument:
    """One shard's fleet document as read by ``fleet merge``; ``folder`` holds its proofs."""

    source: str
    folder: Path
    stores: dict[str, Any]
    summary: dict[str, Any]


def read_document(path: str) -> ShardDocument:
    """Read a fleet JSON document: a file, or a fleet proof folder holding ``fleet.json``.

    Raises:
        UsageError: unreadable, not JSON, or not a complete fleet document (naming the file).
    """
    p = Path(path)
    file = p / "fleet.json" if p.is_dir() else p
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"fleet merge: {file}: cannot read it: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(
            f"fleet merge: {file}: not a complete fleet JSON document ({exc}); "
            "was its run cut short?"
        ) from None
    summary = doc.get("summary") if isinstance(doc, dict) else None
    stores = doc.get("stores") if isinstance(doc, dict) else None
    if not isinstance(summary, dict) or not isinstance(stores, dict):
        raise UsageError(
            f"fleet merge: {file}: not a fleet document (expected the output of "
            "backupctl fleet COMMAND --json, with stores and summary)"
        )
    names = summary.get("store_names")
    if not isinstance(names, list) or sorted(stores) != sorted(names):
        raise UsageError(f"fleet merge: {file}: its stores do not match summary.store_names")
    return ShardDocument(str(file), file.parent, stores, summary)


def _shard_of_doc(doc: ShardDocument) -> Shard:
    shard = doc.summary.get("shard")
    if not isinstance(shard, dict):
        raise UsageError(
            f"fleet merge: {doc.source} is not a shard's document (it was run without --shard)"
        )
    try:
        return Shard(int(shard["index"]), int(shard["count"]))
    except (KeyError, TypeError, ValueError):
        raise UsageError(
            f"fleet merge: {doc.source}: summary.shard is not {{index, count}}"
        ) from None


def merge_documents(docs: Sequence[ShardDocument]) -> tuple[FleetSummary, dict[str, Any]]:
    """Join the documents of shards 0/N … N-1/N of one fleet run.

    Returns:
        The merged summary and the stores (name -> entry, by name).

    Raises:
        UsageError: no document; documents of different commands or fleet files; a shard
            given twice or missing; a store in two documents or in the wrong shard.
    """
    if not docs:
        raise UsageError("fleet merge: no documents given (expected one per shard, 0/N to N-1/N)")
    shards = [_shard_of_doc(d) for d in docs]
    first = docs[0].summary
    for d in docs[1:]:
        for key, what in (("command", "command"), ("fleet_sha256", "fleet file")):
            if d.summary.get(key) != first.get(key):
                raise UsageError(
                    f"fleet merge: {d.source} is of another {what} than {docs[0].source} "
                    f"({d.summary.get(key)!r} against {first.get(key)!r}); merge one run's shards"
                )
    counts = {s.count for s in shards}
    if len(counts) > 1:
        raise UsageError(
            f"fleet merge: the shards split the fleet differently (N = {sorted(counts)}); "
            "merge the shards of one split"
        )
    n = shards[0].count
    by_index: dict[int, str] = {}
    for d, s in zip(docs, shards, strict=True):
        if s.index in by_index:
            raise UsageError(
                f"fleet merge: overlapping shards: {s} is in both {by_index[s.index]} "
                f"and {d.source}"
            )
        by_index[s.index] = d.source
    missing = [f"{i}/{n}" for i in range(n) if i not in by_index]
    if missing:
        raise UsageError(
            f"fleet merge: missing shard(s) {', '.join(missing)}: expected all {n} shards of "
            "the run (0 to {last})".format(last=f"{n - 1}/{n}")
        )
    stores: dict[str, Any] = {}
    where: dict[str, str] = {}
    summary = FleetSummary(
        command=str(first.get("command")),
        fleet=str(first.get("fleet")),
        fleet_sha256=str(first.get("fleet_sha256")),
        shard=None,
        workers=None,
        started=min(_time(d.summary.get("started"), d.source) for d in docs),
        finished=max(_time(d.summary.get("finished"), d.source) for d in docs),
        merged_from=[str(s) for s in sorted(shards, key=lambda s: s.index)],
    )
    for d, s in zip(docs, shards, strict=True):
        for name, entry in d.stores.items():
            if name in where:
                raise UsageError(
                    f"fleet merge: overlapping shards: store {name!r} is in {where[name]} "
                    f"and {d.source}"
                )
            if shard_of(name, n) != s.index:
                raise UsageError(
                    f"fleet merge: store {name!r} is in {d.source} (shard {s}) but belongs to "
                    f"shard {shard_of(name, n)}/{n}; was the document edited?"
                )
            where[name] = d.source
            stores[name] = entry
            summary.rows.append((name, _outcome(entry, name, d.source)))
    return summary, dict(sorted(stores.items()))


def _time(value: Any, source: str) -> datetime:
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        t = None
    if t is None or t.tzinfo is None:
        raise UsageError(
            f"fleet merge: {source}: summary time {value!r} is not ISO 8601 with an offset"
        )
    return t


def _outcome(entry: Any, name: str, source: str) -> Outcome:
    if not isinstance(entry, dict) or not isinstance(entry.get("exit"), int):
        raise UsageError(f"fleet merge: {source}: store {name!r} has no exit code")
    counts = entry.get("counts")
    if not isinstance(counts, dict):
        counts = {}
    return Outcome(
        exit=entry["exit"],
        verdict=str(entry.get("verdict", "")),
        counts=dict(counts),
        error=entry.get("error"),
        seconds=float(entry.get("seconds") or 0.0),
    )


def relative_link(target: Path, page_dir: Path) -> str:
    """``target`` as a path relative to ``page_dir`` with ``/`` separators (for a link)."""
    return Path(os.path.relpath(target.resolve(), page_dir.resolve())).as_posix()
