"""Planning from an S3 Inventory report instead of listing the bucket (``store.inventory``).

Two jobs, kept apart:

* **Reading a report** (:func:`newest_report`, :func:`iter_rows`): the newest report of one
  inventory configuration, in AWS's format::

      <destination prefix>/<source bucket>/<config id>/YYYY-MM-DDTHH-MMZ/manifest.json
      <destination prefix>/<source bucket>/<config id>/YYYY-MM-DDTHH-MMZ/manifest.checksum
      <destination prefix>/<source bucket>/<config id>/data/<uuid>.csv.gz

  ``store.inventory`` names the ``<config id>/`` folder. The report is hostile input: the
  manifest is read with bounds and validated (bucket, format, schema with ``Key`` and
  ``Size``, every data file inside the configuration's folder, with a size and an MD5), each
  data file is streamed (gzip CSV, O(1) memory per row; Parquet through pyarrow, the
  ``backupctl[inventory]`` extra) and its MD5 and size are checked as it is read. Anything
  wrong is one :class:`InventoryError` naming the object, and nothing is planned from it.

* **Planning from it** (:class:`InventoryS3Store`): an :class:`~backupctl.stores.s3.S3Store`
  whose listing is the report's rows (same classification: the layout's scanner, the same
  manifest reads, with the cache when the report's ETag matches), overlaid with a live listing
  of the keys named since one day before the report (new snapshots are seen), and whose
  delete first lists every snapshot it is handed and deletes only those whose live keys are
  exactly the report's (name, size, ETag): a key new or gone since the report keeps the
  snapshot, reported as failed. See docs/stores.md, "Planning from S3 Inventory", for why a
  stale report can only make a plan keep more.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol
from urllib.parse import unquote_plus

from botocore.exceptions import BotoCoreError, ClientError

from backupctl import clock, untrusted
from backupctl.config import Config
from backupctl.errors import ConfigError, SafetyRefusal, StoreError
from backupctl.log import get_logger
from backupctl.stores.base import DIGEST_MASK, DeleteReport, FolderFacts, Listing, StoredSnapshot
from backupctl.stores.layout import (
    MANIFEST,
    MAX_OBJECT_SIZE,
    DigestScanner,
    FolderAgg,
    FolderScanner,
    build_listing,
)
from backupctl.stores.s3 import S3Store, s3_error
from backupctl.stores.s3client import split_s3_url
from retention.duration import add_duration

__all__ = [
    "DirReportSource",
    "InventoryError",
    "InventoryFile",
    "InventoryReport",
    "InventoryS3Store",
    "ReportSource",
    "S3ReportSource",
    "iter_rows",
    "newest_report",
    "parse_report_manifest",
]

log = get_logger("stores.inventory")

MAX_MANIFEST_JSON = 16 << 20  # a manifest.json larger than this is refused unread
MAX_FILES = 100_000  # data files one report may name
MAX_DATA_FILE = 1 << 40  # 1 TiB: far beyond what AWS writes per data file
MAX_SCHEMA_FIELDS = 64
MAX_REPORT_FOLDERS = 100_000  # entries of the configuration folder looked at
MAX_KEY_CHARS = 4096  # an S3 key is at most 1024 bytes; URL-encoded at most 3x that
REPORTS_TRIED = 3  # newest report folders tried for a manifest.json (one may be in progress)
SINCE_MARGIN = timedelta(days=1)  # snapshots named this long before the report: listed live
CHUNK_FOLDERS = 5_000  # folders whose manifests are read and listed at a time
FORMATS = ("CSV", "Parquet")
EXTRA = "backupctl[inventory]"
_REPORT_FOLDER = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2})-([0-9]{2})Z/")
_MD5 = re.compile(r"[0-9a-f]{32}")
_CHUNK = 1 << 20
# Parquet's column names for the CSV schema's fields (AWS writes snake_case there)
_PARQUET_NAMES = {
    "bucket": "Bucket",
    "key": "Key",
    "size": "Size",
    "last_modified_date": "LastModifiedDate",
    "e_tag": "ETag",
    "is_latest": "IsLatest",
    "is_delete_marker": "IsDeleteMarker",
}

Row = tuple[str, int, str, str]  # (key relative to the store prefix, size, ETag, LastModified)


class InventoryError(StoreError):
    """An S3 Inventory report that cannot be used; the message names the object (exit 1)."""


# ----------------------------------------------------------------------------- report sources


class ReportSource(Protocol):
    """Where reports are read from: the configuration folder of one inventory (``prefix``,
    ending in '/') in a bucket, or a local directory with the same layout (bench, tests)."""

    prefix: str

    def where(self, key: str) -> str:
        """How ``key`` (relative to the bucket) is shown to a person: its URL."""
        ...

    def entries(self) -> list[str]:
        """The names (ending in '/') of the folders directly under ``prefix``, at most
        :data:`MAX_REPORT_FOLDERS`.

        Raises:
            InventoryError: they cannot be listed.
        """
        ...

    def read(self, key: str, limit: int) -> bytes | None:
        """At most ``limit + 1`` bytes of ``key``; None when it does not exist.

        Raises:
            InventoryError: it cannot be read.
        """
        ...

    def open(self, key: str) -> IO[bytes]:
        """``key``'s bytes as a stream (``read(n)``).

        Raises:
            InventoryError: it cannot be opened.
        """
        ...


class S3ReportSource:
    """Reports in ``s3://bucket/prefix`` (the configuration folder), read with ``client``."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def entries(self) -> list[str]:
        out: list[str] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"
        )
        try:
            for page in pages:
                for cp in page.get("CommonPrefixes", ()):
                    out.append(str(cp["Prefix"])[len(self.prefix) :])
                if len(out) >= MAX_REPORT_FOLDERS:
                    break
        except (ClientError, BotoCoreError) as exc:
            raise InventoryError(
                f"{self.where(self.prefix)}: listing the inventory reports failed: {s3_error(exc)}"
            ) from None
        return out[:MAX_REPORT_FOLDERS]

    def read(self, key: str, limit: int) -> bytes | None:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key)
            data: bytes = resp["Body"].read(limit + 1)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise InventoryError(f"{self.where(key)}: {s3_error(exc)}") from None
        except BotoCoreError as exc:
            raise InventoryError(f"{self.where(key)}: {s3_error(exc)}") from None
        return data

    def open(self, key: str) -> IO[bytes]:
        try:
            body: IO[bytes] = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise InventoryError(f"{self.where(key)}: {s3_error(exc)}") from None
        return body


class DirReportSource:
    """Reports in a local directory laid out as the destination bucket (``root``), the same
    reader as S3's: for the benchmark and tests. Keys never leave ``root``."""

    def __init__(self, root: Path, prefix: str) -> None:
        self.root, self.prefix = root, prefix

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise InventoryError(f"{self.where(key)}: outside the report directory")
        return path

    def where(self, key: str) -> str:
        return f"file://{self.root / key}"

    def entries(self) -> list[str]:
        folder = self._path(self.prefix)
        if not folder.is_dir():
            return []
        return sorted(p.name + "/" for p in folder.iterdir() if p.is_dir())[:MAX_REPORT_FOLDERS]

    def read(self, key: str, limit: int) -> bytes | None:
        try:
            with open(self._path(key), "rb") as f:
                return f.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InventoryError(f"{self.where(key)}: {exc.strerror or exc}") from None

    def open(self, key: str) -> IO[bytes]:
        try:
            return open(self._path(key), "rb")
        except OSError as exc:
            raise InventoryError(f"{self.where(key)}: {exc.strerror or exc}") from None


# ----------------------------------------------------------------------------- the manifest


@dataclass(frozen=True)
class InventoryFile:
    """One data file of a report: its key in the destination bucket, size and MD5 (hex)."""

    key: str
    size: int
    md5: str


@dataclass(frozen=True)
class InventoryReport:
    """A validated report: where its manifest is, the bucket it lists, when its scan began
    (``time``: the earlier of the folder's name and ``creationTimestamp``), its format, the
    fields of a CSV row (``schema``) and its data files."""

    manifest: str
    source_bucket: str
    time: datetime
    file_format: str
    schema: tuple[str, ...]
    files: tuple[InventoryFile, ...]


def _report_folder_time(name: str) -> datetime | None:
    """``2026-11-23T02-00Z/`` -> its UTC time, or None when it is no report folder."""
    m = _REPORT_FOLDER.fullmatch(name)
    if m is None:
        return None
    try:
        y, mo, d, h, mi = (int(g) for g in m.groups())
        return datetime(y, mo, d, h, mi, tzinfo=UTC)
    except ValueError:
        return None


def parse_report_manifest(
    data: bytes, where: str, prefix: str, bucket: str, folder_time: datetime
) -> InventoryReport:
    """Validate a report's manifest.json.

    Args:
        data: its bytes (at most :data:`MAX_MANIFEST_JSON`).
        where: its URL, for messages; ``prefix``: the configuration folder (every data file
            must be inside it); ``bucket``: the store's bucket (the report must list it);
        folder_time: the time in the report folder's name.

    Raises:
        InventoryError: naming ``where`` and what is wrong.
    """

    def bad(why: str) -> InventoryError:
        return InventoryError(f"{where}: {why}; the report is not used")

    try:
        doc = untrusted.loads(data, "manifest.json", max_bytes=MAX_MANIFEST_JSON)
    except untrusted.UntrustedInput as exc:
        raise bad(str(exc)) from None
    if not isinstance(doc, dict):
        raise bad("expected a JSON object")
    source = doc.get("sourceBucket")
    if source != bucket:
        raise bad(f"sourceBucket {source!r} is not the store's bucket {bucket!r}")
    fmt = doc.get("fileFormat")
    if fmt not in FORMATS:
        raise bad(f"fileFormat {fmt!r}: expected one of {', '.join(FORMATS)}")
    created = doc.get("creationTimestamp")
    if not isinstance(created, str | int) or isinstance(created, bool):
        raise bad(f"creationTimestamp {created!r}: expected milliseconds since 1970")
    text = str(created)
    if not text.isdigit() or len(text) > 15:
        raise bad(f"creationTimestamp {created!r}: expected milliseconds since 1970")
    created_t = datetime.fromtimestamp(int(text) / 1000, UTC)
    schema_text = doc.get("fileSchema")
    if not isinstance(schema_text, str) or len(schema_text) > 64 * MAX_SCHEMA_FIELDS:
        raise bad("fileSchema: expected a string of field names")
    schema: tuple[str, ...] = ()
    if fmt == "CSV":
        schema = tuple(f.strip() for f in schema_text.split(","))
        if len(schema) > MAX_SCHEMA_FIELDS or len(set(schema)) != len(schema):
            raise bad(f"fileSchema {schema_text[:200]!r}: too many or repeated fields")
        missing = [f for f in ("Key", "Size") if f not in schema]
        if missing:
            raise bad(f"fileSchema {schema_text[:200]!r} has no {' or '.join(missing)} field")
    files = doc.get("files")
    if not isinstance(files, list) or not files or len(files) > MAX_FILES:
        raise bad(f"files: expected a list of 1 to {MAX_FILES} data files")
    out: list[InventoryFile] = []
    for i, f in enumerate(files):
        if not isinstance(f, dict):
            raise bad(f"files[{i}]: expected an object {{key, size, MD5checksum}}")
        key, size, md5 = f.get("key"), f.get("size"), f.get("MD5checksum")
        if (
            not isinstance(key, str)
            or not key.startswith(prefix)
            or len(key) > MAX_KEY_CHARS
            or any(p in ("", ".", "..") for p in key[len(prefix) :].split("/"))
        ):
            raise bad(f"files[{i}]: key {key!r} is not a data file inside {prefix!r}")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_DATA_FILE:
            raise bad(f"files[{i}] ({key}): size {size!r} must be 0 to {MAX_DATA_FILE} bytes")
        if not isinstance(md5, str) or not _MD5.fullmatch(md5.lower()):
            raise bad(f"files[{i}] ({key}): MD5checksum {md5!r} must be 32 hex digits")
        out.append(InventoryFile(key, size, md5.lower()))
    return InventoryReport(
        manifest=where,
        source_bucket=bucket,
        time=min(folder_time, created_t),
        file_format=fmt,
        schema=schema,
        files=tuple(out),
    )


def newest_report(source: ReportSource, bucket: str) -> InventoryReport:
    """The newest complete report under ``source``: the report folders
    (``YYYY-MM-DDTHH-MMZ/``) newest first, the first with a manifest.json (AWS writes it after
    the data files; up to :data:`REPORTS_TRIED` folders are tried), validated, and checked
    against its ``manifest.checksum`` when there is one.

    Raises:
        InventoryError: no report, or the newest one is bad (naming it).
    """
    folders = sorted(
        ((t, name) for name in source.entries() if (t := _report_folder_time(name)) is not None),
        reverse=True,
    )
    if not folders:
        raise InventoryError(
            f"{source.where(source.prefix)}: no S3 Inventory report found; store.inventory "
            "must name the folder of one inventory configuration, "
            "s3://<bucket>/<destination prefix>/<source bucket>/<config id>/, "
            "which holds YYYY-MM-DDTHH-MMZ/manifest.json"
        )
    for t, name in folders[:REPORTS_TRIED]:
        key = source.prefix + name + MANIFEST
        data = source.read(key, MAX_MANIFEST_JSON)
        if data is None:
            log.info("inventory report without manifest.json (in progress?)", folder=name)
            continue
        if len(data) > MAX_MANIFEST_JSON:
            raise InventoryError(
                f"{source.where(key)}: more than {MAX_MANIFEST_JSON} bytes; the report is not used"
            )
        checksum = source.read(source.prefix + name + "manifest.checksum", 64)
        if checksum is not None:
            want = checksum.decode("ascii", "replace").strip().lower()
            got = hashlib.md5(data).hexdigest()
            if want != got:
                raise InventoryError(
                    f"{source.where(key)}: MD5 {got} does not match manifest.checksum "
                    f"{want[:32]!r}; the report is not used"
                )
        return parse_report_manifest(data, source.where(key), source.prefix, bucket, t)
    raise InventoryError(
        f"{source.where(source.prefix)}: the newest {min(len(folders), REPORTS_TRIED)} report "
        "folder(s) hold no manifest.json"
    )


# ----------------------------------------------------------------------------- the rows


class _Checked:
    """A stream that counts and MD5-hashes what is read through it, refusing more than
    ``limit`` bytes."""

    def __init__(self, raw: IO[bytes], limit: int, where: str) -> None:
        self.raw, self.limit, self.where = raw, limit, where
        self.md5 = hashlib.md5()
        self.n = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size is not None and size >= 0 else _CHUNK)
        self.n += len(data)
        if self.n > self.limit:
            raise InventoryError(
                f"{self.where}: more bytes than the {self.limit} manifest.json names; "
                "the report is not used"
            )
        self.md5.update(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def iter_rows(report: InventoryReport, source: ReportSource, under: str) -> Iterator[Row]:
    """Every current object of the report whose key is under ``under`` (the store's prefix):
    ``(key relative to it, size, ETag without quotes, LastModified text)``. Rows of older
    versions (``IsLatest`` false) and delete markers are skipped; CSV keys are URL-decoded.
    Each data file's size and MD5 are checked as it is read (a bad one raises at its end:
    nothing may be acted on before the generator is exhausted).

    Raises:
        InventoryError: a data file cannot be read, is not gzip/CSV (or Parquet), has a row
            that does not fit the schema, or has the wrong size or MD5; naming the file.
    """
    for f in report.files:
        where = source.where(f.key)
        checked = _Checked(source.open(f.key), f.size, where)
        try:
            if report.file_format == "CSV":
                yield from _csv_rows(checked, report, under, where)
            else:
                yield from _parquet_rows(checked, report, under, where)
            checked.drain()
        except InventoryError:
            raise
        except (EOFError, OSError, zlib.error, csv.Error, UnicodeDecodeError) as exc:
            raise InventoryError(
                f"{where}: unreadable ({type(exc).__name__}: {exc}); the report is not used"
            ) from None
        except (ClientError, BotoCoreError) as exc:
            raise InventoryError(f"{where}: {s3_error(exc)}; the report is not used") from None
        finally:
            close = getattr(checked.raw, "close", None)
            if close is not None:
                close()
        if checked.n != f.size:
            raise InventoryError(
                f"{where}: {checked.n} bytes, manifest.json says {f.size}; the report is not used"
            )
        if checked.md5.hexdigest() != f.md5:
            raise InventoryError(
                f"{where}: MD5 {checked.md5.hexdigest()} does not match manifest.json's "
                f"MD5checksum {f.md5}; the report is not used"
            )


def _row_error(where: str, n: int, why: str) -> InventoryError:
    return InventoryError(f"{where}: row {n}: {why}; the report is not used")


def _csv_rows(stream: _Checked, report: InventoryReport, under: str, where: str) -> Iterator[Row]:
    """The rows of one gzip CSV data file (see :func:`iter_rows`)."""
    schema = report.schema
    width = len(schema)
    ik, isz = schema.index("Key"), schema.index("Size")
    ie = schema.index("ETag") if "ETag" in schema else -1
    im = schema.index("LastModifiedDate") if "LastModifiedDate" in schema else -1
    il = schema.index("IsLatest") if "IsLatest" in schema else -1
    idm = schema.index("IsDeleteMarker") if "IsDeleteMarker" in schema else -1
    ib = schema.index("Bucket") if "Bucket" in schema else -1
    bucket = report.source_bucket
    cut = len(under)
    text = io.TextIOWrapper(
        gzip.GzipFile(fileobj=stream, mode="rb"),  # type: ignore[call-overload]
        encoding="utf-8",
        newline="",
    )
    for n, row in enumerate(csv.reader(text), 1):
        if len(row) != width:
            raise _row_error(where, n, f"{len(row)} fields, the fileSchema names {width}")
        if (il >= 0 and row[il] != "true") or (idm >= 0 and row[idm] == "true"):
            continue  # an older version or a delete marker: not a current object
        if ib >= 0 and row[ib] != bucket:
            raise _row_error(where, n, f"bucket {row[ib][:100]!r} is not {bucket!r}")
        key = row[ik]
        if len(key) > MAX_KEY_CHARS:
            raise _row_error(where, n, f"a key of {len(key)} characters")
        if "%" in key or "+" in key:
            key = unquote_plus(key, errors="strict")
        if not key.startswith(under):
            continue
        sz = row[isz]
        if not sz.isdigit() or len(sz) > 16 or int(sz) > MAX_OBJECT_SIZE:
            raise _row_error(where, n, f"size {sz[:20]!r} of {key[:200]!r} is no byte count")
        yield (
            key[cut:],
            int(sz),
            row[ie] if ie >= 0 else "",
            row[im] if im >= 0 else "",
        )


def _parquet_rows(
    stream: _Checked, report: InventoryReport, under: str, where: str
) -> Iterator[Row]:
    """The rows of one Parquet data file, through pyarrow (the ``backupctl[inventory]``
    extra): the file is spooled to a temporary file (Parquet needs to seek), then read in
    record batches of the columns backupctl uses. Keys in Parquet are not URL-encoded."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InventoryError(
            f"{where}: a Parquet report needs pyarrow: pip install '{EXTRA}' "
            "(or configure the inventory with the CSV format)"
        ) from None
    with tempfile.TemporaryFile() as spool:
        while chunk := stream.read(_CHUNK):
            spool.write(chunk)
        spool.seek(0)
        pf = pq.ParquetFile(spool)
        names = {c: _PARQUET_NAMES[c] for c in pf.schema_arrow.names if c in _PARQUET_NAMES}
        if "Key" not in names.values() or "Size" not in names.values():
            raise InventoryError(f"{where}: no key or size column; the report is not used")
        cut = len(under)
        n = 0
        for batch in pf.iter_batches(columns=list(names)):
            cols = {names[c]: batch.column(c).to_pylist() for c in batch.schema.names}
            rows = batch.num_rows
            keys, sizes = cols["Key"], cols["Size"]
            latest = cols.get("IsLatest") or [True] * rows
            markers = cols.get("IsDeleteMarker") or [False] * rows
            etags = cols.get("ETag") or [""] * rows
            times = cols.get("LastModifiedDate") or [None] * rows
            for key, size, is_latest, marker, etag, modified in zip(
                keys, sizes, latest, markers, etags, times, strict=True
            ):
                n += 1
                if is_latest is False or marker is True:
                    continue  # an older version or a delete marker
                if not isinstance(key, str) or len(key) > MAX_KEY_CHARS:
                    raise _row_error(where, n, "a key that is no string of at most 4096")
                if not key.startswith(under):
                    continue
                if not isinstance(size, int) or not 0 <= size <= MAX_OBJECT_SIZE:
                    raise _row_error(where, n, f"size {size!r} of {key[:200]!r} is no byte count")
                yield (
                    key[cut:],
                    size,
                    str(etag or ""),
                    modified.isoformat() if isinstance(modified, datetime) else "",
                )


# ----------------------------------------------------------------------------- the store


def _etag(value: str) -> str:
    """An ETag without the quotes S3's API puts around it (the inventory has none)."""
    return value.strip('"')


@dataclass(slots=True)
class _ReportAgg(FolderAgg):
    """A folder as the report shows it: also the digest of (name, size, ETag) of its keys
    (``strict``, to confirm the folder live before deleting it), manifest.json's ETag
    (``etag``, quoted as S3's API gives it, for the manifest cache) and the newest
    LastModified (``newest``, ISO text)."""

    strict: int = 0
    etag: str = ""
    newest: str = ""


@dataclass
class _ReportScanner(DigestScanner):
    """The layout's :class:`DigestScanner` fed with rows, aggregating in :class:`_ReportAgg`."""

    agg_type: ClassVar[type[FolderAgg]] = _ReportAgg

    def add_row(self, key: str, size: int, etag: str, modified: str) -> None:
        """Account one row; a key right after another of the same folder skips the template
        match (the config's layout checks make the folder a key starts with its only one)."""
        last = self._last
        agg = self.folders.get(last) if last and not self.template.single else None
        if agg is not None and key.startswith(last):
            self.total += 1
            rest = key[len(last) :]
            agg.count(rest, size)
            agg.fold(rest, size)
        else:
            self.add(key, size)
            folder = self._last
            agg = self.folders.get(folder) if folder and key.startswith(folder) else None
            if agg is None or (self.template.single and key != folder):
                return
            rest = key[len(folder) :]
        assert isinstance(agg, _ReportAgg)
        if rest == MANIFEST:
            agg.etag = f'"{etag}"' if etag else ""
        agg.strict = (agg.strict + hash((rest, size, etag))) & DIGEST_MASK
        if modified > agg.newest:
            agg.newest = modified


def _report_agg(agg: FolderAgg) -> _ReportAgg:
    assert isinstance(agg, _ReportAgg)  # every folder of a _ReportScanner
    return agg


def _with_count(digest: int, count: int) -> int:
    """A folder's digest of (name, size, ETag) sums with its key count folded in."""
    return (digest + count * 0x9E3779B97F4A7C15) & DIGEST_MASK


def _parse_modified(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


class InventoryS3Store(S3Store):
    """An S3 store planned from the newest S3 Inventory report of ``store.inventory``.

    ``listing()`` reads the report instead of ListObjectsV2 over the whole prefix (plus a live
    listing of what was named since one day before the report, per group, where the key
    template's names sort by time); ``delete()`` deletes only snapshots whose folder, listed
    live just before, holds exactly what the report said. Everything else is
    :class:`S3Store`'s."""

    def __init__(
        self,
        config: Config,
        client: Any | None = None,
        workers: int = 8,
        source: ReportSource | None = None,
    ) -> None:
        """Build from a config whose ``store.inventory`` is set; ``source`` overrides where
        reports are read (tests, bench: a :class:`DirReportSource`); the default reads the
        ``store.inventory`` URL with the store's client (same endpoint and credentials).

        Raises:
            ConfigError: no ``store.inventory``, or ``store.listing = "folders"`` (the report
                replaces the listing), or the key template is unusable.
        """
        super().__init__(config, client, workers)
        url = config.store.inventory
        if source is None and not url:
            raise ConfigError(config.path, ["store.inventory: expected s3://bucket/prefix/"])
        if self.listing_prefixes is not None:
            raise ConfigError(
                config.path,
                [
                    "store.inventory: plans from a report instead of a listing; "
                    "store.listing = 'folders' cannot go with it (remove one)"
                ],
            )
        if source is None:
            assert url is not None
            bucket, prefix = split_s3_url(url)
            source = S3ReportSource(self.client, bucket, prefix)
        self.source = source
        self.report: InventoryReport | None = None  # the report the last listing read
        self._strict: dict[str, int] = {}  # id -> :func:`_with_count` digest of its folder

    # ----------------------------------------------------------------- listing

    def since_ranges(self, report_time: datetime) -> list[tuple[str, str]]:
        """``(prefix, start after)`` key ranges (relative to the store prefix) listed live:
        per group, the keys after the folder a snapshot named :data:`SINCE_MARGIN` before the
        report would have. Empty when the template's names do not sort by time (a format whose
        fields are not in %Y %m %d %H %M %S order): new snapshots are then not seen, which
        only makes the plan keep more (docs/stores.md)."""
        t = self.template
        if t.time_format is not None:
            order = re.findall(r"%([YmdHMS])", t.time_format)
            if order != ["Y", "m", "d", "H", "M", "S"][: len(order)]:
                return []
        start = report_time - SINCE_MARGIN
        ranges = set()
        for g in sorted(self.groups):
            text = t.text.replace("{group}", g)
            head = re.split(r"\{time(?::[^{}]*)?\}", text, maxsplit=1)[0]
            ranges.add((head, t.folder(g, start)))
        return sorted(ranges)

    def listing(self) -> Listing:
        """The report's snapshots, incomplete snapshots and unknown keys, as
        :meth:`ManifestStore.listing` classifies a listing, with the keys named since the
        report listed live.

        Raises:
            InventoryError: no usable report (naming the object); StoreError: the bucket
                cannot be listed or read.
            SafetyRefusal: the report began more than ``store.inventory_max_age`` ago.
        """
        mark = self.counter.mark()
        report = newest_report(self.source, self.bucket)
        now = clock.now()
        limit = self.config.store.inventory_max_age
        if report.time < limit.cutoff(now):
            raise SafetyRefusal(
                f"{report.manifest}: the newest S3 Inventory report began at "
                f"{report.time.isoformat()}, more than store.inventory_max_age = {limit} ago; "
                "planning from it could miss what changed since: fix the inventory's schedule, "
                "raise store.inventory_max_age, or remove store.inventory to list the bucket"
            )
        if report.time > add_duration(now, self.config.safety.clock_skew):
            raise InventoryError(
                f"{report.manifest}: the report claims to begin at {report.time.isoformat()}, "
                f"in the future (now {now.isoformat()}); the report is not used"
            )
        self.report = report
        ranges = self.since_ranges(report.time)
        scanner = _ReportScanner(self.template, self.groups)
        for key, size, etag, modified in iter_rows(report, self.source, self.prefix):
            if any(key.startswith(h) and key > s for h, s in ranges):
                continue  # listed live below
            scanner.add_row(key, size, etag, modified)
        seen: set[str] = set()
        for head, start in ranges:
            for key, size, etag, modified in self._live(head, start):
                if key not in seen:
                    seen.add(key)
                    scanner.add_row(key, size, etag, modified)
        # the journals are read live: the report's may be gone or new since
        journals = self._read_journals(self._journal_keys())
        keys_seen = scanner.total
        listing = self._build_in_chunks(scanner, journals)
        listing.keys_listed = 0  # no whole-prefix listing: resumed folders are listed one by one
        listing.requests = self.counter.since(mark)
        listing.source = {
            "kind": "s3-inventory",
            "report": report.manifest,
            "report_time": report.time.isoformat(),
            "listed_live_since": [s for _, s in ranges],  # per group: keys after these, live
        }
        log.info(
            "listed from S3 Inventory",
            url=self.url,
            report=report.manifest,
            report_time=report.time.isoformat(),
            keys=keys_seen,
            live_since=[s for _, s in ranges],
            snapshots=len(listing.snapshots),
            requests=listing.requests,
        )
        return listing

    def _build_in_chunks(self, scanner: _ReportScanner, journals: dict[str, set[str]]) -> Listing:
        """:func:`build_listing` of the scanner's folders, :data:`CHUNK_FOLDERS` at a time in
        (group, time) order (the order it sorts in), each chunk's manifests read just before
        and its aggregates dropped after, so the manifest reads and the aggregates are never
        all in memory together with the listing. As each chunk is built its snapshots get
        their ``written`` time (the newest LastModified of the folder), their
        :class:`FolderFacts` (``listing.folders``, for the delete) and the digest the delete
        confirms (``self._strict``), keyed by the snapshot's own id string."""
        tz = self.config.timezone
        base = FolderScanner(self.template, self.groups)
        base.unknown, base.name_notes = scanner.unknown, scanner.name_notes
        listing = build_listing(base, {}, tz, journals)
        self._strict = strict = {}
        facts = listing.folders
        # newest last, taken off the end a chunk at a time; the scanner's table is freed now
        # and each chunk's aggregates (with their folder names) once it is built
        pending = sorted(scanner.folders.values(), key=lambda a: (a.group, a.time), reverse=True)
        scanner.folders.clear()
        while pending:
            chunk = FolderScanner(self.template, self.groups)
            chunk.folders = {a.folder: a for a in reversed(pending[-CHUNK_FOLDERS:])}
            del pending[-CHUNK_FOLDERS:]
            by_id = {agg.id: f for f, agg in chunk.folders.items()}
            wanted = [f for f, agg in chunk.folders.items() if agg.has_manifest]
            tags = {f: e for f in wanted if (e := _report_agg(chunk.folders[f]).etag)}
            reads = self._read_manifests(wanted, tags)
            part = build_listing(chunk, dict(zip(wanted, reads, strict=True)), tz, journals)
            del reads
            for snap in part.snapshots:
                sid = snap.snapshot.id
                f = by_id[sid]
                agg = _report_agg(chunk.folders[f])
                if agg.has_manifest:
                    facts[sid] = FolderFacts(agg.objects, agg.digest, agg.manifest_size)
                strict[sid] = _with_count(agg.strict, agg.objects)
                t = _parse_modified(agg.newest)
                listing.snapshots.append(snap if t is None else replace(snap, written=t))
            listing.incomplete += part.incomplete
            listing.name_notes.update(part.name_notes)
        return listing

    def _live(self, head: str, start: str) -> Iterator[Row]:
        """Live rows of the keys under ``head`` after ``start`` (relative to the prefix)."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + head, StartAfter=self.prefix + start
        )
        with self._store_errors(
            f"listing s3://{self.bucket}/{self.prefix + head} since the report"
        ):
            for page in pages:
                for obj in page.get("Contents", ()):
                    modified = obj.get("LastModified")
                    yield (
                        str(obj["Key"])[len(self.prefix) :],
                        int(obj["Size"]),
                        _etag(str(obj.get("ETag", ""))),
                        modified.isoformat() if isinstance(modified, datetime) else "",
                    )

    # ----------------------------------------------------------------- delete

    def delete(
        self,
        snapshots: Sequence[StoredSnapshot],
        progress: Callable[[int], None] | None = None,
        listing: Listing | None = None,
    ) -> DeleteReport:
        """:meth:`S3Store.delete` of the complete snapshots whose folder, listed live now,
        holds exactly the keys the report (or the live listing since it) showed, with the same
        sizes and ETags. A folder with a key new or gone since then is not deleted: it is in
        ``failed`` with what changed. A folder that is empty now is left out (gone already).
        Held snapshots and interrupted deletions go on as :meth:`S3Store.delete` handles them.

        Raises:
            StoreError: as :meth:`S3Store.delete`.
        """
        mark = self.counter.mark()
        complete = [s for s in snapshots if s.status == "complete"]
        checks: list[str | None] = self._parallel(self._changed, complete)
        changed = {s.snapshot.id: why for s, why in zip(complete, checks, strict=True) if why}
        passed = [s for s in snapshots if s.snapshot.id not in changed]
        report = super().delete(passed, progress, listing)
        for sid, why in changed.items():
            if why != _GONE:
                report.failed[sid] = why
        report.requests = self.counter.since(mark)
        return report

    def _changed(self, snap: StoredSnapshot) -> str | None:
        """Why ``snap``'s folder differs live from what the listing saw (``_GONE``: it is
        empty), or None when it holds exactly that."""
        sid = snap.snapshot.id
        folder = self.prefix + self.folder(sid)
        expected = self._strict.get(sid)
        try:
            objs = self._live_folder(folder)
        except (ClientError, BotoCoreError) as exc:
            return f"listing {folder} to confirm it failed: {s3_error(exc)}; not deleted"
        if self.template.single:
            objs = [o for o in objs if o[0] == ""]
        if not objs:
            return _GONE
        digest = 0
        for rest, size, etag in objs:
            digest = (digest + hash((rest, size, etag))) & DIGEST_MASK
        if expected is not None and expected == _with_count(digest, len(objs)):
            return None
        when = self.report.time.isoformat() if self.report is not None else "the listing"
        return (
            f"{folder} changed since the S3 Inventory report of {when} (now {len(objs)} "
            "key(s), a key new, gone or rewritten since): not deleted; the next report "
            "(or a prune without store.inventory) decides"
        )

    def _live_folder(self, folder: str) -> list[tuple[str, int, str]]:
        """``(name relative to the folder, size, ETag)`` of every key under ``folder`` now."""
        out: list[tuple[str, int, str]] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder
        ):
            for o in page.get("Contents", ()):
                out.append(
                    (str(o["Key"])[len(folder) :], int(o["Size"]), _etag(str(o.get("ETag", ""))))
                )
        return out


_GONE = "\0gone"  # _changed: the folder is empty now (nothing to delete, not a failure)
