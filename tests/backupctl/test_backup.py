"""The producer behind ``backupctl backup``: what a tree walk accepts and refuses, the
incomplete snapshot a failed upload leaves, parallel multipart uploads on moto S3 with a small
part size, and the keys it writes into a manifest being the keys a manifest reader accepts."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random
import threading
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from backupctl.cli import main
from backupctl.errors import StoreError, UsageError
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
    (src / "a-good").write_bytes(b"g")  # uploaded first (workers=1, sorted keys)
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
            walk_paths([str(src / "a-good")]),
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
    head = s3_client.head_object(Bucket=bucket, Key="p/app/F/x", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-4"')
    # each part went up with its CRC32 and S3 keeps their composite, as for the aws CLI (no
    # whole-object checksum to compute again on completion)
    crcs = b"".join(
        zlib.crc32(data[i : i + part]).to_bytes(4, "big") for i in range(0, len(data), part)
    )
    composite = base64.b64encode(zlib.crc32(crcs).to_bytes(4, "big")).decode()
    assert head["ChecksumCRC32"] in (f"{composite}-4", composite)  # AWS adds "-4", moto not
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
        (["--group", "app", "--jobs", "0", "f"], "--jobs"),
        (["--group", "app", "--multipart-threshold", "1KB", "f"], '"8MiB" to "5GiB"'),
        (["--group", "app", "--multipart-threshold", "lots", "f"], "--multipart-threshold"),
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


class _Counting:
    """The real client, counting the data requests (PutObject, UploadPart) in flight."""

    def __init__(self, client: Any) -> None:
        self._client, self._lock = client, threading.Lock()
        self.now = self.peak = 0

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name not in ("put_object", "upload_part"):
            return call

        def counted(**kwargs: Any) -> Any:
            with self._lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            try:
                time.sleep(0.01)  # long enough for the others to pile up if they may
                return call(**kwargs)
            finally:
                with self._lock:
                    self.now -= 1

        return counted


def test_s3_data_requests_in_flight_never_exceed_the_jobs(s3_client: Any, bucket: str) -> None:
    """Object threads and part threads share one cap (``--jobs``): 3 objects of 3 parts and 6
    small ones with 3 jobs never have more than 3 PutObject/UploadPart requests at once."""
    part = 5 << 20
    counting = _Counting(s3_client)
    writer = S3SnapshotWriter(counting, bucket, part_size=part, workers=3)
    rng = random.Random(5)
    sources = [stdin_source(f"big{i}", io.BytesIO(rng.randbytes(2 * part + 9))) for i in range(3)]
    sources += [stdin_source(f"small{i}", io.BytesIO(b"s" * (i + 1))) for i in range(6)]
    try:
        result = Producer(writer, workers=3).run(
            sources, group="app", time_utc=T, folder="app/F/", snapshot_id="app/F"
        )
    finally:
        writer.close()
    assert len(result.objects) == 9
    assert counting.peak == 3  # reached, never passed


class _Blind(S3SnapshotWriter):
    """A writer whose look at the folder came before another run wrote to it (the race)."""

    def occupied(self, folder: str) -> bool:
        return False


def test_s3_each_object_is_written_only_where_absent_and_a_taken_key_stops_the_run(
    s3_client: Any, bucket: str
) -> None:
    part = 5 << 20
    s3_client.put_object(Bucket=bucket, Key="app/F/b-big", Body=b"the first run's")
    writer = _Blind(s3_client, bucket, part_size=part, workers=2)
    big = random.Random(3).randbytes(2 * part + 1)  # a multipart upload onto a taken key
    sources = [
        stdin_source("a-small", io.BytesIO(b"small")),
        stdin_source("b-big", io.BytesIO(big)),
        stdin_source("c-later", io.BytesIO(b"never started")),
    ]
    try:
        with pytest.raises(SnapshotExists, match="app/F/b-big already exists") as exc:
            Producer(writer, workers=1).run(
                sources, group="app", time_utc=T, folder="app/F/", snapshot_id="app/F"
            )
    finally:
        writer.close()
    assert "nothing overwritten" in str(exc.value)
    got = s3_client.get_object(Bucket=bucket, Key="app/F/b-big")["Body"].read()
    assert got == b"the first run's"
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert keys == {"app/F/a-small", "app/F/b-big"}  # no manifest, the next object not started
    assert not s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads")  # aborted
    # a small object onto a taken key: the PutObject itself is conditional
    writer = _Blind(s3_client, bucket, part_size=part)
    try:
        with pytest.raises(SnapshotExists, match="app/F/a-small already exists"):
            Producer(writer).run(
                [stdin_source("a-small", io.BytesIO(b"other"))],
                group="app",
                time_utc=T,
                folder="app/F/",
                snapshot_id="app/F",
            )
    finally:
        writer.close()
    assert s3_client.get_object(Bucket=bucket, Key="app/F/a-small")["Body"].read() == b"small"


@pytest.mark.parametrize("links", [True, False])
def test_file_objects_are_published_with_link_and_never_replace_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool
) -> None:
    if not links:  # a filesystem without hard links: the name is reserved with O_EXCL

        def no_link(src: Any, dst: Any) -> None:
            raise OSError(1, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)
    store = tmp_path / "store"
    (store / "app" / "F").mkdir(parents=True)
    (store / "app" / "F" / "taken").write_bytes(b"the first run's")
    writer = FileSnapshotWriter(store)
    up = writer.upload("app/F/new", io.BytesIO(b"fresh"), lambda _n: None)
    assert up.size == 5 and (store / "app/F/new").read_bytes() == b"fresh"
    with pytest.raises(SnapshotExists, match="taken already exists"):
        Producer(_BlindFile(store)).run(
            [stdin_source("taken", io.BytesIO(b"second"))],
            group="app",
            time_utc=T,
            folder="app/F/",
            snapshot_id="app/F",
        )
    assert (store / "app/F/taken").read_bytes() == b"the first run's"
    assert sorted(p.name for p in (store / "app/F").iterdir()) == ["new", "taken"]  # no temp


class _BlindFile(FileSnapshotWriter):
    def occupied(self, folder: str) -> bool:
        return False


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_s3_a_file_below_the_threshold_is_one_streamed_put_with_a_whole_object_crc32(
    s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """A file from one part up to the threshold goes up in one PutObject read from the file (no
    multipart upload), so S3 keeps a CRC32 of the whole object; at the threshold, parts."""
    part = 5 << 20
    rng = random.Random(11)
    below, at = rng.randbytes(2 * part + 11), rng.randbytes(3 * part)
    writer = S3SnapshotWriter(
        s3_client, bucket, part_size=part, workers=2, multipart_threshold=3 * part
    )
    seen: list[int] = []
    try:
        with open(_file(tmp_path, "below", below), "rb") as fh:
            up = writer.upload("app/F/below", fh, seen.append)
        with open(_file(tmp_path, "at", at), "rb") as fh:
            up_at = writer.upload("app/F/at", fh, seen.append)
    finally:
        writer.close()
    assert (up.size, up.sha256) == (len(below), hashlib.sha256(below).hexdigest())
    assert (up_at.size, up_at.sha256) == (len(at), hashlib.sha256(at).hexdigest())
    assert seen[0] == len(below)
    head = s3_client.head_object(Bucket=bucket, Key="app/F/below", ChecksumMode="ENABLED")
    assert "-" not in head["ETag"] and head["ContentLength"] == len(below)
    whole = base64.b64encode(zlib.crc32(below).to_bytes(4, "big")).decode()
    assert head["ChecksumCRC32"] == whole
    assert s3_client.head_object(Bucket=bucket, Key="app/F/at")["ETag"].endswith('-3"')
    assert s3_client.get_object(Bucket=bucket, Key="app/F/below")["Body"].read() == below
    # standard input redirected from a file (`- < dump`) is a file: one streamed PutObject too
    writer = S3SnapshotWriter(s3_client, bucket, part_size=part, multipart_threshold=3 * part)
    try:
        with open(tmp_path / "below", "rb") as fh:
            Producer(writer).run(
                [stdin_source("dump", fh)],
                group="app",
                time_utc=T,
                folder="app/G/",
                snapshot_id="app/G",
            )
    finally:
        writer.close()
    assert "-" not in s3_client.head_object(Bucket=bucket, Key="app/G/dump")["ETag"]


@pytest.mark.parametrize("change", ["rewritten", "grown", "shrunk"])
def test_s3_a_file_that_changes_while_botocore_reads_it_is_refused(
    s3_client: Any, bucket: str, tmp_path: Path, change: str
) -> None:
    """botocore reads a streamed body more than once (checksum, SigV4 payload hash, send): a
    file changed between those reads is an error naming it, never an object whose manifest
    sha256 differs from its bytes. The change lands after botocore's checksum pass, before
    signing (the real client's own events)."""
    part = 5 << 20
    data = random.Random(12).randbytes(part + 100)
    path = _file(tmp_path, "f", data)

    def meddle(**_kw: Any) -> None:
        if change == "rewritten":
            with open(path, "r+b") as fh:
                fh.write(b"X" * 10)
        elif change == "grown":
            with open(path, "ab") as fh:
                fh.write(b"more")
        else:
            os.truncate(path, part)

    s3_client.meta.events.register_first("before-sign.s3.PutObject", meddle)
    writer = S3SnapshotWriter(s3_client, bucket, part_size=part)
    try:
        with open(path, "rb") as fh, pytest.raises(StoreError) as exc:
            writer.upload("app/F/f", fh, lambda _n: None)
    finally:
        writer.close()
        s3_client.meta.events.unregister("before-sign.s3.PutObject", meddle)
    assert isinstance(exc.value, StoreError)
    assert (
        str(exc.value) == f"app/F/f changed while it was read (expected {part + 100} stable bytes)"
    )


@given(
    data=st.binary(min_size=1, max_size=300),
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("read"), st.integers(-1, 120)),
            st.tuples(st.just("seek"), st.integers(0, 320)),
            st.tuples(st.just("end"), st.integers(-50, 0)),
        ),
        max_size=25,
    ),
)
def test_a_hashed_view_gives_the_files_sha256_or_nothing(
    data: bytes, ops: list[tuple[str, int]]
) -> None:
    """Whatever botocore's reads and seeks, a stable file's view reports its true sha256 or
    nothing, nothing before some read reached its end, and the sha256 once a pass read it
    whole from the start; a view never reads past its size."""
    from backupctl.produce.backup import _HashedView

    raw = io.BytesIO(b"head" + data + b"tail")
    raw.seek(4)
    view = _HashedView(raw, len(data))
    true = hashlib.sha256(data).hexdigest()
    reached = 0  # the furthest byte any read has returned
    for op, n in ops:
        if op == "read":
            before = view.tell()
            got = view.read(n)
            assert got == data[before : len(data) if n < 0 else before + n]
            reached = max(reached, before + len(got))
        elif op == "seek":
            assert view.seek(n) == min(n, len(data))
        else:
            assert view.seek(n, os.SEEK_END) == max(0, len(data) + n)
        assert view.sha256() in (None, true)
        if reached < len(data):
            assert view.sha256() is None
    view.seek(0)
    assert view.read() == data and view.read(5) == b""
    assert view.sha256() == true
    assert view.grew()  # "tail" lies past the view


def test_a_hashed_view_whose_passes_differ_gives_nothing() -> None:
    from backupctl.produce.backup import FileChanged, _HashedView

    raw = io.BytesIO(b"first pass")
    view = _HashedView(raw, 10)
    assert (
        view.read() == b"first pass" and view.sha256() == hashlib.sha256(b"first pass").hexdigest()
    )
    raw.seek(0)
    raw.write(b"other pass")
    view.seek(0)
    assert view.read(4) + view.read() == b"other pass"
    assert view.sha256() is None and not view.grew()
    half = _HashedView(io.BytesIO(b"short"), 10)  # the file shrank: the read stops the request
    with pytest.raises(FileChanged, match="5 bytes early"):
        half.read()
    assert half.sha256() is None


def test_a_hashed_view_serves_botocores_https_path_aws_chunked_with_a_trailing_crc32() -> None:
    """Over https botocore does not hash the payload: it streams the body aws-chunked with the
    CRC32 in a trailer, computed on that same (and only) pass; a retry seeks back to 0. The view
    then hashes exactly what was sent."""
    from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

    from backupctl.produce.backup import _HashedView

    data = random.Random(13).randbytes(3 * (1 << 20) + 5)
    view = _HashedView(io.BytesIO(data), len(data))
    wrapper = AwsChunkedWrapper(view, Crc32Checksum, "x-amz-checksum-crc32")
    wrapper.read(1000)  # a send cut short, then botocore's retry from the start
    wrapper.seek(0)
    sent = b"".join(iter(lambda: wrapper.read(64 << 10), b""))
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big"))
    assert sent.endswith(b"x-amz-checksum-crc32:" + crc + b"\r\n\r\n")
    assert view.sha256() == hashlib.sha256(data).hexdigest()
