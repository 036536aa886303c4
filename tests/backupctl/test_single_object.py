"""Issue 13 part 1: single-object snapshots (a key template not ending in '/'), the layout part:
the object is the snapshot, complete when it exists; keys that match no template are unknown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backupctl.config import Config, parse_config
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


def file_config(root: Path) -> Config:
    return parse_config(
        {
            "timezone": "Europe/Amsterdam",  # name_timezone defaults to it
            "store": {"url": f"file://{root}", "key_template": DUMPS},
            "policy": [{"name": "db", "keep_last": 3}],
        }
    )


DUMP_NAMES = [  # local names across the 2026-10-25 fall-back (02:30 happens twice)
    "db/2026-10-24T0230.sql.gz",
    "db/2026-10-25T0130.sql.gz",
    "db/2026-10-25T0230.sql.gz",
    "db/2026-10-25T0330.sql.gz",
    "db/2026-10-26T0230.sql.gz",
]


@pytest.fixture()
def dumps(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    for i, name in enumerate(DUMP_NAMES):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(f"dump {i} ".encode() * (i + 1))
    (root / "db/2026-10-26T0230.sql.gz.part").write_bytes(b"an upload in progress")
    (root / "db/2026-03-29T0230.sql.gz").write_bytes(b"a name that never happened")
    (root / "db/notes.txt").write_text("stray")
    return root


def test_a_file_store_of_single_object_dumps_lists_deletes_checks_and_restores(
    dumps: Path, tmp_path: Path
) -> None:
    store = FileStore(file_config(dumps))
    listing = store.listing()
    assert [s.snapshot.time.astimezone(UTC).isoformat() for s in listing.snapshots] == [
        "2026-10-24T00:30:00+00:00",
        "2026-10-24T23:30:00+00:00",
        "2026-10-25T00:30:00+00:00",  # the first occurrence of 02:30
        "2026-10-25T02:30:00+00:00",
        "2026-10-26T01:30:00+00:00",
    ]
    assert [s.size for s in listing.snapshots] == [(dumps / n).stat().st_size for n in DUMP_NAMES]
    assert all(s.written is not None for s in listing.snapshots)
    assert listing.unknown == [
        "db/2026-03-29T0230.sql.gz",
        "db/2026-10-26T0230.sql.gz.part",
        "db/notes.txt",
    ]
    assert store.check_integrity(listing.snapshots) == []
    # a file store keeps no checksum and nothing recorded a sha256: size only, and said so
    assert sorted(store.unreferenced) == sorted(s.snapshot.id for s in listing.snapshots)

    # a drill restores one dump byte-identical
    target = tmp_path / "restored"
    out = store.restore(listing.snapshots[2], target)
    assert out.problems == () and out.files == 1
    assert (target / "2026-10-25T0230.sql.gz").read_bytes() == (dumps / DUMP_NAMES[2]).read_bytes()

    # seeded damage: a truncated dump and one gone since the listing
    (dumps / DUMP_NAMES[0]).write_bytes(b"short")
    (dumps / DUMP_NAMES[1]).unlink()
    problems = {(p.snapshot_id, p.problem) for p in store.check_integrity(listing.snapshots)}
    assert problems == {
        (listing.snapshots[0].snapshot.id, f"size 5 != listed {listing.snapshots[0].size}"),
        (listing.snapshots[1].snapshot.id, "missing"),
    }

    # prune: one file per snapshot, nothing else
    listing = store.listing()
    doomed = [
        s
        for s in listing.snapshots
        if s.snapshot.id in {listing.snapshots[0].snapshot.id, listing.snapshots[1].snapshot.id}
    ]
    report = store.delete(doomed, listing=listing)
    assert sorted(report.deleted) == sorted(s.snapshot.id for s in doomed) and not report.failed
    assert report.bytes_freed == sum(s.size for s in doomed)
    left = {p.relative_to(dumps).as_posix() for p in dumps.rglob("*") if p.is_file()}
    assert left == {
        DUMP_NAMES[3],
        DUMP_NAMES[4],
        "db/2026-10-26T0230.sql.gz.part",
        "db/2026-03-29T0230.sql.gz",
        "db/notes.txt",
    }
    assert not (dumps / "_backupctl/deleting").exists() or not any(
        (dumps / "_backupctl/deleting").iterdir()
    )


def test_a_dump_reached_through_a_symlink_is_never_deleted(dumps: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.sql.gz"
    outside.write_bytes(b"not the store's")
    (dumps / "db/2026-10-27T0230.sql.gz").symlink_to(outside)
    store = FileStore(file_config(dumps))
    listing = store.listing()
    link = next(s for s in listing.snapshots if s.snapshot.id == "db/20261027T013000Z")
    report = store.delete([link], listing=listing)
    assert link.snapshot.id in report.failed and outside.read_bytes() == b"not the store's"
    assert [p.problem for p in store.check_integrity([link])] == [
        "unreadable: a symlink, not followed"
    ]


def test_s3_folders_listing_refuses_single_object_templates() -> None:
    from backupctl.errors import ConfigError
    from backupctl.stores.s3 import S3Store

    cfg = parse_config(
        {
            "store": {
                "url": "s3://b/p",
                "endpoint_url": "http://127.0.0.1:9",
                "key_template": DUMPS,
                "listing": "folders",
            },
            "policy": [{"name": "db", "keep_last": 3}],
        }
    )
    with pytest.raises(ConfigError, match=r"store\.listing = 'folders'.*listing = 'objects'"):
        S3Store(cfg)


def test_prune_on_a_file_store_of_dumps_keeps_what_the_retention_plan_keeps(
    dumps: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from backupctl.cli import main
    from retention import Policy, Snapshot, plan

    now = datetime(2026, 10, 27, 12, 0, tzinfo=UTC)
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(
        f'timezone = "Europe/Amsterdam"\n[store]\nurl = "file://{dumps}"\n'
        f'key_template = "{DUMPS}"\n[safety]\nmax_delete_fraction = 1.0\n'
        '[[policy]]\nname = "db"\nkeep_hourly = 2\nkeep_daily = 2\n'
    )
    store = FileStore(file_config(dumps))
    listing = store.listing()
    snaps = [
        Snapshot(id=s.snapshot.id, time=s.snapshot.time, group="db") for s in listing.snapshots
    ]
    policy = Policy.from_mapping({"keep_hourly": 2, "keep_daily": 2}, where="test")
    keep = {d.snapshot.id for d in plan(snaps, policy, now=now).kept()}
    assert keep and len(keep) < len(snaps)
    result = CliRunner().invoke(
        main, ["prune", "--config", str(cfg)], env={"BACKUPCTL_NOW": now.isoformat()}
    )
    assert result.exit_code == 0, result.output
    left = {
        p.relative_to(dumps).as_posix()
        for p in dumps.rglob("*")
        if p.is_file() and "_backupctl" not in p.parts
    }
    strays = {"db/2026-10-26T0230.sql.gz.part", "db/2026-03-29T0230.sql.gz", "db/notes.txt"}
    assert left == {store.folder(i) for i in keep} | strays


def test_verify_notes_single_objects_it_could_check_by_size_only(
    dumps: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from backupctl.cli import main

    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(
        f'timezone = "Europe/Amsterdam"\n[store]\nurl = "file://{dumps}"\n'
        f'key_template = "{DUMPS}"\n[[policy]]\nname = "db"\nkeep_last = 100\n'
    )
    now = datetime(2026, 10, 26, 3, 0, tzinfo=UTC)
    result = CliRunner().invoke(
        main, ["verify", "--config", str(cfg), "--json"], env={"BACKUPCTL_NOW": now.isoformat()}
    )
    doc = json.loads(result.output)
    sampled = set(doc["checked"]["integrity"]["ids"])
    noted = {n["id"] for n in doc["notes"] if n["kind"] == "no_integrity_reference"}
    assert sampled and noted == sampled
    assert not [v for v in doc["violations"] if v["kind"] == "integrity"]


# ------------------------------------------------------------------ digest records (adopt)


def adopt_config(dumps: Path, tmp_path: Path) -> Path:
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(
        f'timezone = "Europe/Amsterdam"\n[store]\nurl = "file://{dumps}"\n'
        f'key_template = "{DUMPS}"\n[safety]\nmax_delete_fraction = 1.0\n'
        '[[policy]]\nname = "db"\nkeep_last = 100\n'
    )
    return cfg


ADOPT_NOW = datetime(2026, 10, 26, 3, 0, tzinfo=UTC)


def cli(cfg: Path, *args: str, now: datetime = ADOPT_NOW) -> Any:
    from click.testing import CliRunner

    from backupctl.cli import main

    return CliRunner().invoke(
        main, [*args, "--config", str(cfg)], env={"BACKUPCTL_NOW": now.isoformat()}
    )


def age_all(root: Path, seconds: float = 86400 * 30) -> None:
    import os

    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            t = ADOPT_NOW.timestamp() - seconds
            os.utime(p, (t, t))


def records(root: Path) -> dict[str, dict[str, Any]]:
    d = root / "_backupctl" / "digests"
    return {
        p.relative_to(d).as_posix(): json.loads(p.read_bytes())
        for p in (d.rglob("*.json") if d.exists() else [])
    }


def test_adopt_records_a_sha256_per_dump_and_verify_then_catches_a_same_size_change(
    dumps: Path, tmp_path: Path
) -> None:
    import hashlib

    cfg = adopt_config(dumps, tmp_path)
    age_all(dumps)
    fresh = dumps / DUMP_NAMES[4]
    import os

    os.utime(fresh, (ADOPT_NOW.timestamp() - 60,) * 2)  # written a minute ago: maybe uploading
    dry = cli(cfg, "adopt", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert [r["record"] for r in plan["would_adopt"]] == [
        f"_backupctl/digests/{s}.json"
        for s in (
            "db/20261024T003000Z",
            "db/20261024T233000Z",
            "db/20261025T003000Z",
            "db/20261025T023000Z",
        )
    ]
    assert "--min-age" in plan["skipped"]["db/20261026T013000Z"]
    assert not (dumps / "_backupctl").exists()  # a dry run writes nothing, not even the audit

    done = cli(cfg, "adopt", "--json")
    assert done.exit_code == 0, done.output
    adopted = json.loads(done.stdout)["adopted"]
    got = records(dumps)
    assert len(adopted) == len(got) == 4
    for a in adopted:
        rec = got[a["id"] + ".json"]
        data = (dumps / rec["key"]).read_bytes()
        assert rec["sha256"] == a["sha256"] == hashlib.sha256(data).hexdigest()
        assert (rec["id"], rec["size"], rec["version"]) == (a["id"], len(data), 1)
        assert a["record"] == f"_backupctl/digests/{a['id']}.json"
    # the audit record carries the same digests (signed when configured)
    from backupctl.config import load_config
    from backupctl.evidence.audit import AuditLog
    from backupctl.stores.locations import audit_blobs_for

    log = AuditLog(audit_blobs_for(load_config(str(cfg))))
    (record,) = [r for r in log.records() if r["action"] == "adopt"]
    assert {e["id"]: e["sha256"] for e in record["data"]["adopted"]} == {
        a["id"]: got[a["id"] + ".json"]["sha256"] for a in adopted
    }
    # the listing still sees exactly the dumps and the strays: the records are backupctl's own
    listing = FileStore(file_config(dumps)).listing()
    assert len(listing.snapshots) == 5 and len(listing.unknown) == 3
    # a second run finds nothing left to record
    again = json.loads(cli(cfg, "adopt", "--json", "--min-age", "0s").stdout)
    assert [a["id"] for a in again["adopted"]] == ["db/20261026T013000Z"]

    ok = cli(cfg, "verify", "--json")
    doc = json.loads(ok.stdout)
    assert not [n for n in doc["notes"] if n["kind"] == "no_integrity_reference"], doc["notes"]
    assert not [v for v in doc["violations"] if v["kind"] == "integrity"]

    # same size, one bit flipped, mtime put back: only the recorded sha256 can tell
    target = dumps / DUMP_NAMES[1]
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[3] ^= 0x01
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    bad = cli(cfg, "verify", "--json")
    assert bad.exit_code == 3, bad.output
    (v,) = [v for v in json.loads(bad.stdout)["violations"] if v["kind"] == "integrity"]
    assert v["id"] == "db/20261024T233000Z" and v["key"] == str(target)
    assert "sha256 mismatch: recorded" in v["problem"] and "_backupctl/digests/" in v["problem"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\x00\xffnot json", "digest record"),
        (b"[1, 2]", "expected a JSON object"),
        (b" " * (20 << 10) + b"{}", "more than the 16384 accepted"),
        (None, "is not this snapshot's"),  # a valid record copied from another snapshot
        (b'{"version": 1, "id": "db/20261024T233000Z"}', "key"),
        ("extra", "unknown field"),
        ("sha", "sha256 mismatch: recorded"),  # rewritten to another digest: the object differs
    ],
)
def test_a_bad_digest_record_is_a_problem_naming_it_and_never_a_crash(
    dumps: Path, tmp_path: Path, content: bytes | str | None, needle: str
) -> None:
    cfg = adopt_config(dumps, tmp_path)
    age_all(dumps)
    assert cli(cfg, "adopt").exit_code == 0
    d = dumps / "_backupctl" / "digests" / "db"
    victim = d / "20261024T233000Z.json"
    rec = json.loads(victim.read_bytes())
    if content is None:
        content = (d / "20261024T003000Z.json").read_bytes()
    elif content == "extra":
        content = json.dumps({**rec, "note": "x"}).encode()
    elif content == "sha":
        content = json.dumps({**rec, "sha256": "0" * 64}).encode()
    assert isinstance(content, bytes)
    victim.write_bytes(content)
    result = cli(cfg, "verify", "--json")
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    problems = [v for v in json.loads(result.stdout)["violations"] if v["kind"] == "integrity"]
    assert [p["id"] for p in problems] == ["db/20261024T233000Z"], problems
    assert needle in problems[0]["problem"] and "\n" not in problems[0]["problem"]
    if needle != "sha256 mismatch: recorded":  # the record itself is named as the problem
        assert problems[0]["key"] == str(victim)
        assert problems[0]["problem"].startswith("bad digest record:")
    # a prune still works and deletes only what the plan forgets
    listing = FileStore(file_config(dumps)).listing()
    assert len(listing.snapshots) == 5


def test_a_symlinked_digest_record_is_not_followed(dumps: Path, tmp_path: Path) -> None:
    cfg = adopt_config(dumps, tmp_path)
    age_all(dumps)
    assert cli(cfg, "adopt").exit_code == 0
    victim = dumps / "_backupctl/digests/db/20261024T233000Z.json"
    outside = tmp_path / "elsewhere.json"
    outside.write_bytes(victim.read_bytes())
    victim.unlink()
    victim.symlink_to(outside)
    store = FileStore(file_config(dumps))
    listing = store.listing()
    problems = store.check_integrity(listing.snapshots)
    assert [(p.key, p.problem) for p in problems] == [
        (str(victim), "bad digest record: unreadable: a symlink, not followed; not used")
    ]
    report = store.delete([s for s in listing.snapshots if s.snapshot.id.endswith("233000Z")])
    assert len(report.deleted) == 1
    assert outside.exists() and not victim.is_symlink()  # the link went, never its target


def test_prune_of_a_recorded_dump_removes_its_record_and_nothing_else(
    dumps: Path, tmp_path: Path
) -> None:
    cfg = adopt_config(dumps, tmp_path)
    age_all(dumps)
    assert cli(cfg, "adopt", "--min-age", "0s").exit_code == 0
    orphan = dumps / "_backupctl/digests/db/20260101T000000Z.json"
    orphan.write_bytes(b"an orphan: its object is gone")  # never read, blocks nothing
    before = {p.relative_to(dumps).as_posix() for p in dumps.rglob("*") if p.is_file()}
    store = FileStore(file_config(dumps))
    listing = store.listing()
    doomed = [listing.snapshots[0], listing.snapshots[2]]
    report = store.delete(doomed, listing=listing)
    assert sorted(report.deleted) == sorted(s.snapshot.id for s in doomed) and not report.failed
    after = {p.relative_to(dumps).as_posix() for p in dumps.rglob("*") if p.is_file()}
    gone = {store.folder(s.snapshot.id) for s in doomed} | {
        f"_backupctl/digests/{s.snapshot.id}.json" for s in doomed
    }
    assert before - after == gone and not after - before
    assert store.check_integrity(store.listing().snapshots) == []


def drill_json(cfg: Path, sid: str, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    out = cli(cfg, "drill", "--snapshot", sid, "--json")
    return out.exit_code, json.loads(out.stdout)


def test_a_drill_of_a_dump_checks_its_recorded_sha256_else_its_size_and_says_which(
    dumps: Path, tmp_path: Path
) -> None:
    """A drill restores one dump and verifies it against the best reference there is: the
    sha256 adopt recorded; with none (a file store keeps no checksum) by size only, said so."""
    cfg = adopt_config(dumps, tmp_path)
    age_all(dumps)
    sid = "db/20261025T003000Z"  # db/2026-10-25T0230.sql.gz, the first 02:30
    code, doc = drill_json(cfg, sid, tmp_path)
    assert code == 0 and doc["passed"], doc
    [verify] = [p for p in doc["phases"] if p["name"] == "verify"]
    assert (verify["objects"], verify["size_only"]) == (1, 1)
    human = cli(cfg, "drill", "--snapshot", sid).output
    assert "1 by size only (no recorded sha256 and no S3 checksum" in human

    assert cli(cfg, "adopt").exit_code == 0
    code, doc = drill_json(cfg, sid, tmp_path)
    [verify] = [p for p in doc["phases"] if p["name"] == "verify"]
    assert code == 0 and doc["passed"] and verify["size_only"] == 0, doc

    dump = dumps / DUMP_NAMES[2]
    data = bytearray(dump.read_bytes())
    data[0] ^= 0xFF  # same size: only the recorded sha256 can tell
    dump.write_bytes(bytes(data))
    code, doc = drill_json(cfg, sid, tmp_path)
    assert code == 3 and not doc["passed"], doc
    assert any("sha256 mismatch" in f for f in doc["failed_objects"]), doc
