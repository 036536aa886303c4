"""The producer behind ``backupctl backup``: what a tree walk accepts and refuses, the
incomplete snapshot a failed upload leaves, parallel multipart uploads on moto S3 with a small
part size, and the keys it writes into a manifest being the keys a manifest reader accepts."""

from __future__ import annotations

import hashlib
import io
import os
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from backupctl.cli import main
from backupctl.errors import UsageError
from backupctl.produce.backup import (
    FileSnapshotWriter,
    IncompleteSnapshot,
    Producer,
    S3SnapshotWriter,
    SnapshotExists,
    Uploaded,
    check_object_key,
    encode_manifest,
    stdin_source,
    walk_paths,
)
from backupctl.stores.layout import parse_manifest

T = datetime(2026, 12, 1, 1, tzinfo=UTC)


def test_walk_keys_each_path_by_its_name_and_skips_empty_dirs(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub" / "empty-dir").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "f").write_bytes(b"x")
    (tmp_path / "d" / "zero").write_bytes(b"")
    (tmp_path / "one.txt").write_bytes(b"12")
    sources = walk_paths([str(tmp_path / "d"), str(tmp_path / "one.txt")])
    assert [(s.key, s.size) for s in sources] == [("d/sub/f", 1), ("d/zero", 0), ("one.txt", 2)]


@pytest.mark.parametrize("kind", ["file-link", "dir-link", "fifo", "given-link"])
def test_walk_refuses_symlinks_and_special_files(tmp_path: Path, kind: str) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "ok").write_bytes(b"ok")
    given = tree
    if kind == "file-link":
        (tree / "link").symlink_to(tree / "ok")
    elif kind == "dir-link":
        (tree / "link").symlink_to(tmp_path)
    elif kind == "fifo":
        os.mkfifo(tree / "pipe")
    else:
        given = tmp_path / "alias"
        given.symlink_to(tree)
    with pytest.raises(UsageError, match=r"symlink|not a regular file") as exc:
        walk_paths([str(given)])
    assert "\n" not in str(exc.value)


def test_walk_refuses_clashing_names_and_missing_paths(tmp_path: Path) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x").write_bytes(b"")
    with pytest.raises(UsageError, match="both be stored as 'x'"):
        walk_paths([str(tmp_path / "a" / "x"), str(tmp_path / "b" / "x")])
    with pytest.raises(UsageError, match="No such file"):
        walk_paths([str(tmp_path / "nope")])
    (tmp_path / "manifest.json").write_bytes(b"{}")
    with pytest.raises(UsageError, match="manifest"):
        walk_paths([str(tmp_path / "manifest.json")])


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4).map("/".join))
def test_every_key_the_producer_accepts_is_one_a_manifest_reader_accepts(key: str) -> None:
    entry = Uploaded(key, 0, hashlib.sha256(b"").hexdigest())
    if check_object_key(key) is None:
        parsed = parse_manifest(encode_manifest("app", T, [entry]), "app", T)
        assert [e.key for e in parsed] == [key]


class _FailingWriter(FileSnapshotWriter):
    def upload(self, key: str, stream: IO[bytes], progress: Any) -> Uploaded:
        if key.endswith("bad"):
            raise OSError(5, "Input/output error")
        return super().upload(key, stream, progress)


def test_a_failed_upload_leaves_no_manifest_and_says_incomplete(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "good").write_bytes(b"g")
    (src / "bad").write_bytes(b"b")
    writer = _FailingWriter(tmp_path / "store")
    with pytest.raises(IncompleteSnapshot, match=r"incomplete \(no manifest\.json\)") as exc:
        Producer(writer, workers=1).run(
            walk_paths([str(src)]), group="app", time_utc=T, folder="app/F/", snapshot_id="app/F"
        )
    assert "Input/output error" in str(exc.value)
    assert not (tmp_path / "store" / "app" / "F" / "manifest.json").exists()
    # A rerun at that time does not write over the incomplete folder either.
    with pytest.raises(SnapshotExists):
        Producer(FileSnapshotWriter(tmp_path / "store")).run(
            walk_paths([str(src / "good")]),
            group="app",
            time_utc=T,
            folder="app/F/",
            snapshot_id="app/F",
        )


def test_s3_multipart_parts_go_up_in_parallel_and_hash_the_stream(
    s3_client: Any, bucket: str
) -> None:
    part = 5 << 20  # S3's (and moto's) smallest part
    data = random.Random(7).randbytes(3 * part + 777)
    writer = S3SnapshotWriter(s3_client, bucket, "p", part_size=part, workers=3)
    seen: list[int] = []
    try:
        up = writer.upload("app/F/x", io.BytesIO(data), seen.append)
    finally:
        writer.close()
    assert up.size == len(data) and up.sha256 == hashlib.sha256(data).hexdigest()
    assert sorted(seen) == sorted([part, part, part, 777])
    head = s3_client.head_object(Bucket=bucket, Key="p/app/F/x")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-4"')
    got = s3_client.get_object(Bucket=bucket, Key="p/app/F/x")["Body"].read()
    assert got == data
    assert not s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_s3_small_object_is_one_put_and_the_manifest_is_conditional(
    s3_client: Any, bucket: str
) -> None:
    writer = S3SnapshotWriter(s3_client, bucket, part_size=5 << 20)
    try:
        result = Producer(writer).run(
            [stdin_source("db.sql", io.BytesIO(b"dump"))],
            group="app",
            time_utc=T,
            folder="app/F/",
            snapshot_id="app/F",
        )
        assert result.bytes == 4 and result.as_json()["time"] == "2026-12-01T01:00:00+00:00"
        with pytest.raises(Exception, match="already exists"):
            writer.put_if_absent("app/F/manifest.json", b"{}")
    finally:
        writer.close()
    body = s3_client.get_object(Bucket=bucket, Key="app/F/manifest.json")["Body"].read()
    assert b"db.sql" in body


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--group", "app"], "expected PATH"),
        (["--group", "app", "-"], "--name NAME"),
        (["--group", "app", "--name", "x", "a", "-"], "expected it alone"),
        (["--group", "app", "--name", "x", "somefile"], "names standard input"),
        (["--group", "../up", "f"], "--group"),
        (["--group", "app", "--name", "../x", "-"], "'..'"),
        (["--group", "app", "--time", "yesterday-ish", "f"], "--time"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], needle: str
) -> None:
    config = tmp_path / "c.toml"
    (tmp_path / "f").write_bytes(b"f")
    config.write_text(
        f'[store]\nurl = "{(tmp_path / "s").as_uri()}"\n'
        '[[policy]]\nname = "app"\ngroup = "app"\nkeep_within_daily = "7d"\n'
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["backup", "--config", str(config), *args], input=b"")
    assert result.exit_code == 2, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert needle in line and "Traceback" not in result.output
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").rglob("manifest.json"))


def test_a_group_without_a_policy_is_written_with_a_warning(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[store]\nurl = "{(tmp_path / "s").as_uri()}"\n'
        '[[policy]]\nname = "app"\ngroup = "app"\nkeep_within_daily = "7d"\n'
    )
    result = CliRunner().invoke(
        main,
        ["backup", "--config", str(config), "--group", "other", "--name", "n", "-"],
        input=b"data",
    )
    assert result.exit_code == 0, result.output
    assert "no policy has group 'other'" in result.stderr
    assert len(list((tmp_path / "s" / "other").glob("*/manifest.json"))) == 1
