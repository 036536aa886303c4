"""``backupctl audit log``: the audit records as people read them: who, when, what, why.

One line per record (seq, time in the config's timezone, actor, what happened, why), read
from the store beside the backups. The records are untrusted input: every field is checked
for its type before it is shown, and a record of an unknown action is shown by its name.
The chain itself is checked by ``backupctl audit verify``; this listing only reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import click

from backupctl import humanize
from backupctl.commands.options import config_option, load_config

__all__ = ["command", "describe", "render"]


@click.command("log")
@config_option()
@click.option(
    "--action",
    "actions",
    multiple=True,
    metavar="NAME",
    help="Only records of this action or family (prune, prune.forced, drill, unlock …); "
    "repeatable.",
)
@click.option(
    "--since",
    "since_text",
    metavar="DATE",
    default=None,
    help="Only records from DATE on (2026-11-01, or a time; the config's timezone).",
)
@click.option(
    "--last", "last", type=click.IntRange(min=1), default=None, metavar="N", help="Only the last N."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per record, as listed.")
def command(
    config_path: str | None,
    actions: tuple[str, ...],
    since_text: str | None,
    last: int | None,
    as_json: bool,
) -> None:
    """List the audit records: who did what, when, and why (the reason of a forced prune, the
    verdict of a drill …). Read only; `backupctl audit verify` checks the chain."""
    from backupctl.clock import parse_at
    from backupctl.evidence.audit import AuditLog
    from backupctl.stores.locations import audit_blobs_for

    config = load_config(config_path)
    since = parse_at(since_text, config.timezone, "--since") if since_text else None
    records = AuditLog(audit_blobs_for(config)).records()
    rows = [
        r
        for r in records
        if (not actions or any(_matches(r, a) for a in actions))
        and (since is None or (_time(r) is not None and _time(r) >= since))  # type: ignore[operator]
    ]
    if last is not None:
        rows = rows[-last:]
    if as_json:
        for r in rows:
            what, why = describe(r)
            click.echo(
                json.dumps(
                    {
                        "seq": r.get("seq"),
                        "time": r.get("time"),
                        "actor": r.get("actor"),
                        "action": r.get("action"),
                        "what": what,
                        "why": why,
                    }
                )
            )
        return
    for line in render(rows, total=len(records)):
        click.echo(line)


def _matches(record: Mapping[str, Any], action: str) -> bool:
    name = str(record.get("action", ""))
    return name == action or name.startswith(action + ".")


def _time(record: Mapping[str, Any]) -> datetime | None:
    try:
        t = datetime.fromisoformat(str(record.get("time")))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def render(records: Sequence[Mapping[str, Any]], total: int | None = None) -> Iterator[str]:
    """The table: SEQ, WHEN, WHO, WHAT, WHY; then how many records were listed of how many."""
    rows = [("SEQ", "WHEN", "WHO", "WHAT", "WHY")]
    for r in records:
        t = _time(r)
        what, why = describe(r)
        rows.append(
            (
                _text(r.get("seq")),
                humanize.when(t) if t else _text(r.get("time")),
                _text(r.get("actor")),
                what,
                why or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        yield (
            "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        ).rstrip()
    of = f" of {total}" if total is not None and total != len(records) else ""
    yield f"{len(records)}{of} record(s); `backupctl audit verify` checks that none was changed"


def describe(record: Mapping[str, Any]) -> tuple[str, str]:
    """(what, why) of one record, in words; a field of the wrong type is left out."""
    action = _text(record.get("action"))
    data = record.get("data")
    d: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
    if action == "prune.forced":
        refusals = _list(d.get("refusals"))
        rules = sorted({_text(x.get("rule")) for x in refusals if isinstance(x, Mapping)})
        return (
            f"prune forced past {len(refusals)} refusal(s) ({', '.join(rules) or '-'})",
            _text(d.get("reason")),
        )
    if action == "prune.intent":
        counts = d.get("counts")
        kept = (
            sum(_int(c.get("keep")) for c in counts.values() if isinstance(c, Mapping))
            if isinstance(counts, Mapping)
            else None
        )
        keep = f", keep {kept}" if kept is not None else ""
        forced = d.get("forced")
        return (
            f"prune planned: delete {len(_list(d.get('delete')))}{keep}",
            f"forced: {_text(forced)}"
            if forced
            else f"the policy (config {_text(d.get('config_sha256'))[:12]})",
        )
    if action == "prune.result":
        failed = d.get("failed")
        n_failed = len(failed) if isinstance(failed, Mapping) else 0
        error = d.get("error")
        return (
            f"prune deleted {len(_list(d.get('deleted')))}, freed "
            f"{humanize.size(_int(d.get('bytes_freed')))} in "
            f"{humanize.duration(_float(d.get('duration_s')))}"
            + (f", {n_failed} failed" if n_failed else ""),
            f"error: {_text(error)}" if error else "",
        )
    if action == "drill":
        snap = d.get("snapshot")
        sid = _text(snap.get("id")) if isinstance(snap, Mapping) else "?"
        sel = d.get("selection")
        mode = _text(sel.get("mode")) if isinstance(sel, Mapping) else ""
        return (
            f"drill {_text(d.get('verdict'))}: {sid}, "
            f"{humanize.duration(_float(d.get('wall_seconds')))} "
            f"(target {_text(d.get('target'))})",
            f"{mode} snapshot" + (f"; {_text(d.get('message'))}" if d.get("message") else ""),
        )
    if action == "unlock":
        return (
            "removed the "
            + ("stale " if d.get("stale") else "")
            + "prune lock"
            + (" (forced)" if d.get("forced") else ""),
            "",
        )
    if action == "key.rotate":
        return (
            f"signing key rotated: {_text(d.get('old_key_id'))} -> {_text(d.get('new_key_id'))}",
            "",
        )
    return action, ""


def _text(value: Any) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return " ".join(text.split())[:200]  # one line, bounded: records are untrusted


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
