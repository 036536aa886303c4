"""Issue 13 part 1: single-object snapshots (a key template not ending in '/'), the layout part:
the object is the snapshot, complete when it exists; keys that match no template are unknown."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backupctl.config import parse_config
from backupctl.errors import ConfigError
from backupctl.stores.file import FileStore
from backupctl.stores.layout import FolderScanner, KeyTemplate, build_listing, layout_problems

AMS = ZoneInfo("Europe/Amsterdam")
DUMPS = "{group}/{time:%Y-%m-%dT%H%M}.sql.gz"


def test_the_object_is_the_snapshot_and_near_misses_are_unknown() -> None:
    kt = KeyTemplate.compile(DUMPS, groups={"db"}, tz=AMS)
    assert kt.single and not KeyTemplate.compile("{group}/{time}/").single
    m = kt.match("db/2026-11-23T0200.sql.gz")
    assert m is not None
    assert (m.folder, m.group, m.time, m.rest) == (
        "db/2026-11-23T0200.sql.gz",
        "db",
        datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
        "",
    )
    assert kt.folder("db", m.time) == "db/2026-11-23T0200.sql.gz"
    for near in (
        "db/2026-11-23T0200.sql.gz.part",
        "db/2026-11-23T0200.sql.gz/x",
        "db/2026-11-23T0200.sql",
        "db/2026-11-23T02000.sql.gz",
        "db/2026-03-29T0230.sql.gz",  # a DST gap
        "other/2026-11-23T0200.sql.gz",
    ):
        assert kt.match(near) is None, near


def test_a_listing_of_single_objects_has_one_complete_snapshot_per_dump() -> None:
    kt = KeyTemplate.compile(DUMPS, groups={"db"}, tz=AMS)
    scan = FolderScanner(kt, {"db"}).add_all(
        [
            ("db/2026-10-25T0130.sql.gz", 10),
            ("db/2026-10-25T0230.sql.gz", 20),  # the repeated hour: the first occurrence
            ("db/2026-10-25T0230.sql.gz.tmp", 5),
            ("db/README", 1),
        ]
    )
    listing = build_listing(scan, {}, AMS)
    assert [(s.snapshot.id, s.status, s.size) for s in listing.snapshots] == [
        ("db/20261024T233000Z", "complete", 10),
        ("db/20261025T003000Z", "complete", 20),
    ]
    assert [e.key for e in listing.snapshots[0].manifest or ()] == ["2026-10-25T0130.sql.gz"]
    assert listing.unknown == ["db/2026-10-25T0230.sql.gz.tmp", "db/README"]
    assert not listing.incomplete
    assert "first occurrence" in listing.name_notes["db/20261025T003000Z"]


def test_single_object_templates_pass_the_overlap_proof_or_are_refused() -> None:
    assert layout_problems(DUMPS, ["db", "app"]) == []
    assert layout_problems("{group}{time:%Y%m%d}.gz", ["a", "a1"]) == []
    assert layout_problems("{group}-{time}", ["a", "a-b"]) == []
    assert layout_problems("_backupctl/{group}/{time}.gz", ["a"])  # backupctl's own folder


def test_stores_refuse_single_object_templates_until_they_can_delete_them(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "store": {"url": f"file://{tmp_path}", "key_template": DUMPS},
            "policy": [{"name": "db", "keep_last": 3}],
        }
    )
    with pytest.raises(ConfigError, match=r"single-object snapshots .* not supported"):
        FileStore(cfg)
