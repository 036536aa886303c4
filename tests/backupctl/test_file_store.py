"""FileStore: the snapshot layout on a local directory, with the same safety as S3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backupctl.config import Config, parse_config
from backupctl.errors import ConfigError, StoreError
from backupctl.seed import DirWriter, SeededSnapshot, seed_history, write_snapshot
from backupctl.stores import file as file_store
from backupctl.stores import open_store
from backupctl.stores.file import FileStore
from backupctl.stores.layout import JOURNAL_PREFIX

TZ = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2026, 11, 1, tzinfo=TZ)


def make_config(root: Path, **store: Any) -> Config:
    return parse_config(
        {
            "store": {"url": f"file://{root}", **store},
            "policy": [
                {"name": "app", "keep_within": "2m"},
                {"name": "server", "preset": "sla-server"},
            ],
        }
    )


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture()
def seeded(tmp_path: Path) -> list[SeededSnapshot]:
    return seed_history(DirWriter(tmp_path), start=T0, end=T0 + timedelta(days=1), tz=TZ, workers=2)


def test_open_store_dispatches_on_the_url(tmp_path: Path) -> None:
    assert isinstance(open_store(make_config(tmp_path)), FileStore)
    with pytest.raises(ConfigError, match=r"store\.key_template"):
        FileStore(make_config(tmp_path, key_template="{group}/"))


def test_listing_and_delete_leave_unknown_and_incomplete_alone(
    tmp_path: Path, seeded: list[SeededSnapshot]
) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    (tmp_path / "app/20261105T000000Z").mkdir(parents=True)
    (tmp_path / "app/20261105T000000Z/db.sql.gz").write_bytes(b"partial upload")
    (tmp_path / "app/20261106T000000Z").mkdir()
    (tmp_path / "app/20261106T000000Z/manifest.json").write_text('{"version": 9}')
    (tmp_path / "other/20261101T000000Z").mkdir(parents=True)
    (tmp_path / "other/20261101T000000Z/manifest.json").write_text("{}")
    store = FileStore(make_config(tmp_path))
    listing = store.listing()
    assert [s.snapshot.id for s in listing.snapshots] == sorted(s.id for s in seeded)
    assert listing.unknown == ["notes.txt", "other/20261101T000000Z/manifest.json"]
    problems = {s.snapshot.id: s.problem or "" for s in listing.incomplete}
    assert "no manifest.json" in problems["app/20261105T000000Z"]
    assert "unsupported version 9" in problems["app/20261106T000000Z"]
    assert listing.snapshots[0].snapshot.time == T0

    before = files(tmp_path)
    report = store.delete([*listing.snapshots, *listing.incomplete])
    assert report.deleted == sorted(s.id for s in seeded)
    assert set(report.failed) == set(problems)
    assert report.bytes_freed == sum(s.size for s in listing.snapshots)
    assert files(tmp_path) == {
        f for f in before if not any(f.startswith(s.id + "/") for s in seeded)
    }
    assert not (tmp_path / "server").exists()  # empty group folders are tidied up, the root stays


def test_an_interrupted_delete_is_reported_and_finished_by_the_next_run(
    tmp_path: Path,
    seeded: list[SeededSnapshot],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = FileStore(make_config(tmp_path))
    snap = store.listing().snapshots[0]

    def crash(folder: Path) -> int:
        raise PermissionError(13, "Permission denied", str(folder / "db.sql.gz"))

    monkeypatch.setattr(file_store, "_remove_tree", crash)
    report = store.delete([snap])
    assert "Permission denied" in report.failed[snap.snapshot.id]
    assert not (tmp_path / snap.snapshot.id / "manifest.json").exists()  # the manifest went first
    [inc] = store.listing().incomplete
    assert inc.snapshot.id == snap.snapshot.id and "deletion interrupted" in (inc.problem or "")
    monkeypatch.undo()

    other = store.listing().snapshots[0]
    assert store.delete([]).deleted == []  # a journal alone never makes the store delete
    report = store.delete([other, inc])  # the runner hands the interrupted one back: finished
    assert report.deleted == sorted([snap.snapshot.id, other.snapshot.id])
    assert not (tmp_path / snap.snapshot.id).exists() and store.listing().incomplete == []
    assert not (tmp_path / JOURNAL_PREFIX).exists()  # no empty deleting/ left (issue 14)
    assert (tmp_path / JOURNAL_PREFIX).parent.is_dir()  # _backupctl/ itself stays


def test_a_stale_journal_never_deletes_a_complete_snapshot(
    tmp_path: Path, seeded: list[SeededSnapshot]
) -> None:
    (tmp_path / JOURNAL_PREFIX).mkdir(parents=True)
    (tmp_path / JOURNAL_PREFIX / "old.json").write_text(f'{{"ids": ["{seeded[0].id}"]}}')
    store = FileStore(make_config(tmp_path))
    report = store.delete([])
    assert report.deleted == [] and len(store.listing().snapshots) == len(seeded)


def test_integrity_check_names_flipped_and_missing_files(
    tmp_path: Path, seeded: list[SeededSnapshot]
) -> None:
    store = FileStore(make_config(tmp_path))
    a, b = seeded[0], seeded[-1]
    path_a = tmp_path / a.id / "db.sql.gz"
    data = bytearray(path_a.read_bytes())
    data[0] ^= 0x80
    path_a.write_bytes(bytes(data))
    missing = tmp_path / b.id / next(iter(b.objects))
    missing.unlink()
    problems = {
        (p.snapshot_id, p.key): p.problem for p in store.check_integrity(store.listing().snapshots)
    }
    assert set(problems) == {(a.id, str(path_a)), (b.id, str(missing))}
    assert (
        "sha256 mismatch" in problems[(a.id, str(path_a))]
        and problems[(b.id, str(missing))] == "missing"
    )


def test_restore_copies_identical_bytes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    objects = {"db/dump.sql": b"select 1;\n" * 1000, "files.tar": bytes(range(256)) * 10}
    write_snapshot(
        DirWriter(root), "app", datetime(2026, 11, 1, 5, tzinfo=UTC), objects, "{time}-{group}/"
    )
    store = FileStore(make_config(root, key_template="{time}-{group}/"))
    [snap] = store.list_snapshots()
    assert snap.snapshot.id == "app/20261101T050000Z"
    out = store.restore(snap, tmp_path / "restore", workers=2)
    assert (out.files, out.bytes, out.problems) == (2, sum(map(len, objects.values())), ())
    for key, data in objects.items():
        assert (tmp_path / "restore" / key).read_bytes() == data


def test_a_missing_root_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is not a directory"):
        FileStore(make_config(tmp_path / "nope")).listing()


def test_blobs_live_beside_the_backups_and_are_not_unknown(
    tmp_path: Path, seeded: list[SeededSnapshot]
) -> None:
    store = FileStore(make_config(tmp_path))
    store.blobs().put("_backupctl/lock.json", b"{}", if_absent=True)
    assert (tmp_path / "_backupctl/lock.json").read_bytes() == b"{}"
    listing = store.listing()
    assert listing.unknown == [] and len(listing.snapshots) == len(seeded)


def test_a_delete_given_its_listing_reuses_its_journals_and_leaves_them_current(
    tmp_path: Path,
    seeded: list[SeededSnapshot],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = FileStore(make_config(tmp_path))
    listing = store.listing()
    assert listing.journals == {} and set(listing.folders) == {s.id for s in seeded}
    snap = listing.snapshots[0]

    def crash(folder: Path) -> int:
        raise PermissionError(13, "Permission denied", str(folder / "db.sql.gz"))

    monkeypatch.setattr(file_store, "_remove_tree", crash)
    assert snap.snapshot.id in store.delete([snap], listing=listing).failed
    monkeypatch.undo()
    [(key, ids)] = listing.journals.items()  # the run's journal: what it left unfinished
    assert ids == {snap.snapshot.id} and (tmp_path / key).is_file()
    again = store.listing()
    assert again.journals == listing.journals
    [inc] = again.incomplete
    assert store.delete([inc], listing=again).deleted == [inc.snapshot.id]
    assert again.journals == {} and not (tmp_path / JOURNAL_PREFIX).exists()
