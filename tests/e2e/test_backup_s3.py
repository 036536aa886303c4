"""``backupctl backup`` end to end on moto S3 and on a file store: a tree (empty files, nested
folders, a file larger than a part, so a parallel multipart upload) and standard input; then
plan lists them complete, verify re-reads them, drill restores them, and a second backup of
the same group and time is refused with the first left intact."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from backupctl.cli import main

pytestmark = pytest.mark.e2e

BIG = 9 * (1 << 20) + 12345  # > the 8 MiB part: two parts, the last one short
ONE_PUT = 8 * (1 << 20) + 7  # a part or more, below the test's --multipart-threshold: one request


def make_tree(root: Path) -> dict[str, bytes]:
    """A tree with empty files, nested folders, a file for a multipart upload and one streamed
    in a single PutObject (with ``--multipart-threshold 9MiB``); returns key -> bytes."""
    files = {
        "tree/empty": b"",
        "tree/a/b/c/deep.txt": b"deep\n",
        "tree/a/one.bin": random.Random(1).randbytes(70_000),
        "tree/big.bin": random.Random(2).randbytes(BIG),
        "tree/a/streamed.bin": random.Random(4).randbytes(ONE_PUT),
        "tree/a/empty-too": b"",
    }
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "tree" / "an-empty-dir").mkdir()
    return files


def write_config(tmp: Path, url: str, endpoint: str | None) -> Path:
    path = tmp / "backupctl.toml"
    endpoint_line = f'endpoint_url = "{endpoint}"' if endpoint else ""
    path.write_text(f"""
timezone = "Europe/Amsterdam"

[store]
url = "{url}"
{endpoint_line}

[[policy]]
name = "app"
group = "app"
schedule = "0 2 * * *"
keep_within_daily = "7d"

[drill]
target = "1 working day"
scratch_dir = "{tmp / "scratch"}"
""")
    return path


def run(config: Path, *args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(config)], input=input)


@pytest.fixture(params=["s3", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """A config on moto S3 (a fresh bucket, a prefix) or on a file store, and a reader of
    the stored objects by key relative to the store's root."""
    head: Any = None
    if request.param == "s3":
        client = request.getfixturevalue("s3_client")
        bucket = request.getfixturevalue("bucket")
        endpoint = request.getfixturevalue("s3_endpoint")
        config = write_config(tmp_path, f"s3://{bucket}/backups", endpoint)

        def read(key: str) -> bytes:
            return bytes(client.get_object(Bucket=bucket, Key="backups/" + key)["Body"].read())

        def head(key: str) -> dict[str, Any]:
            return dict(
                client.head_object(Bucket=bucket, Key="backups/" + key, ChecksumMode="ENABLED")
            )

        def keys() -> list[str]:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            return sorted(
                o["Key"].removeprefix("backups/") for p in pages for o in p.get("Contents", [])
            )
    else:
        root = tmp_path / "store"
        root.mkdir()
        config = write_config(tmp_path, root.as_uri(), None)

        def read(key: str) -> bytes:
            return (root / key).read_bytes()

        def keys() -> list[str]:
            return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    return {"config": config, "read": read, "keys": keys, "head": head}


def test_backup_tree_and_stdin_then_plan_verify_drill(
    store: dict[str, Any], tmp_path: Path
) -> None:
    config = store["config"]
    files = make_tree(tmp_path / "src")
    tree = run(
        config,
        "backup",
        "--group",
        "app",
        "--time",
        "2026-12-01T02:00",
        "--multipart-threshold",
        "9MiB",
        "--json",
        str(tmp_path / "src" / "tree"),
    )
    assert tree.exit_code == 0, tree.output
    doc = json.loads(tree.stdout)
    assert doc["id"] == "app/20261201T010000Z"
    assert doc["time"] == "2026-12-01T01:00:00+00:00"
    assert doc["objects"] == len(files)
    assert doc["bytes"] == sum(len(d) for d in files.values())

    dump = random.Random(3).randbytes(BIG + 1)  # a pipe: size unknown, multipart
    piped = run(
        config,
        "backup",
        "--group",
        "app",
        "--time",
        "2026-12-02T02:00:00+01:00",
        "--name",
        "db.sql.gz",
        "--json",
        "-",
        input=dump,
    )
    assert piped.exit_code == 0, piped.output
    assert json.loads(piped.stdout)["bytes"] == len(dump)

    # The stored bytes are the source's, and the manifests say so.
    for key, data in files.items():
        assert store["read"](f"app/20261201T010000Z/{key}") == data
    assert store["read"]("app/20261202T010000Z/db.sql.gz") == dump
    if store["head"]:  # on S3: parts at the threshold, one PutObject with a whole CRC32 below
        assert store["head"]("app/20261201T010000Z/tree/big.bin")["ETag"].endswith('-2"')
        streamed = store["head"]("app/20261201T010000Z/tree/a/streamed.bin")
        assert "-" not in streamed["ETag"] and streamed["ChecksumCRC32"]
    manifest = json.loads(store["read"]("app/20261201T010000Z/manifest.json"))
    assert {o["key"]: (o["size"], o["sha256"]) for o in manifest["objects"]} == {
        k: (len(d), hashlib.sha256(d).hexdigest()) for k, d in files.items()
    }

    plan = run(config, "plan", "--json", "--at", "2026-12-02T12:00")
    assert plan.exit_code == 0, plan.output
    ids = {d["id"]: d["action"] for d in json.loads(plan.stdout)["decisions"]}
    assert ids == {"app/20261201T010000Z": "keep", "app/20261202T010000Z": "keep"}

    verify = run(config, "verify", "--json", "--at", "2026-12-02T12:00")
    assert verify.exit_code == 0, verify.output
    checked = json.loads(verify.stdout)
    assert checked["ok"] is True
    assert not [v for v in checked["violations"] if v["kind"] == "integrity"]

    for sid in ("app/20261201T010000Z", "app/20261202T010000Z"):
        drill = run(config, "drill", "--snapshot", sid, "--json")
        assert drill.exit_code == 0, drill.output


def test_duplicate_time_is_refused_and_the_first_is_intact(
    store: dict[str, Any], tmp_path: Path
) -> None:
    config = store["config"]
    make_tree(tmp_path / "src")
    args = (
        "backup",
        "--group",
        "app",
        "--time",
        "2026-12-01T02:00",
        str(tmp_path / "src" / "tree"),
    )
    assert run(config, *args).exit_code == 0
    before = {k: store["read"](k) for k in store["keys"]() if "_backupctl/" not in k}
    (tmp_path / "src" / "tree" / "big.bin").write_bytes(b"changed")
    again = run(config, *args)
    assert again.exit_code == 4, again.output
    assert "already exists" in again.stderr and "nothing was written" in again.stderr
    after = {k: store["read"](k) for k in store["keys"]() if "_backupctl/" not in k}
    assert after == before
    # The same bytes from standard input at the same time: refused too.
    piped = run(
        config,
        "backup",
        "--group",
        "app",
        "--time",
        "2026-12-01T02:00",
        "--name",
        "x",
        "-",
        input=b"x",
    )
    assert piped.exit_code == 4


def test_the_audit_log_records_the_backup(store: dict[str, Any], tmp_path: Path) -> None:
    config = store["config"]
    result = run(config, "backup", "--group", "app", "--name", "db", "--json", "-", input=b"abc")
    assert result.exit_code == 0, result.output
    sid = json.loads(result.stdout)["id"]
    records = [
        json.loads(line)
        for key in store["keys"]()
        if "_backupctl/audit/" in key
        for line in store["read"](key).splitlines()
        if line.strip()
    ]
    backups = [r for r in records if r.get("action") == "backup"]
    assert len(backups) == 1 and sid in json.dumps(backups[0])
    assert run(config, "audit", "verify").exit_code == 0


def test_an_object_taken_meanwhile_stops_the_run_before_its_manifest(
    store: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs of the same group and time race past the empty-folder check: every data object
    is written conditionally (S3: If-None-Match on PutObject and on CompleteMultipartUpload;
    file: link()), so the second run stops at the first object the first run already wrote,
    exit 4 naming it, and writes no manifest; the first run's bytes stay."""
    from backupctl.produce.backup import FileSnapshotWriter, S3SnapshotWriter

    config = store["config"]
    make_tree(tmp_path / "src")
    when = ("--time", "2026-12-01T02:00")
    first = run(config, "backup", "--group", "app", *when, str(tmp_path / "src" / "tree"))
    assert first.exit_code == 0, first.output
    before = {k: store["read"](k) for k in store["keys"]() if "_backupctl/" not in k}
    # the race window: the second run looked at the folder before the first run wrote to it
    for cls in (FileSnapshotWriter, S3SnapshotWriter):
        monkeypatch.setattr(cls, "occupied", lambda self, folder: False)
    # one PutObject and one multipart upload, each onto a key the first run wrote
    for i, (key, data) in enumerate(
        [("a/one.bin", b"second run"), ("big.bin", random.Random(9).randbytes(BIG))]
    ):
        path = tmp_path / f"second{i}" / "tree" / key
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        again = run(config, "backup", "--group", "app", *when, str(tmp_path / f"second{i}/tree"))
        assert again.exit_code == 4, again.output
        assert f"app/20261201T010000Z/tree/{key} already exists" in again.stderr
        assert "Traceback" not in again.output
        after = {k: store["read"](k) for k in store["keys"]() if "_backupctl/" not in k}
        assert after == before  # nothing replaced, no second manifest, no stray object
