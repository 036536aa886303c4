"""The S3/file snapshot layout: key templates, folder grouping, manifests, journals (pure)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backupctl.stores.base import DeleteReport, StoredSnapshot
from backupctl.stores.layout import (
    FolderScanner,
    KeyTemplate,
    LayoutError,
    ManifestError,
    ManifestRead,
    build_listing,
    decode_journal,
    encode_journal,
    parse_manifest,
    parse_snapshot_id,
    select_deletions,
    snapshot_id,
)
from retention import Snapshot

T = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
SHA = "ab" * 32
TEMPLATES = ["{group}/{time}/", "{time}-{group}/", "backups/{group}/{time}/", "x/{group}-{time}/"]


def manifest(**over: object) -> bytes:
    doc: dict[str, object] = {
        "version": 1,
        "group": "app",
        "time": "2026-11-20T05:00:00+00:00",
        "objects": [{"key": "db/dump.sql", "size": 3, "sha256": SHA}],
    }
    doc.update(over)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "bad",
    [
        "{group}/",
        "{time}/",
        "{time}/{group}",  # a single object needs {time} in its last segment
        "/{group}/{time}/",
        "/{group}/{time}.gz",
        "{group}/../{time}.gz",
        "{group}/{time}/{x}/",
        "{group}{group}/{time}/",
        "{group}//{time}/",
    ],
)
def test_bad_templates_are_refused_with_the_template_named(bad: str) -> None:
    with pytest.raises(LayoutError, match=r"key template"):
        KeyTemplate.compile(bad)


@pytest.mark.parametrize("template", TEMPLATES)
def test_templates_split_keys(template: str) -> None:
    kt = KeyTemplate.compile(template)
    folder = kt.folder("app", T)
    m = kt.match(folder + "data/x.bin")
    assert m is not None and (m.folder, m.group, m.time, m.rest) == (folder, "app", T, "data/x.bin")
    assert kt.match("unrelated.txt") is None
    assert (
        kt.match(folder.replace("20261120T050000Z", "20261399T050000Z") + "x") is None
    )  # month 13


times = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)
)
groups = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=12)
rests = st.text(alphabet="abcxyz0123456789/._-", max_size=20)


@given(st.sampled_from(TEMPLATES), groups, times, rests)
def test_folder_and_match_round_trip(template: str, group: str, t: datetime, rest: str) -> None:
    kt = KeyTemplate.compile(template)
    m = kt.match(kt.folder(group, t) + rest)
    assert m is not None and (m.group, m.time, m.rest) == (group, t, rest)
    assert parse_snapshot_id(snapshot_id(group, t)) == (group, t)


def test_scanner_aggregates_folders_and_sorts_out_unknown_and_internal_keys() -> None:
    s = FolderScanner(KeyTemplate.compile("{group}/{time}/"), {"app", "server"}).add_all(
        [
            ("app/20261120T050000Z/a", 10),
            ("app/20261120T050000Z/b/c", 5),
            ("app/20261120T050000Z/manifest.json", 2),
            ("server/20261120T010000Z/x", 7),  # no manifest
            ("other/20261120T010000Z/manifest.json", 1),  # no policy
            ("app/2026112T050000Z/a", 1),
            ("app/notatime/a", 1),
            ("loose.txt", 1),
            ("_backupctl/lock.json", 1),
            ("_backupctl/audit/0000000001.json", 1),
            ("_backupctl/deleting/r.json", 1),
        ]
    )
    app = s.folders["app/20261120T050000Z/"]
    assert (app.objects, app.bytes, app.has_manifest, app.id) == (
        3,
        17,
        True,
        "app/20261120T050000Z",
    )
    assert not s.folders["server/20261120T010000Z/"].has_manifest
    assert sorted(s.unknown) == [
        "app/2026112T050000Z/a",
        "app/notatime/a",
        "loose.txt",
        "other/20261120T010000Z/manifest.json",
    ]
    assert s.journals == ["_backupctl/deleting/r.json"]


def test_a_good_manifest_parses() -> None:
    [e] = parse_manifest(
        manifest(time="2026-11-20T06:00:00+01:00"), "app", T
    )  # same instant, other offset
    assert (e.key, e.size, e.sha256) == ("db/dump.sql", 3, SHA)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{nope", "not valid JSON"),
        (b"[]", "expected a JSON object"),
        (manifest(version=2), "unsupported version 2"),
        (manifest(group="server"), "does not match the key's group"),
        (manifest(time="2026-11-20T05:00:01Z"), "does not match the key's time"),
        (manifest(time="2026-11-20T05:00:00"), "no UTC offset"),
        (manifest(time="yesterday"), "not an ISO 8601 time"),
        (manifest(objects={}), "must be a list"),
        (
            manifest(objects=[{"key": "../etc/passwd", "size": 1, "sha256": SHA}]),
            "outside the snapshot folder",
        ),
        (manifest(objects=[{"key": "/abs", "size": 1, "sha256": SHA}]), "relative path"),
        (manifest(objects=[{"key": "manifest.json", "size": 1, "sha256": SHA}]), "at the manifest"),
        (manifest(objects=[{"key": "a", "size": -1, "sha256": SHA}]), "non-negative integer"),
        (manifest(objects=[{"key": "a", "size": True, "sha256": SHA}]), "non-negative integer"),
        (manifest(objects=[{"key": "a", "size": 1, "sha256": "XYZ"}]), "64 lowercase hex"),
        (manifest(objects=[{"key": "a", "size": 1, "sha256": SHA}] * 2), "listed twice"),
    ],
)
def test_bad_manifests_are_refused_with_a_clear_problem(data: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_manifest(data, "app", T)


def test_build_listing_converts_to_local_time_and_explains_incomplete_snapshots() -> None:
    tz = ZoneInfo("Europe/Amsterdam")
    kt = KeyTemplate.compile("{group}/{time}/")
    night = datetime(2026, 11, 19, 23, tzinfo=UTC)  # 00:00 on the 20th in Amsterdam
    s = FolderScanner(kt, {"app"}).add_all(
        [
            ("app/20261119T230000Z/manifest.json", 1),
            ("app/20261120T050000Z/manifest.json", 1),
            ("app/20261120T110000Z/a", 1),
            ("app/20261120T170000Z/manifest.json", 1),
            ("app/20261120T230000Z/manifest.json", 1),
        ]
    )
    reads = {
        "app/20261119T230000Z/": ManifestRead(manifest(time=night.isoformat())),
        "app/20261120T050000Z/": ManifestRead(manifest(), held="legal hold"),
        "app/20261120T170000Z/": ManifestRead(None, error="S3 AccessDenied: nope"),
        "app/20261120T230000Z/": ManifestRead(manifest()),  # time disagrees with the key
    }
    journal = {"_backupctl/deleting/j.json": {"app/20261120T110000Z"}}
    listing = build_listing(s, reads, tz, journals=journal)
    assert listing.journals == journal
    first, held = listing.snapshots
    assert (
        first.snapshot.time == datetime(2026, 11, 20, 0, 0, tzinfo=tz)
        and first.status == "complete"
    )
    assert first.manifest_sha256 is not None and first.size == 1
    assert (held.status, held.problem) == ("held", "legal hold")
    problems = {s.snapshot.id: s.problem or "" for s in listing.incomplete}
    assert "deletion interrupted" in problems["app/20261120T110000Z"]
    assert "could not be read: S3 AccessDenied" in problems["app/20261120T170000Z"]
    assert "does not match the key's time" in problems["app/20261120T230000Z"]
    assert all(s.manifest is None for s in listing.incomplete)


def stored(sid: str, status: str = "complete", problem: str | None = None) -> StoredSnapshot:
    group, t = parse_snapshot_id(sid)
    return StoredSnapshot(Snapshot(sid, t, group), status, problem=problem)  # type: ignore[arg-type]


def test_select_deletions_never_picks_held_or_unjournaled_incomplete_snapshots() -> None:
    report = DeleteReport()
    todo = select_deletions(
        [
            stored("app/20261120T050000Z"),
            stored("app/20261120T110000Z", "held", "legal hold"),
            stored("app/20261120T170000Z", "incomplete"),
            stored("app/20261120T230000Z", "incomplete"),
        ],
        pending={"app/20261120T230000Z", "app/20261119T230000Z"},
        report=report,
    )
    # a journal-only id (app/20261119T230000Z) is never added: only what the caller hands over
    assert todo == {"app/20261120T050000Z": True, "app/20261120T230000Z": False}
    assert report.held == {"app/20261120T110000Z": "legal hold"}
    assert "never deleted" in report.failed["app/20261120T170000Z"]


def test_journal_round_trip_drops_foreign_ids() -> None:
    data = encode_journal(
        ["app/20261120T050000Z", "app/20261120T050000Z"], "run", T + timedelta(hours=1)
    )
    assert decode_journal(data) == ["app/20261120T050000Z"]
    assert decode_journal(
        json.dumps({"ids": ["app/20261120T050000Z", "nonsense", 7]}).encode()
    ) == ["app/20261120T050000Z"]
    with pytest.raises(ManifestError):
        decode_journal(b"{}")


# --- {time:FORMAT} and store.name_timezone (issue 13, part 1) ----------------------------------

AMS = ZoneInfo("Europe/Amsterdam")
LOCAL = "{group}/{time:%Y-%m-%dT%H%M}/"


def test_a_formatted_time_is_read_in_the_name_timezone() -> None:
    kt = KeyTemplate.compile(LOCAL, tz=AMS)
    m = kt.match("db/2026-11-23T0200/dump.sql.gz")
    assert m is not None and m.time == datetime(2026, 11, 23, 1, 0, tzinfo=UTC) and m.note is None
    assert kt.folder("db", m.time) == "db/2026-11-23T0200/"
    summer = kt.match("db/2026-07-01T0200/x")
    assert summer is not None and summer.time == datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
    assert KeyTemplate.compile(LOCAL).match("db/2026-11-23T0200/x").time.hour == 2  # type: ignore[union-attr]


def test_the_repeated_fall_back_hour_is_read_as_its_first_occurrence_and_noted() -> None:
    kt = KeyTemplate.compile(LOCAL, tz=AMS)
    m = kt.match("db/2026-10-25T0230/x")
    assert m is not None
    assert m.time == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, not 02:30 CET
    assert m.note is not None and "first occurrence" in m.note and "2026-10-25T0230" in m.note
    # both occurrences write the same name; the listing reads it back as the first
    assert kt.folder("db", datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) == "db/2026-10-25T0230/"
    # the hours either side are not ambiguous
    assert kt.match("db/2026-10-25T0130/x").note is None  # type: ignore[union-attr]
    assert kt.match("db/2026-10-25T0300/x").note is None  # type: ignore[union-attr]


def test_a_local_time_in_the_spring_forward_gap_is_unknown_and_reported() -> None:
    kt = KeyTemplate.compile(LOCAL, tz=AMS)
    assert kt.match("db/2026-03-29T0230/x") is None
    why = kt.name_problem("db/2026-03-29T0230/x")
    assert why is not None and "never happened" in why and "never deleted" in why
    scan = FolderScanner(kt, {"db"}).add_all(
        [
            ("db/2026-03-29T0230/x", 1),
            ("db/2026-10-25T0230/x", 2),
            ("db/2026-10-25T0230/manifest.json", 3),
            ("db/2026-13-01T0000/x", 4),
            ("db/notes.txt", 5),
        ]
    )
    assert sorted(scan.unknown) == ["db/2026-03-29T0230/x", "db/2026-13-01T0000/x", "db/notes.txt"]
    listing = build_listing(scan, {}, AMS)
    notes = listing.name_notes
    assert set(notes) == {"db/2026-03-29T0230/x", "db/2026-13-01T0000/x", "db/20261025T003000Z"}
    assert "no real time" in notes["db/2026-13-01T0000/x"]
    assert "first occurrence" in notes["db/20261025T003000Z"]


@pytest.mark.parametrize(
    ("template", "needle"),
    [
        ("{group}/{time:%Y-%m-%d %I%p}/", "unsupported directive '%I'"),
        ("{group}/{time:%Y%m%d%z}/", "unsupported directive '%z'"),
        ("{group}/{time:%s}/", "unsupported directive '%s'"),
        ("{group}/{time:%Y%m%d%%}/", "unsupported directive '%%'"),
        ("{group}/{time:%Y%m%d%H%H}/", "repeated directive '%H'"),
        ("{group}/{time:%Y%m}/", "needs %Y, %m and %d"),
        ("{group}/{time:%Y%m%d%}/", "unsupported directive '%'"),
        ("{group}/{when:%Y}/", "exactly once each"),
    ],
)
def test_unparseable_time_formats_are_refused_naming_the_key(template: str, needle: str) -> None:
    from backupctl.config import parse_config
    from backupctl.errors import ConfigError

    with pytest.raises(LayoutError, match=re.escape(needle)):
        KeyTemplate.compile(template)
    with pytest.raises(ConfigError, match=r"store\.key_template") as err:
        parse_config(
            {
                "store": {"url": "file:///tmp/x", "key_template": template},
                "policy": [{"name": "p", "group": "db", "keep_last": 3}],
            }
        )
    assert needle in str(err.value)


def test_name_timezone_defaults_to_the_top_level_timezone() -> None:
    from backupctl.config import parse_config

    base = {
        "timezone": "America/New_York",
        "store": {"url": "file:///tmp/x", "key_template": LOCAL},
        "policy": [{"name": "p", "group": "db", "keep_last": 3}],
    }
    assert parse_config(base).store.name_timezone is None
    store = dict(base["store"], name_timezone="Europe/Amsterdam")  # type: ignore[arg-type]
    assert parse_config({**base, "store": store}).store.name_timezone == AMS
