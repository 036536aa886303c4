"""Issue 13 part 1 on a real file store: ``{time:FORMAT}`` folders named in local time
(``store.name_timezone``) across the 2026-10-25 DST change, listed, noted and pruned."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from backupctl.config import Config, parse_config
from backupctl.seed import DirWriter
from backupctl.stores.file import FileStore
from backupctl.stores.layout import MANIFEST, KeyTemplate, snapshot_id

AMS = ZoneInfo("Europe/Amsterdam")
TEMPLATE = "{group}/{time:%Y-%m-%dT%H%M}/"


def make_config(root: Path, **store: object) -> Config:
    return parse_config(
        {
            "timezone": "UTC",
            "store": {"url": f"file://{root}", "key_template": TEMPLATE, **store},
            "policy": [{"name": "db", "keep_last": 100}],
        }
    )


def write_folder(root: Path, folder: str, group: str, time_utc: datetime) -> None:
    """A folder snapshot at ``folder`` whose manifest claims ``time_utc``."""
    data = folder.encode()
    DirWriter(root).put(folder + "dump.sql.gz", data)
    doc = {
        "version": 1,
        "group": group,
        "time": time_utc.isoformat(),
        "objects": [
            {"key": "dump.sql.gz", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        ],
    }
    DirWriter(root).put(folder + MANIFEST, json.dumps(doc).encode())


def test_local_names_across_the_dst_change_list_prune_and_note(tmp_path: Path) -> None:
    names = {  # local name -> the UTC time it denotes (first occurrence for 02:30)
        "db/2026-10-25T0130/": datetime(2026, 10, 24, 23, 30, tzinfo=UTC),
        "db/2026-10-25T0230/": datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        "db/2026-10-25T0330/": datetime(2026, 10, 25, 2, 30, tzinfo=UTC),
    }
    for folder, t in names.items():
        write_folder(tmp_path, folder, "db", t)
    gap = "db/2026-03-29T0230/"  # never happened in Amsterdam
    write_folder(tmp_path, gap, "db", datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    (tmp_path / "db/notes.txt").write_text("stray")

    store = FileStore(make_config(tmp_path, name_timezone="Europe/Amsterdam"))
    listing = store.listing()
    assert [(s.snapshot.id, s.status) for s in listing.snapshots] == [
        (snapshot_id("db", t), "complete") for t in names.values()
    ]
    assert set(listing.unknown) == {gap + "dump.sql.gz", gap + MANIFEST, "db/notes.txt"}
    ambiguous = snapshot_id("db", names["db/2026-10-25T0230/"])
    assert "first occurrence" in listing.name_notes[ambiguous]
    assert "never happened" in listing.name_notes[gap + MANIFEST]
    assert not listing.incomplete

    # prune of the ambiguous snapshot deletes exactly its folder, and no unknown key
    target = next(s for s in listing.snapshots if s.snapshot.id == ambiguous)
    report = store.delete([target], listing=listing)
    assert report.deleted == [ambiguous] and not report.failed
    assert not (tmp_path / "db/2026-10-25T0230").exists()
    for folder in ("db/2026-10-25T0130/", "db/2026-10-25T0330/", gap):
        assert (tmp_path / folder / MANIFEST).is_file()
    assert (tmp_path / "db/notes.txt").is_file()


def test_without_name_timezone_names_are_read_in_the_top_level_timezone(tmp_path: Path) -> None:
    t = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    write_folder(tmp_path, "db/2026-11-23T0200/", "db", t)  # 02:00 in Amsterdam
    cfg = parse_config(
        {
            "timezone": "Europe/Amsterdam",
            "store": {"url": f"file://{tmp_path}", "key_template": TEMPLATE},
            "policy": [{"name": "db", "keep_last": 100}],
        }
    )
    listing = FileStore(cfg).listing()
    assert [s.snapshot.id for s in listing.snapshots] == ["db/20261123T010000Z"]
    # read in UTC the same name is another time, so the manifest's time does not match it
    utc = FileStore(make_config(tmp_path)).listing()
    assert not utc.snapshots and "does not match" in (utc.incomplete[0].problem or "")
    assert KeyTemplate.compile(TEMPLATE, tz=AMS).folder("db", t) == "db/2026-11-23T0200/"


def test_verify_reports_why_a_snapshot_shaped_name_is_unknown(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from backupctl.cli import main

    store = tmp_path / "store"
    write_folder(store, "db/2026-10-25T0230/", "db", datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    write_folder(store, "db/2026-03-29T0230/", "db", datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(
        f'timezone = "Europe/Amsterdam"\n[store]\nurl = "file://{store}"\n'
        f'key_template = "{TEMPLATE}"\n[[policy]]\nname = "db"\nkeep_last = 100\n'
    )
    result = CliRunner().invoke(main, ["verify", "--config", str(cfg), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    unknown = [n for n in doc["notes"] if n["kind"] == "unknown_key"]
    assert {n["key"] for n in unknown} == {
        "db/2026-03-29T0230/dump.sql.gz",
        "db/2026-03-29T0230/manifest.json",
    }
    assert all("never happened" in n["problem"] for n in unknown)
    [twice] = [n for n in doc["notes"] if n["kind"] == "name_time"]
    assert twice["id"] == "db/20261025T003000Z" and "first occurrence" in twice["problem"]
    human = CliRunner().invoke(main, ["-v", "verify", "--config", str(cfg)])
    assert "db/2026-03-29T0230/manifest.json: '2026-03-29T0230' never happened" in human.output
