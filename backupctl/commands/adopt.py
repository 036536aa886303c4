"""``backupctl adopt``: write manifests for manifest-less snapshot folders already in the store
(see :mod:`backupctl.produce.adopt` and docs/adopt.md)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from backupctl import clock, humanize
from backupctl.commands.options import check_groups, config_option, group_option, load_config
from backupctl.errors import StoreError
from backupctl.produce.adopt import (
    Decision,
    apply_adoption,
    gather,
    parse_min_age,
    plan_adoption,
)

FIRST_PRUNE_NOTE = (
    "The first prune after adopting is normally refused by max_delete_fraction (the history "
    "predates the policy, so most of it is due at once). Check with `{plan}`, then run the "
    "`--force --reason` command that prune prints:\n    {prune}"
)


@click.command("adopt")
@config_option()
@group_option("folders")
@click.option(
    "--min-age",
    "min_age_text",
    default="1h",
    metavar="AGE",
    show_default=True,
    help="Adopt a folder only when its newest object is at least this old (s, m, h, d, w): "
    "a folder still being uploaded is skipped.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(
    config_path: str | None,
    groups: tuple[str, ...],
    min_age_text: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Write manifest.json for snapshot folders of configured groups that have none.

    Every object is hashed (sha256, streamed, in parallel), then the manifest is written with a
    conditional PUT, so a folder that has a manifest is never touched. The folder's time comes
    from its name (the key template). With a single-object key template, each object without
    an S3 checksum gets a digest record (_backupctl/digests/<id>.json) with its sha256 instead.
    Exit 1 when a snapshot could not be adopted.
    """
    from backupctl.commands.prune import FIRST_PRUNE_REASON
    from backupctl.evidence.audit import audit_log_for
    from backupctl.stores import open_store

    config = load_config(config_path)
    wanted = check_groups(groups, (p.group for p in config.policies))
    min_age = parse_min_age(min_age_text)
    audit = None if dry_run else audit_log_for(config)  # a bad key file stops us before writing
    store = open_store(config)
    now = clock.now()
    decisions = plan_adoption(gather(store, wanted), now, min_age)
    chosen = [d for d in decisions if d.skip is None]
    skipped = {d.candidate.sid: d.skip for d in decisions if d.skip is not None}
    doc: dict[str, Any] = {
        "dry_run": dry_run,
        "store": store.url,
        "min_age_seconds": int(min_age.total_seconds()),
        "skipped": skipped,
    }
    if dry_run:
        doc["would_adopt"] = [_row(d) for d in chosen]
        doc["adopted"] = []
        doc["failed"] = {}
    else:
        result = apply_adoption(store, chosen, workers=getattr(store, "workers", 4))
        doc["adopted"] = result.adopted
        doc["failed"] = result.failed
        record = {
            "store": store.url,
            "adopted": result.adopted,
            "skipped": skipped,
            "failed": result.failed,
            "objects": sum(a["objects"] for a in result.adopted),
            "bytes": sum(a["bytes"] for a in result.adopted),
        }
        assert audit is not None
        try:
            audit.append("adopt", record, now=now)  # signed when configured
        except StoreError as exc:
            raise StoreError(
                f"{len(result.adopted)} folder(s) adopted, but the audit record could not be "
                f"written: {exc}"
            ) from None
    again = f"--config {config_path}" if config_path else ""
    plan_cmd = " ".join(["backupctl plan", *([again] if again else [])])
    prune_cmd = " ".join(["backupctl prune", *([again] if again else [])])
    doc["next"] = {
        "plan": plan_cmd,
        "first_prune": f'{prune_cmd} --force --reason "{FIRST_PRUNE_REASON}"',
    }
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        single = bool(getattr(getattr(store, "template", None), "single", False))
        click.echo(_text(doc, chosen, single))
    if doc["failed"]:
        sys.exit(1)


def _row(d: Decision) -> dict[str, Any]:
    c = d.candidate
    row = {"id": c.sid, "folder": c.folder, "objects": len(c.objects), "bytes": c.bytes}
    if c.single:  # the object's key, and the digest record that would be written
        row.update(folder=c.folder + c.objects[0][0], record=c.writes)
    return row


def _text(doc: dict[str, Any], chosen: list[Decision], single: bool) -> str:
    noun = "single-object snapshot(s)" if single else "folder(s)"
    lines = []
    if doc["dry_run"]:
        lines.append(f"dry run: would adopt {len(chosen)} {noun}, writing nothing:")
        for d in chosen:
            c = d.candidate
            lines.append(
                f"  {c.sid}  {c.writes}  {humanize.count(len(c.objects), 'object')}, "
                f"{humanize.size(c.bytes)}"
            )
    else:
        lines.append(f"adopted {len(doc['adopted'])} {noun}:")
        for a in doc["adopted"]:
            lines.append(
                f"  {a['id']}  {humanize.count(a['objects'], 'object')}, "
                f"{humanize.size(a['bytes'])}"
            )
    for sid, why in doc["skipped"].items():
        lines.append(f"  skipped {sid}: {why}")
    for sid, why in doc["failed"].items():
        lines.append(f"  FAILED {sid}: {why}")
    if chosen:
        lines.append(
            FIRST_PRUNE_NOTE.format(plan=doc["next"]["plan"], prune=doc["next"]["first_prune"])
        )
    return "\n".join(lines)
