"""Issue 11 part 1 on a real file store, through the CLI (real lock, real audit log): a planted
deletion journal never makes prune delete anything; only what an earlier backupctl prune
recorded in a verified ``prune.intent`` is resumed, and then only inside its own folder, never
through a symlink, never the newest of a group."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from backupctl.cli import main
from backupctl.seed import DirWriter, write_snapshot
from backupctl.stores import file as file_store
from backupctl.stores.layout import JOURNAL_PREFIX, Outcome, encode_journal
from backupctl.stores.manifest import HIDDEN_MANIFEST, folder_refusal

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()
    }


def setup_store(
    tmp_path: Path, keep_last: int = 100, days: int = 6
) -> tuple[Path, Path, list[str]]:
    root = tmp_path / "store"
    ids = [
        write_snapshot(
            DirWriter(root), "app", NOW - timedelta(days=d), {"db.sql": f"day {d}".encode()}
        )
        for d in range(days, 0, -1)
    ]
    config = tmp_path / "backupctl.toml"
    config.write_text(f"""timezone = "UTC"
[store]
url = "file://{root}"
[safety]
max_delete_fraction = 1.0
[[policy]]
name = "app"
keep_last = {keep_last}
""")
    return root, config, ids


def prune(config: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main,
        ["prune", "--config", str(config), "--json", *args],
        env={"BACKUPCTL_NOW": NOW.isoformat()},
    )


def plant(root: Path, ids: list[str], name: str = "20261101T000000Z-evil.json") -> Path:
    (root / JOURNAL_PREFIX).mkdir(parents=True, exist_ok=True)
    path = root / JOURNAL_PREFIX / name
    path.write_bytes(encode_journal(ids, name, NOW))
    return path


def test_a_planted_journal_naming_a_symlinked_folder_deletes_nothing_outside_the_root(
    tmp_path: Path,
) -> None:
    root, config, _ = setup_store(tmp_path)
    outside = tmp_path / "elsewhere" / "20261101T000000Z"
    outside.mkdir(parents=True)
    (outside / "precious.bin").write_bytes(b"not backupctl's")
    os.symlink(outside, root / "app" / "20261101T000000Z")
    plant(root, ["app/20261101T000000Z"])
    result = prune(config)
    assert result.exit_code == 0, result.output
    assert (outside / "precious.bin").read_bytes() == b"not backupctl's"
    assert (root / "app" / "20261101T000000Z").is_symlink()


def test_a_planted_journal_naming_a_symlinked_group_folder_deletes_nothing(tmp_path: Path) -> None:
    root, config, _ = setup_store(tmp_path)
    other = tmp_path / "unmanaged"
    (other / "20261101T000000Z").mkdir(parents=True)
    (other / "20261101T000000Z" / "upload.part").write_bytes(b"in progress")
    os.symlink(other, root / "db")
    config.write_text(config.read_text() + '[[policy]]\nname = "db"\nkeep_last = 1\n')
    plant(root, ["db/20261101T000000Z"])
    result = prune(config)
    assert result.exit_code in (0, 4), result.output
    assert (other / "20261101T000000Z" / "upload.part").exists()


def test_dotdot_ids_in_a_journal_are_never_followed(tmp_path: Path) -> None:
    root, config, _ = setup_store(tmp_path)
    victim = tmp_path / "victim" / "20261101T000000Z"
    victim.mkdir(parents=True)
    (victim / "x").write_bytes(b"x")
    (root / JOURNAL_PREFIX).mkdir(parents=True)
    (root / JOURNAL_PREFIX / "evil.json").write_text(
        json.dumps({"ids": ["app/../../victim/20261101T000000Z"]})
    )
    assert prune(config).exit_code == 0
    assert (victim / "x").exists()


def test_a_symlinked_journal_folder_is_not_emptied(tmp_path: Path) -> None:
    root, config, ids = setup_store(tmp_path, keep_last=3)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "important.json").write_text("{}")
    (root / "_backupctl").mkdir()
    os.symlink(elsewhere, root / JOURNAL_PREFIX.rstrip("/"))
    result = prune(config)
    assert (elsewhere / "important.json").read_text() == "{}"
    assert (
        result.exit_code != 0 or not (root / ids[0]).exists()
    )  # refuses, or prunes without touching it


def test_a_planted_journal_naming_an_upload_in_progress_leaves_it_alone(tmp_path: Path) -> None:
    root, config, _ = setup_store(tmp_path)
    upload = root / "app" / "20261120T030000Z"
    upload.mkdir()
    (upload / "db.sql.part").write_bytes(b"half")
    plant(root, ["app/20261120T030000Z"])
    result = prune(config)
    assert result.exit_code == 0, result.output
    assert (upload / "db.sql.part").exists()
    doc = json.loads(result.stdout)
    assert doc["deleted"] == [] and "app/20261120T030000Z" in doc["incomplete"]


def test_an_interrupted_backupctl_prune_is_still_finished_by_the_next(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, config, ids = setup_store(tmp_path, keep_last=3)
    real = file_store._remove_tree

    def crash_once(folder: Path) -> int:
        raise PermissionError(13, "Permission denied", str(folder))

    monkeypatch.setattr(file_store, "_remove_tree", crash_once)
    first = prune(config)
    assert first.exit_code == 1, first.output  # manifests gone, data left: journalled
    assert all(not (root / sid / "manifest.json").exists() for sid in ids[:3])
    monkeypatch.setattr(file_store, "_remove_tree", real)
    second = prune(config)
    assert second.exit_code == 0, second.output
    assert sorted(json.loads(second.stdout)["deleted"]) == sorted(ids[:3])
    assert files(root) - {f for f in files(root) if f.startswith("_backupctl/")} == {
        f"{sid}/{name}" for sid in ids[3:] for name in ("db.sql", "manifest.json")
    }


def test_a_journal_matching_a_forged_intent_still_never_deletes_the_newest(tmp_path: Path) -> None:
    """Even a consistent (unsigned) intent cannot make prune delete the newest snapshot: the
    resumed ids are checked against today's listing."""
    root, config, ids = setup_store(tmp_path, keep_last=100, days=3)
    newest = root / ids[-1]
    (newest / "manifest.json").unlink()  # someone hid the newest snapshot's manifest
    from backupctl.evidence.audit import AuditLog
    from backupctl.stores.blobs import FileBlobs

    AuditLog(FileBlobs(root)).append("prune.intent", {"delete": [{"id": ids[-1]}]}, now=NOW)
    plant(root, [ids[-1]])
    prune(config)
    assert (newest / "db.sql").exists()


def test_plan_shows_why_a_journalled_folder_is_not_resumed(tmp_path: Path) -> None:
    root, config, _ = setup_store(tmp_path)
    upload = root / "app" / "20261120T030000Z"
    upload.mkdir()
    (upload / "part").write_bytes(b"x")
    plant(root, ["app/20261120T030000Z"])
    result = CliRunner().invoke(
        main, ["plan", "--config", str(config), "--json"], env={"BACKUPCTL_NOW": NOW.isoformat()}
    )
    doc = json.loads(result.stdout)
    assert doc["resume"] == [] and "app/20261120T030000Z" in doc["incomplete"]


@pytest.mark.parametrize(
    ("asked", "exists", "live", "hidden", "expected"),
    [
        (True, True, True, False, None),  # handed over, whole: delete it
        (True, True, True, True, None),  # a versioned folder's own manifest versions go too
        (False, True, False, False, None),  # journalled, its manifest already gone: finish it
        (True, False, False, False, Outcome("skipped")),  # nothing there (gone since)
        (False, False, False, False, Outcome("skipped")),
        (False, True, True, False, Outcome("skipped")),  # a stale journal entry: not ours
        (False, True, False, True, Outcome("failed", HIDDEN_MANIFEST)),  # a hidden manifest
        (False, True, True, True, Outcome("failed", HIDDEN_MANIFEST)),
        (
            True,
            True,
            False,
            False,
            Outcome("failed", "manifest.json disappeared since the listing; left alone"),
        ),
    ],
)
def test_the_checks_before_a_folder_is_deleted(
    asked: bool, exists: bool, live: bool, hidden: bool, expected: Outcome | None
) -> None:
    """Both stores run these: a journal alone never finishes a folder with a manifest."""
    assert folder_refusal(asked, exists, live, hidden_manifest=hidden) == expected
