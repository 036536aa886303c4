"""`backupctl adopt` on a file store: manifest-less folders (plus one with a manifest, one too
fresh, one with a name no manifest can hold, one with a symlink, a stray key) -> a dry run writes
nothing -> adopt writes manifests exactly for the eligible ones -> plan, prune (forced: the
history predates the policy), verify's integrity check and a restore all work. Also the pure
plan, and a manifest that appears between plan and write is never overwritten.

The scenario is shared with tests/e2e/test_adopt_s3.py (moto)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from backupctl.cli import main
from backupctl.config import load_config
from backupctl.evidence.audit import AuditLog
from backupctl.produce.adopt import (
    Candidate,
    apply_adoption,
    encode_manifest,
    gather,
    parse_min_age,
    plan_adoption,
)
from backupctl.seed import DirWriter, write_snapshot
from backupctl.stores import open_store
from backupctl.stores.layout import ManifestError, format_time, parse_manifest
from backupctl.stores.locations import audit_blobs_for

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DAYS = 40
FIRST_PRUNE = '--force --reason "first prune: the history predates the policy"'

Put = Callable[[str, bytes], None]
Age = Callable[[str, float], None]  # key, seconds before NOW


def config_text(url: str, extra_store: str = "") -> str:
    return f"""
timezone = "UTC"

[store]
url = "{url}"
{extra_store}

[safety]
max_delete_fraction = 0.2

[[policy]]
name = "app"
preset = "sla-server"
schedule = "0 2 * * *"
"""


def data_of(t: datetime, name: str) -> bytes:
    return hashlib.sha256(f"{t.isoformat()}/{name}".encode()).digest() * (50 + t.day)


def folder(t: datetime) -> str:
    return f"app/{format_time(t)}/"


def build_store(put: Put, age: Age, writer: Any) -> dict[str, Any]:
    """Write the manifest-less history and the hostile extras; return what the test expects."""
    times = [(NOW - timedelta(days=d)).replace(hour=2) for d in range(1, DAYS + 1)]
    originals: dict[str, bytes] = {}
    for t in times:
        for name in ("db.sql.gz", "etc/hosts.tar"):
            key = folder(t) + name
            originals[key] = data_of(t, name)
            put(key, originals[key])
            age(key, (NOW - t).total_seconds())
    # a snapshot with a manifest (written by a producer): never touched
    managed_t = (NOW - timedelta(days=DAYS + 1)).replace(hour=2)
    write_snapshot(writer, "app", managed_t, {"db.sql.gz": b"managed"})
    # still uploading: newest object 5 minutes old
    fresh_t = NOW.replace(hour=2)
    put(folder(fresh_t) + "db.sql.gz", b"half an upload")
    age(folder(fresh_t) + "db.sql.gz", 300)
    # a stray key outside any folder: unknown, never touched
    put("README.txt", b"not a backup")
    age("README.txt", 7200)
    return {
        "eligible": sorted(f"app/{format_time(t)}" for t in times),
        "managed": f"app/{format_time(managed_t)}",
        "fresh": f"app/{format_time(fresh_t)}",
        "originals": originals,
    }


def cli(*args: str) -> Result:
    return CliRunner().invoke(
        main, list(args), env={"BACKUPCTL_NOW": NOW.isoformat()}, catch_exceptions=False
    )


def run_scenario(
    cfg: Path, expected: dict[str, Any], bad: str, snapshot_keys: Callable[[], dict[str, bytes]]
) -> None:
    """The shared end-to-end: dry run, adopt, plan, prune, integrity, restore."""
    before = snapshot_keys()
    dry = cli("adopt", "--config", str(cfg), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    doc = json.loads(dry.stdout)
    assert sorted(r["id"] for r in doc["would_adopt"]) == expected["eligible"]
    assert snapshot_keys() == before  # nothing written, no audit record
    assert set(doc["skipped"]) == {expected["fresh"], bad}
    assert "upload may still be running" in doc["skipped"][expected["fresh"]]

    human = cli("adopt", "--config", str(cfg), "--dry-run").stdout
    assert f"would adopt {len(expected['eligible'])} folder(s)" in human
    assert FIRST_PRUNE in human  # the first prune after adopting is normally refused
    assert snapshot_keys() == before

    real = cli("adopt", "--config", str(cfg), "--json")
    assert real.exit_code == 0, real.output
    doc = json.loads(real.stdout)
    assert sorted(a["id"] for a in doc["adopted"]) == expected["eligible"]
    assert all(a["objects"] == 2 for a in doc["adopted"])
    after = snapshot_keys()
    written = {k for k in after if k not in before and not k.startswith("_backupctl/")}
    assert written == {sid + "/manifest.json" for sid in expected["eligible"]}
    assert all(after[k] == v for k, v in before.items())  # nothing changed, managed manifest too
    assert any(k.startswith("_backupctl/") and k not in before for k in after)  # audit record

    # a second run has nothing left to adopt and writes nothing new
    again = json.loads(cli("adopt", "--config", str(cfg), "--json").stdout)
    assert again["adopted"] == [] and set(again["skipped"]) == {expected["fresh"], bad}

    config = load_config(str(cfg))
    records = [r for r in AuditLog(audit_blobs_for(config)).records() if r["action"] == "adopt"]
    assert len(records) == 2  # one per real run, none for the dry runs
    record = records[0]
    assert sorted(a["id"] for a in record["data"]["adopted"]) == expected["eligible"]
    assert record["data"]["objects"] == 2 * len(expected["eligible"])
    store = open_store(config)
    listing = store.listing()
    ids = {s.snapshot.id for s in listing.snapshots}
    assert set(expected["eligible"]) | {expected["managed"]} == ids
    assert store.check_integrity(listing.snapshots) == []

    assert cli("plan", "--config", str(cfg)).exit_code == 0
    refused = cli("prune", "--config", str(cfg))
    assert refused.exit_code == 4, refused.output
    assert FIRST_PRUNE in refused.output
    forced = cli("prune", "--config", str(cfg), "--force", "--reason", "first prune after adopt")
    assert forced.exit_code == 0, forced.output
    left = open_store(config).listing()
    assert 0 < len(left.snapshots) < len(ids)
    assert store.check_integrity(left.snapshots) == []
    assert left.unknown == ["README.txt"]
    verify = cli("verify", "--config", str(cfg), "--json")
    report = json.loads(verify.stdout)
    checked = report["checked"]["integrity"]
    assert checked["sampled"] > 0 and set(checked["ids"]) <= set(expected["eligible"]) | {
        expected["managed"]
    }
    assert not [v for v in report["violations"] if v["kind"] == "integrity"], verify.output

    # a restore of an adopted snapshot gives the original bytes back
    snap = next(s for s in left.snapshots if s.snapshot.id in expected["eligible"])
    return_to = cfg.parent / "restored"
    store.restore(snap, return_to)
    for e in snap.manifest or ():
        key = snap.snapshot.id + "/" + e.key
        assert (return_to / e.key).read_bytes() == expected["originals"][key]
    drill = cli("drill", "--config", str(cfg), "--snapshot", snap.snapshot.id)
    assert drill.exit_code == 0, drill.output


# ---------------------------------------------------------------------- file store


def file_put(root: Path) -> tuple[Put, Age]:
    def put(key: str, data: bytes) -> None:
        p = root / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    def age(key: str, seconds: float) -> None:
        t = (NOW - timedelta(seconds=seconds)).timestamp()
        os.utime(root / key, (t, t))

    return put, age


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def test_adopt_end_to_end_on_a_file_store(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    put, age = file_put(root)
    expected = build_store(put, age, DirWriter(root))
    old = (NOW - timedelta(days=60)).replace(hour=2)
    # a name no manifest can hold (a backslash), and a folder with a symlink in it
    bad = f"app/{format_time(old)}"
    put(bad + "/db\\sql.gz", b"x")
    age(bad + "/db\\sql.gz", 9999)
    linked = f"app/{format_time(old - timedelta(days=1))}"
    put(linked + "/db.sql.gz", b"y")
    age(linked + "/db.sql.gz", 9999)
    (root / linked / "passwd").symlink_to("/etc/passwd")
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(config_text(f"file://{root}"))
    dry = json.loads(cli("adopt", "--config", str(cfg), "--dry-run", "--json").stdout)
    assert "symlink" in dry["skipped"][linked]
    assert "cannot be adopted" in dry["skipped"][bad]
    (root / linked / "passwd").unlink()
    (root / linked / "db.sql.gz").unlink()
    (root / linked).rmdir()
    run_scenario(cfg, expected, bad, lambda: tree(root))


def test_a_manifest_that_appears_between_plan_and_write_is_not_overwritten(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    put, age = file_put(root)
    expected = build_store(put, age, DirWriter(root))
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(config_text(f"file://{root}"))
    store = open_store(load_config(str(cfg)))
    decisions = plan_adoption(gather(store, set()), NOW, timedelta(hours=1))
    raced = expected["eligible"][0]
    (root / raced / "manifest.json").write_bytes(b"someone else's manifest")
    result = apply_adoption(store, decisions, workers=2)
    assert "not overwritten" in result.failed[raced]
    assert (root / raced / "manifest.json").read_bytes() == b"someone else's manifest"
    assert len(result.adopted) == len(expected["eligible"]) - 1


def test_the_plan_skips_fresh_empty_and_unnameable_folders() -> None:
    t = datetime(2026, 11, 1, 2, tzinfo=UTC)

    def cand(objects: tuple[tuple[str, int], ...], newest: datetime | None) -> Candidate:
        return Candidate("app/x", "app", t, "app/x/", objects, newest)

    ok = cand((("db", 1), ("sub/f", 2)), NOW - timedelta(hours=2))
    fresh = cand((("db", 1),), NOW - timedelta(minutes=59))
    empty = cand((), None)
    dotdot = cand((("a/../b", 1),), NOW - timedelta(days=1))
    blank = cand((("", 0),), NOW - timedelta(days=1))  # an S3 "folder marker" object
    got = plan_adoption([ok, fresh, empty, dotdot, blank], NOW, timedelta(hours=1))
    assert got[0].skip is None
    assert "--min-age 1 h" in (got[1].skip or "") or "min-age" in (got[1].skip or "")
    assert all(d.skip for d in got[1:])
    assert plan_adoption([fresh], NOW, timedelta(0))[0].skip is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("1h", 3600), ("30m", 1800), ("0s", 0), ("2d", 172800)]
)
def test_min_age_parses(text: str, seconds: int) -> None:
    assert parse_min_age(text).total_seconds() == seconds


def test_a_bad_min_age_is_a_usage_error(tmp_path: Path) -> None:
    cfg = tmp_path / "backupctl.toml"
    (tmp_path / "store").mkdir()
    cfg.write_text(config_text(f"file://{tmp_path / 'store'}"))
    r = cli("adopt", "--config", str(cfg), "--min-age", "soon")
    assert r.exit_code == 2 and "--min-age" in r.output


_NAMES = st.text(alphabet=st.sampled_from("ab./\\_ \x00é"), min_size=0, max_size=8)


@given(
    keys=st.lists(_NAMES, min_size=1, max_size=6, unique=True),
    age_s=st.integers(min_value=0, max_value=7200),
)
def test_an_adopted_folder_is_settled_and_its_manifest_is_readable(
    keys: list[str], age_s: int
) -> None:
    """Invariant: a folder is adopted only when its newest object is at least min-age old and
    the manifest that would be written is one the listing accepts, naming exactly its keys."""
    t = datetime(2026, 11, 1, 2, tzinfo=UTC)
    c = Candidate(
        "app/x", "app", t, "app/x/", tuple((k, 1) for k in keys), NOW - timedelta(seconds=age_s)
    )
    (d,) = plan_adoption([c], NOW, timedelta(hours=1))
    if d.skip is None:
        assert age_s >= 3600
        data = encode_manifest(c, [(k, 1, "0" * 64) for k in keys])
        assert sorted(e.key for e in parse_manifest(data, "app", t)) == sorted(keys)
    elif age_s >= 3600:
        with pytest.raises(ManifestError):
            parse_manifest(encode_manifest(c, [(k, 1, "0" * 64) for k in keys]), "app", t)


def test_group_filters_and_an_unknown_group_is_a_usage_error(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    put, age = file_put(root)
    put("app/20261101T020000Z/db.sql.gz", b"x")
    age("app/20261101T020000Z/db.sql.gz", 86400 * 20)
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(config_text(f"file://{root}"))
    store = open_store(load_config(str(cfg)))
    assert [c.sid for c in gather(store, {"app"})] == ["app/20261101T020000Z"]
    assert gather(store, {"server"}) == []
    r = cli("adopt", "--config", str(cfg), "--group", "nope", "--dry-run")
    assert r.exit_code == 2 and "--group 'nope'" in r.output


# ------------------------------------------------------------------ single-object snapshots

DUMPS = "{group}/{time}.sql.gz"


def single_store(tmp_path: Path) -> tuple[Path, Any]:
    root = tmp_path / "store"
    for d in (1, 2, 3):
        t = (NOW - timedelta(days=d)).replace(hour=2)
        path = root / f"app/{format_time(t)}.sql.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data_of(t, "dump"))
        os.utime(path, (NOW.timestamp() - 86400 * d,) * 2)
    cfg = tmp_path / "backupctl.toml"
    cfg.write_text(config_text(f"file://{root}", f'key_template = "{DUMPS}"'))
    return root, open_store(load_config(str(cfg)))


def test_the_plan_of_single_objects_skips_those_s3_keeps_a_checksum_of() -> None:
    t = datetime(2026, 11, 1, 2, tzinfo=UTC)
    old = NOW - timedelta(days=1)

    def cand(checksum: str | None, name: str = "x.sql.gz") -> Candidate:
        return Candidate(
            "app/20261101T020000Z",
            "app",
            t,
            "app/",
            ((name, 5),),
            old,
            single=True,
            checksum=checksum,
        )

    got = plan_adoption([cand(None), cand("CRC32"), cand(None, "a/../b")], NOW, timedelta(hours=1))
    assert got[0].skip is None and got[2].skip is None  # the key is the template's: no manifest
    assert "S3 keeps a CRC32 checksum" in (got[1].skip or "")
    assert got[0].candidate.writes == "_backupctl/digests/app/20261101T020000Z.json"


def test_a_digest_record_that_appears_between_plan_and_write_is_not_overwritten(
    tmp_path: Path,
) -> None:
    root, store = single_store(tmp_path)
    decisions = plan_adoption(gather(store, set()), NOW, timedelta(hours=1))
    assert [d.skip for d in decisions] == [None, None, None]
    raced = decisions[1].candidate
    (root / "_backupctl/digests/app").mkdir(parents=True)
    (root / raced.writes).write_bytes(b"another adopt's record")
    result = apply_adoption(store, decisions, workers=2)
    assert "not overwritten" in result.failed[raced.sid]
    assert (root / raced.writes).read_bytes() == b"another adopt's record"
    assert [a["id"] for a in result.adopted] == [
        decisions[0].candidate.sid,
        decisions[2].candidate.sid,
    ]
    # the next look sees every dump recorded: nothing left to gather
    assert gather(store, set()) == []


def test_a_dump_that_changed_size_since_the_listing_is_not_recorded(tmp_path: Path) -> None:
    root, store = single_store(tmp_path)
    decisions = plan_adoption(gather(store, set()), NOW, timedelta(hours=1))
    changed = decisions[0].candidate
    (root / changed.folder / changed.objects[0][0]).write_bytes(b"rewritten")
    result = apply_adoption(store, decisions, workers=2)
    assert "changed meanwhile" in result.failed[changed.sid]
    assert not (root / changed.writes).exists() and len(result.adopted) == 2
