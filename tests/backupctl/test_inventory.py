"""The S3 Inventory reader (backupctl/stores/inventory.py) on reports written here in AWS's
format: manifest.json (+ manifest.checksum) in a ``YYYY-MM-DDTHH-MMZ/`` folder, gzip CSV data
files with quoted fields and URL-encoded keys, versioned rows. Bad reports (MD5, truncated gzip,
garbage or oversized manifest, a schema without Key, foreign data files …) are one clear
InventoryError naming the object; the CSV reader is fuzzed with hypothesis."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import sys
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backupctl.stores.inventory import (
    MAX_MANIFEST_JSON,
    DirReportSource,
    InventoryError,
    iter_rows,
    newest_report,
)

SCHEMA = "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass"
VERSIONED_SCHEMA = (
    "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass"
)
WHEN = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
CONFIG = "inv/src/daily/"  # <destination prefix>/<source bucket>/<config id>/


def aws_time(t: datetime) -> str:
    """LastModifiedDate as AWS writes it: 2026-11-23T02:00:00.000Z."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def csv_gz(rows: Iterable[Mapping[str, Any]], schema: str, bucket: str, level: int = 6) -> bytes:
    """One data file: every field quoted, keys URL-encoded (spaces as '+')."""
    names = [f.strip() for f in schema.split(",")]
    text = io.StringIO()
    w = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for r in rows:
        values = {"Bucket": bucket, "StorageClass": "STANDARD", **r}
        values["Key"] = quote_plus(values["Key"], safe="/")
        w.writerow(["" if values.get(n) is None else str(values.get(n)) for n in names])
    return gzip.compress(text.getvalue().encode(), compresslevel=level, mtime=0)


def report_objects(
    rows: list[dict[str, Any]],
    *,
    bucket: str = "src",
    prefix: str = CONFIG,
    when: datetime = WHEN,
    schema: str = SCHEMA,
    files: int = 1,
    fmt: str = "CSV",
    checksum: bool = True,
    manifest_edit: Any = None,
    level: int = 6,
) -> dict[str, bytes]:
    """The objects of one report in AWS's layout, keyed by their key in the destination bucket:
    ``<prefix>data/<uuid>.csv.gz`` files and ``<prefix><YYYY-MM-DDTHH-MMZ>/manifest.json``
    (+ ``manifest.checksum``). ``manifest_edit(doc)`` may change the manifest before it is
    written."""
    out: dict[str, bytes] = {}
    entries = []
    per = max(1, -(-len(rows) // files))
    for i in range(files):
        data = csv_gz(rows[i * per : (i + 1) * per], schema, bucket, level)
        key = f"{prefix}data/{uuid.uuid4()}.csv.gz"
        out[key] = data
        entries.append(
            {"key": key, "size": len(data), "MD5checksum": hashlib.md5(data).hexdigest()}
        )
    doc: dict[str, Any] = {
        "sourceBucket": bucket,
        "destinationBucket": "arn:aws:s3:::dest",
        "version": "2016-11-30",
        "creationTimestamp": str(int(when.timestamp() * 1000)),
        "fileFormat": fmt,
        "fileSchema": schema,
        "files": entries,
    }
    if manifest_edit is not None:
        manifest_edit(doc)
    body = json.dumps(doc).encode()
    folder = f"{prefix}{when.strftime('%Y-%m-%dT%H-%MZ')}/"
    out[folder + "manifest.json"] = body
    if checksum:
        out[folder + "manifest.checksum"] = hashlib.md5(body).hexdigest().encode()
    return out


def write_dir(root: Path, objects: Mapping[str, bytes]) -> DirReportSource:
    for key, data in objects.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return DirReportSource(root, CONFIG)


def rows_of(keys: Iterable[str], t: datetime = WHEN) -> list[dict[str, Any]]:
    return [
        {
            "Key": k,
            "Size": len(k),
            "ETag": hashlib.md5(k.encode()).hexdigest(),
            "LastModifiedDate": aws_time(t),
        }
        for k in keys
    ]


def read_all(source: DirReportSource, under: str = "bk/") -> list[tuple[str, int, str, str]]:
    return list(iter_rows(newest_report(source, "src"), source, under))


# ----------------------------------------------------------------------------- good reports


def test_rows_are_decoded_filtered_to_the_prefix_and_span_files(tmp_path: Path) -> None:
    keys = [
        "bk/app/20261120T000000Z/a b+c%.bin",
        "bk/app/20261120T000000Z/manifest.json",
        "other/x",
        "bk/é/ü.txt",
    ]
    source = write_dir(tmp_path, report_objects(rows_of(keys), files=3))
    rows = read_all(source)
    assert [r[0] for r in rows] == [
        "app/20261120T000000Z/a b+c%.bin",
        "app/20261120T000000Z/manifest.json",
        "é/ü.txt",
    ]
    first = rows[0]
    assert first[1] == len(keys[0]) and first[2] == hashlib.md5(keys[0].encode()).hexdigest()
    assert first[3] == "2026-11-23T02:00:00.000Z"


def test_the_newest_report_folder_is_used_and_one_in_progress_is_passed_over(
    tmp_path: Path,
) -> None:
    write_dir(tmp_path, report_objects(rows_of(["bk/old"]), when=WHEN - timedelta(days=1)))
    write_dir(tmp_path, report_objects(rows_of(["bk/new"])))
    # a newer folder whose manifest.json is not written yet (AWS writes it last)
    (tmp_path / CONFIG / "2026-11-24T02-00Z").mkdir()
    source = DirReportSource(tmp_path, CONFIG)
    report = newest_report(source, "src")
    assert report.time == WHEN
    assert [r[0] for r in iter_rows(report, source, "bk/")] == ["new"]


def test_report_time_is_the_earlier_of_folder_and_creation_timestamp(tmp_path: Path) -> None:
    earlier = WHEN - timedelta(hours=3)

    def edit(doc: dict[str, Any]) -> None:
        doc["creationTimestamp"] = str(int(earlier.timestamp() * 1000))

    source = write_dir(tmp_path, report_objects(rows_of(["bk/x"]), manifest_edit=edit))
    assert newest_report(source, "src").time == earlier


def test_versioned_rows_keep_only_current_objects(tmp_path: Path) -> None:
    rows = [
        {
            "Key": "bk/a",
            "VersionId": "3",
            "IsLatest": "true",
            "IsDeleteMarker": "false",
            "Size": 1,
            "ETag": "e1",
            "LastModifiedDate": aws_time(WHEN),
        },
        {
            "Key": "bk/a",
            "VersionId": "2",
            "IsLatest": "false",
            "IsDeleteMarker": "false",
            "Size": 9,
            "ETag": "e0",
            "LastModifiedDate": aws_time(WHEN),
        },
        {
            "Key": "bk/gone",
            "VersionId": "5",
            "IsLatest": "true",
            "IsDeleteMarker": "true",
            "Size": None,
            "ETag": None,
            "LastModifiedDate": aws_time(WHEN),
        },
        {
            "Key": "bk/gone",
            "VersionId": "4",
            "IsLatest": "false",
            "IsDeleteMarker": "false",
            "Size": 7,
            "ETag": "e7",
            "LastModifiedDate": aws_time(WHEN),
        },
    ]
    source = write_dir(tmp_path, report_objects(rows, schema=VERSIONED_SCHEMA))
    assert [(r[0], r[1], r[2]) for r in read_all(source)] == [("a", 1, "e1")]


# ----------------------------------------------------------------------------- bad reports


def expect_error(source: DirReportSource, *fragments: str) -> str:
    with pytest.raises(InventoryError) as info:
        read_all(source)
    msg = str(info.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, msg
    return msg


def test_a_data_file_with_a_wrong_md5_is_refused_naming_it(tmp_path: Path) -> None:
    objects = report_objects(rows_of(["bk/a", "bk/b"]), level=0)
    data_key = next(k for k in objects if k.endswith(".csv.gz"))
    forged = csv_gz(rows_of(["bk/a", "bk/c"]), SCHEMA, "src", level=0)
    assert len(forged) == len(objects[data_key])  # same size, other bytes: only the MD5 tells
    objects[data_key] = forged
    expect_error(write_dir(tmp_path, objects), data_key, "MD5", "MD5checksum")


def test_a_swapped_data_file_of_another_size_is_refused(tmp_path: Path) -> None:
    objects = report_objects(rows_of(["bk/a"]))
    data_key = next(k for k in objects if k.endswith(".csv.gz"))
    objects[data_key] = csv_gz(rows_of(["bk/a", "bk/b", "bk/c"]), SCHEMA, "src")
    expect_error(write_dir(tmp_path, objects), data_key, "manifest.json")


def test_a_truncated_gzip_is_refused(tmp_path: Path) -> None:
    objects = report_objects(rows_of([f"bk/k{i}" for i in range(200)]))
    data_key = next(k for k in objects if k.endswith(".csv.gz"))
    cut = objects[data_key][:-20]

    def edit(doc: dict[str, Any]) -> None:  # the manifest agrees with the cut file
        doc["files"] = [
            {"key": data_key, "size": len(cut), "MD5checksum": hashlib.md5(cut).hexdigest()}
        ]

    objects = {
        k: v for k, v in report_objects([], manifest_edit=edit).items() if not k.endswith(".csv.gz")
    }
    objects[data_key] = cut
    expect_error(write_dir(tmp_path, objects), data_key, "unreadable")


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: d.update(fileSchema="Bucket, Size, ETag"), "no Key field"),
        (lambda d: d.update(fileSchema="Bucket, Key, ETag"), "no Size field"),
        (lambda d: d.update(fileFormat="ORC"), "fileFormat 'ORC'"),
        (lambda d: d.update(sourceBucket="someone-else"), "not the store's bucket"),
        (lambda d: d.update(creationTimestamp="yesterday"), "creationTimestamp"),
        (lambda d: d["files"][0].update(key="elsewhere/data/x.csv.gz"), "not a data file inside"),
        (lambda d: d["files"][0].update(key=CONFIG + "data/../../../etc"), "not a data file"),
        (lambda d: d["files"][0].update(MD5checksum="zz"), "MD5checksum"),
        (lambda d: d["files"][0].update(size=-1), "size -1"),
        (lambda d: d.update(files=[]), "files"),
        (lambda d: d.update(fileSchema="Key, Key, Size"), "repeated"),
    ],
)
def test_a_bad_manifest_is_refused_naming_it(tmp_path: Path, edit: Any, fragment: str) -> None:
    source = write_dir(tmp_path, report_objects(rows_of(["bk/a"]), manifest_edit=edit))
    msg = expect_error(source, fragment, "manifest.json")
    assert "the report is not used" in msg


def test_garbage_and_oversized_manifests_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / CONFIG / "2026-11-23T02-00Z"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_bytes(b"\xff{not json")
    source = DirReportSource(tmp_path, CONFIG)
    expect_error(source, "manifest.json", "not UTF-8")
    (folder / "manifest.json").write_bytes(b" " * (MAX_MANIFEST_JSON + 1))
    expect_error(source, "manifest.json", "more than")


def test_a_manifest_not_matching_its_checksum_is_refused(tmp_path: Path) -> None:
    objects = report_objects(rows_of(["bk/a"]))
    key = next(k for k in objects if k.endswith("manifest.checksum"))
    objects[key] = b"0" * 32
    expect_error(write_dir(tmp_path, objects), "manifest.checksum")


def test_no_report_names_what_store_inventory_must_point_at(tmp_path: Path) -> None:
    expect_error(DirReportSource(tmp_path, CONFIG), "no S3 Inventory report", "<config id>")


def test_a_row_of_the_wrong_width_or_size_is_refused(tmp_path: Path) -> None:
    # a data file whose rows have 2 fields under a 3-field schema
    data = gzip.compress(b'"src","bk/a"\n')

    def edit(doc: dict[str, Any]) -> None:
        doc["files"] = [
            {
                "key": CONFIG + "data/w.csv.gz",
                "size": len(data),
                "MD5checksum": hashlib.md5(data).hexdigest(),
            }
        ]

    objects = report_objects([], schema="Bucket, Key, Size", manifest_edit=edit)
    objects[CONFIG + "data/w.csv.gz"] = data
    expect_error(write_dir(tmp_path, objects), "row 1", "2 fields")
    bad_size = report_objects(
        [{"Key": "bk/a", "Size": "12e3", "ETag": "x", "LastModifiedDate": ""}]
    )
    expect_error(write_dir(tmp_path / "b", bad_size), "size '12e3'")


def test_the_parquet_format_without_pyarrow_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import fails as if absent
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    source = write_dir(
        tmp_path,
        report_objects(rows_of(["bk/a"]), fmt="Parquet", schema="message s3.inventory { }"),
    )
    expect_error(source, "pyarrow", "backupctl[inventory]")


def test_parquet_reports_are_read_through_pyarrow(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "bucket": ["src"] * 4,
            "key": ["bk/a b+c", "bk/a b+c", "bk/dm", "other/x"],
            "version_id": ["2", "1", "3", "4"],
            "is_latest": [True, False, True, True],
            "is_delete_marker": [False, False, True, False],
            "size": [5, 9, None, 1],
            "last_modified_date": [WHEN] * 4,
            "e_tag": ["e5", "e9", None, "e1"],
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    data = buf.getvalue()
    key = CONFIG + "data/p.parquet"

    def edit(doc: dict[str, Any]) -> None:
        doc["files"] = [
            {"key": key, "size": len(data), "MD5checksum": hashlib.md5(data).hexdigest()}
        ]

    objects = report_objects(
        [], fmt="Parquet", schema="message s3.inventory { }", manifest_edit=edit
    )
    objects[key] = data
    rows = read_all(write_dir(tmp_path, objects))
    assert rows == [("a b+c", 5, "e5", WHEN.isoformat())]  # not URL-decoded: Parquet keys are raw


# ----------------------------------------------------------------------------- fuzz

_KEYS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
    min_size=1,
    max_size=40,
)


@given(keys=st.lists(_KEYS, max_size=20), sizes=st.lists(st.integers(0, 2**40), max_size=20))
def test_csv_rows_round_trip_any_key(keys: list[str], sizes: list[int]) -> None:
    """Whatever the key (quotes, commas, newlines, '%', '+', unicode), a report written as AWS
    does reads back exactly."""
    import tempfile

    rows = [
        {"Key": "bk/" + k, "Size": s, "ETag": "e", "LastModifiedDate": aws_time(WHEN)}
        for k, s in zip(keys, sizes, strict=False)
    ]
    with tempfile.TemporaryDirectory() as d:
        source = write_dir(Path(d), report_objects(rows, files=2))
        got = read_all(source)
    assert [(r[0], r[1]) for r in got] == [(r["Key"][3:], r["Size"]) for r in rows]


@given(blob=st.binary(max_size=300))
def test_garbage_data_files_are_an_inventory_error(blob: bytes) -> None:
    """Any bytes as a data file (with a matching MD5, so the parser sees them): rows or one
    InventoryError, never another exception."""
    import tempfile

    def edit(doc: dict[str, Any]) -> None:
        doc["files"] = [
            {
                "key": CONFIG + "data/g.csv.gz",
                "size": len(blob),
                "MD5checksum": hashlib.md5(blob).hexdigest(),
            }
        ]

    objects = report_objects([], manifest_edit=edit)
    objects[CONFIG + "data/g.csv.gz"] = blob
    with tempfile.TemporaryDirectory() as d:
        source = write_dir(Path(d), objects)
        try:
            read_all(source)
        except InventoryError as exc:
            assert "g.csv.gz" in str(exc)


# ----------------------------------------------------------------------------- the store


def _config(**store: Any) -> Any:
    from backupctl.config import parse_config

    settings = {"url": "s3://src/bk", "inventory": "s3://dest/inv/src/daily/", **store}
    return parse_config(
        {
            "timezone": "UTC",
            "store": {k: v for k, v in settings.items() if v is not None},
            "cache": {"enabled": False},
            "policy": [{"name": "app", "keep_last": 3}, {"name": "db", "keep_last": 3}],
        }
    )


def test_open_store_plans_from_the_inventory_only_for_s3_and_never_with_folders() -> None:
    from backupctl.errors import ConfigError
    from backupctl.stores.inventory import InventoryS3Store
    from backupctl.stores.registry import open_store
    from backupctl.stores.s3 import S3Store

    store = open_store(_config(), planning=True)
    assert isinstance(store, InventoryS3Store)
    assert type(open_store(_config())) is S3Store  # verify, proof, drill: a live listing
    assert (store.source.bucket, store.source.prefix) == ("dest", "inv/src/daily/")
    plain = open_store(_config(inventory=None))
    assert type(plain) is S3Store
    with pytest.raises(ConfigError, match=r"store\.inventory.*s3:// store\.url"):
        open_store(_config(url="file:///tmp/x"), planning=True)
    with pytest.raises(ConfigError, match=r"store\.listing = 'folders' cannot go with it"):
        open_store(_config(listing="folders"), planning=True)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "{group}/{time}/",
            [("app/", "app/20261122T020000Z/"), ("db/", "db/20261122T020000Z/")],
        ),
        (
            "backups/{time:%Y-%m-%dT%H%M}-{group}/",
            [("backups/", "backups/2026-11-22T0200-app/")],  # the earlier of the two groups
        ),
        ("{group}/{time:%d-%m-%Y}/", []),  # names that do not sort by time: not listed live
    ],
)
def test_the_keys_named_since_the_report_are_ranges_per_group(
    template: str, expected: list[tuple[str, str]]
) -> None:
    from backupctl.stores.inventory import InventoryS3Store

    store = InventoryS3Store(_config(key_template=template))
    ranges = store.since_ranges(WHEN)
    assert ranges[: len(expected)] == expected
    assert len(ranges) == (0 if not expected else 2)
