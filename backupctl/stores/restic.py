"""The restic store: a ``restic:<repository>`` URL, driven through the restic binary.

Every restic command runs through :mod:`backupctl.proc`. restic verifies its own data, so
snapshots carry no manifest; integrity is ``restic check --read-data-subset``, deletion is
``restic forget <ids>`` then one ``restic prune``, and restore is ``restic restore --verify``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from backupctl.clock import now
from backupctl.config import Config
from backupctl.errors import ConfigError, LockHeld, StoreError, UsageError
from backupctl.log import get_logger
from backupctl.proc import Completed, describe, run
from backupctl.stores.base import (
    BlobStore,
    DeleteReport,
    IntegrityProblem,
    Listing,
    RestoreOutcome,
    StoredSnapshot,
)
from backupctl.stores.restic_input import parse_restic_snapshots
from restore.protocol import ReferenceRefused, ReferenceRestore
from retention import group_key

__all__ = [
    "FORGET_CHUNK",
    "PruneFailed",
    "ResticStore",
    "classify",
    "parse_snapshots",
    "rotating_subset",
]

log = get_logger("stores.restic")

FORGET_CHUNK = 100  # ids per `restic forget` call: bounded command lines, few key derivations
_FULL_ID = re.compile(r"^[0-9a-f]{64}$")
_REFERENCE = re.compile(r"^(latest|[0-9a-f]{1,64})$")
_RESTORING = re.compile(
    r"^restoring <Snapshot ([0-9a-f]{8,64}) of ", re.M
)  # restic's Verbosef line
_SUBSET = re.compile(r"^(\d+(\.\d+)?%|\d+/\d+|\d+(\.\d+)?[KMGT]?)$", re.I)
_GROUP_FIELDS = ("host", "paths", "tags")
_PASSWORD_ENV = ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND")
_UNITS = {"B": 1, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
_ROTATION = 10  # default check reads 1/10 of the packs per day: all data every 10 days


class PruneFailed(StoreError):
    """``restic forget`` removed snapshots but ``restic prune`` failed; ``report`` says which
    snapshots are gone (their data is freed by the next successful prune)."""

    def __init__(self, message: str, report: DeleteReport) -> None:
        super().__init__(message)
        self.report = report


def rotating_subset(day: int, parts: int = _ROTATION) -> str:
    """``restic check --read-data-subset`` spec ``n/parts`` for a day number: consecutive
    days read consecutive parts, so every pack is read once every ``parts`` days."""
    return f"{day % parts + 1}/{parts}"


class ResticStore:
    """A restic repository as a backupctl :class:`~backupctl.stores.base.Store`.

    Groups are restic's group keys (``restic_group_by``, default ``host,paths``), formatted
    by :func:`retention.group_key`, e.g. ``"host=web1 paths=/srv/app"``: a policy's ``group``
    must be that string.
    """

    def __init__(self, config: Config, *, timeout: float | None = None) -> None:
        """Args: config with ``store.url = "restic:<repository>"``; timeout in seconds for the
        listing and forget commands (prune, check and restore are never cut short).

        Raises:
            ConfigError: not a restic URL, an empty repository or a bad ``restic_group_by``.
        """
        self.config = config
        self.url = config.store.url
        if not self.url.startswith("restic:") or not self.url[len("restic:") :].strip():
            raise ConfigError(
                config.path, [f"store.url: expected 'restic:<repository>', got {self.url!r}"]
            )
        self.repository = self.url[len("restic:") :]
        self.binary = config.store.restic_binary
        self.lock_wait = config.store.restic_lock_wait
        self.group_by = _group_fields(config)
        self.timeout = timeout

    # ------------------------------------------------------------------ running restic

    def _password(self) -> tuple[list[str], dict[str, str]]:
        """Extra arguments and environment carrying the repository password.

        Raises:
            ConfigError: a configured password file or variable is missing, or no password at all.
        """
        store, where = self.config.store, self.config.path
        if store.restic_password_file:
            if not os.path.isfile(store.restic_password_file):
                raise ConfigError(
                    where,
                    [
                        f"store.restic_password_file: {store.restic_password_file} does not "
                        "exist (expected a file holding the restic repository password)"
                    ],
                )
            return ["--password-file", store.restic_password_file], {"RESTIC_PASSWORD_COMMAND": ""}
        if store.restic_password_env:
            value = os.environ.get(store.restic_password_env)
            if not value:
                raise ConfigError(
                    where,
                    [
                        f"store.restic_password_env: the environment variable "
                        f"{store.restic_password_env} is not set (expected the restic password)"
                    ],
                )
            # restic prefers a password file or command over RESTIC_PASSWORD: blank them.
            return [], {
                "RESTIC_PASSWORD": value,
                "RESTIC_PASSWORD_FILE": "",
                "RESTIC_PASSWORD_COMMAND": "",
            }
        if not any(os.environ.get(name) for name in _PASSWORD_ENV):
            raise ConfigError(
                where,
                [
                    "no restic password is set: give store.restic_password_file or "
                    "store.restic_password_env, or export one of " + ", ".join(_PASSWORD_ENV)
                ],
            )
        return [], {}

    def _restic(self, *args: str, timeout: float | None = None, nice: int = 0) -> Completed:
        """Run ``restic <args>`` on the repository; the caller interprets the exit code. The
        repository goes in ``RESTIC_REPOSITORY``, not ``--repo``: a URL may carry a password,
        and a command line is readable by every local user (``ps``)."""
        extra, env = self._password()
        return run(
            [self.binary, *extra, *args],
            env_extra={"RESTIC_REPOSITORY": self.repository, **env},
            timeout=timeout,
            nice=nice,
        )

    def _restic_waiting_for_lock(self, *args: str, timeout: float | None = None) -> Completed:
        """:meth:`_restic`, run again while restic reports the repository locked, for up to
        ``store.restic_lock_wait`` seconds (restic 0.14 has no ``--retry-lock``): a prune that
        meets a running backup waits for it instead of failing. Pauses grow 1, 2, 4 … 15 s."""
        deadline = time.monotonic() + self.lock_wait
        pause = 1.0
        while True:  # bounded: every pass sleeps, and the deadline ends it
            result = self._restic(*args, timeout=timeout)
            left = deadline - time.monotonic()
            if result.returncode == 0 or _fatal_kind(result.stderr_text) != "locked" or left <= 0:
                return result
            log.info(
                "restic.lock_wait",
                repository=self.repository,
                command=args[0],
                holder=_lock_holder(result.stderr_text),
                retry_in_s=round(min(pause, left), 1),
            )
            time.sleep(min(pause, left))
            pause = min(pause * 2, 15.0)

    def _fail(self, result: Completed, action: str) -> StoreError | LockHeld:
        """The error for a failed restic command: locks, passwords, missing repositories and
        unreachable endpoints get their own message; anything else quotes restic."""
        return classify(result, self.repository, action, self.binary)

    # ------------------------------------------------------------------ listing

    def listing(self, *, nice: int = 0) -> Listing:
        """Every snapshot in the repository (restic snapshots are complete by construction);
        ``nice`` lowers restic's CPU priority (see :meth:`list_snapshots`).

        Raises:
            StoreError: restic failed, or its output is not the expected JSON (naming the
                repository).
            LockHeld: an exclusive lock is held by another restic process.
        """
        result = self._restic("snapshots", "--json", timeout=self.timeout, nice=nice)
        if result.returncode != 0:
            raise self._fail(result, "list snapshots")
        snapshots = parse_snapshots(result.stdout_text, self.repository, self.group_by)
        log.info(
            "restic.listed",
            repository=self.repository,
            snapshots=len(snapshots),
            duration_s=round(result.duration, 3),
        )
        return Listing(snapshots=snapshots, requests={"restic snapshots": 1})

    def list_snapshots(self) -> list[StoredSnapshot]:
        """Every snapshot (for drills); see :meth:`list`. restic runs at a lower CPU priority:
        a drill lists beside its restore, and the listing's key derivation must not slow it."""
        return self.listing(nice=19).snapshots

    # ------------------------------------------------------------------ deleting

    def delete(
        self,
        snapshots: Sequence[StoredSnapshot],
        progress: Callable[[int], None] | None = None,
        listing: Listing | None = None,
    ) -> DeleteReport:
        """``restic forget`` the snapshots in chunks, then ``restic prune`` once.

        A chunk holds at most :data:`FORGET_CHUNK` ids. Only full 64-hex-digit ids are passed
        to restic (a prefix could match another snapshot); anything else is reported as failed
        and left alone. ``progress`` is called with the number of snapshots forgotten per chunk.

        Returns:
            A report: ids forgotten, ids that failed (with why), bytes prune freed,
            restic commands run.

        Raises:
            LockHeld: the repository is locked by another process (nothing was forgotten).
            StoreError: wrong password, missing repository, unreachable endpoint … on the
                first chunk (nothing was forgotten).
            PruneFailed: snapshots were forgotten but prune failed; ``report`` has the ids.
        """
        report = DeleteReport()
        ids: list[str] = []
        for stored in snapshots:
            sid = stored.snapshot.id
            if _FULL_ID.match(sid):
                ids.append(sid)
            else:
                report.failed[sid] = (
                    "not a full restic snapshot id (64 hex digits); refused to forget by prefix"
                )
        for start in range(0, len(ids), FORGET_CHUNK):
            if not self._forget_chunk(ids[start : start + FORGET_CHUNK], report, first=start == 0):
                self._settle_after_failure(ids[start:], report)
                break
            if progress is not None:
                progress(len(ids[start : start + FORGET_CHUNK]))
        if report.deleted:
            self._prune(report)
        return report

    def _forget_chunk(self, chunk: list[str], report: DeleteReport, *, first: bool) -> bool:
        """Forget one chunk; False when restic failed.

        The caller then re-lists to learn the truth.
        """
        result = self._restic_waiting_for_lock("forget", *chunk, timeout=self.timeout)
        report.requests["restic forget"] = report.requests.get("restic forget", 0) + 1
        if result.returncode != 0:
            error = self._fail(result, "forget snapshots")
            if first:
                raise error
            for sid in chunk:
                report.failed[sid] = str(error)
            return False
        ignored = _ignored_ids(result.stderr_text)
        for sid in chunk:
            if sid in ignored:
                report.failed[sid] = f"restic forget: {ignored[sid]}"
            else:
                report.deleted.append(sid)
        return True

    def _settle_after_failure(self, unsure: list[str], report: DeleteReport) -> None:
        """After a failed forget, a re-listing says which of ``unsure`` are gone after all."""
        try:
            present = {s.snapshot.id for s in self.listing().snapshots}
        except StoreError as exc:
            log.warning("restic.relist_failed", repository=self.repository, error=str(exc))
            return
        report.requests["restic snapshots"] = report.requests.get("restic snapshots", 0) + 1
        for sid in unsure:
            if sid not in present and sid not in report.deleted:
                report.failed.pop(sid, None)
                report.deleted.append(sid)

    def _prune(self, report: DeleteReport) -> None:
        result = self._restic_waiting_for_lock("prune")
        report.requests["restic prune"] = 1
        if result.returncode != 0:
            error = self._fail(result, "prune")
            raise PruneFailed(
                f"{len(report.deleted)} snapshot(s) were forgotten but prune failed, so their data "
                f"is not freed yet: {error} — run `restic -r {self.repository} prune` (or the next "
                "backupctl prune) once the cause is fixed",
                report,
            )
        report.bytes_freed = _pruned_bytes(result.stdout_text)
        log.info(
            "restic.pruned",
            repository=self.repository,
            forgotten=len(report.deleted),
            bytes_freed=report.bytes_freed,
            duration_s=round(result.duration, 3),
        )

    # ------------------------------------------------------------------ integrity

    def check_integrity(
        self,
        snapshots: Sequence[StoredSnapshot],
        *,
        subset: str | None = None,
    ) -> list[IntegrityProblem]:
        """``restic check --read-data-subset=<subset>``: structure of the whole repository plus
        the data of a subset of packs.

        Args:
            snapshots: what the caller wants checked; restic checks the repository as a whole,
                so this only says whether to check at all (an empty sequence checks nothing).
            subset: restic's spec: ``"10%"``, ``"3/10"`` or a size such as ``"500M"``; default
                a rotating ``n/10`` by day (all data is read every 10 days).

        Returns:
            One problem per error restic reported; ``snapshot_id`` is ``""`` (repository-wide)
            and ``key`` names the pack or tree when restic does.

        Raises:
            UsageError: a malformed subset spec.
            LockHeld, StoreError: restic could not check at all (lock, password, repository).
        """
        if not snapshots:
            return []
        spec = subset or rotating_subset(now().toordinal())
        if not _SUBSET.match(spec):
            raise UsageError(
                f"restic check subset {spec!r}: expected a percentage ('10%'), "
                "a part ('3/10') or a size ('500M')"
            )
        result = self._restic("check", f"--read-data-subset={spec}")
        if result.returncode == 0:
            return []
        fatal = _fatal_kind(result.stderr_text)
        if fatal is not None:
            raise self._fail(result, "check")
        problems = _check_problems(result.stderr_text)
        log.warning("restic.check_failed", repository=self.repository, problems=len(problems))
        return problems or [
            IntegrityProblem(
                "",
                "repository",
                _tail(result.stderr_text) or f"restic check exited {result.returncode}",
            )
        ]

    # ------------------------------------------------------------------ restore

    def restore(
        self,
        snapshot: StoredSnapshot,
        target: Path,
        *,
        workers: int = 4,
        progress: Callable[[int], None] | None = None,
    ) -> RestoreOutcome:
        """``restic restore <id> --target <target> --verify``.

        restic recreates the snapshot's tree under ``target``: a backup of ``/srv/app``
        lands in ``target/srv/app/…``. ``bytes`` and ``files`` are counted on disk after the
        restore (regular files only). ``progress`` is called once, with all bytes, at the end.

        Returns:
            ``verified_by_store=True``; ``problems`` lists each file restic could not restore
            or verify (or restic's error when it names no file).

        Raises:
            LockHeld, StoreError: restic could not start the restore (lock, password, repository,
                unknown snapshot id).
        """
        return self._restore(snapshot.snapshot.id, target, workers, progress).outcome

    def restore_reference(
        self,
        reference: str,
        target: Path,
        *,
        workers: int = 4,
        progress: Callable[[int], None] | None = None,
    ) -> ReferenceRestore:
        """``restic restore <reference> --target <target> --verify`` without listing first
        (the drill lists beside it; see :class:`restore.protocol.RestoresByReference`).

        Args:
            reference: ``"latest"`` or a snapshot id or id prefix (hex digits).

        Returns:
            The outcome (as :meth:`restore`) and the short id restic printed in its
            ``restoring <Snapshot 1a2b3c4d of …>`` line (None when it printed none).

        Raises:
            ReferenceRefused: ``reference`` is neither ``latest`` nor hex digits (nothing ran).
            LockHeld, StoreError: as :meth:`restore`.
        """
        if not _REFERENCE.match(reference):
            raise ReferenceRefused(
                f"restic snapshot reference {reference!r}: expected 'latest' or hex digits"
            )
        return self._restore(reference, target, workers, progress)

    def _restore(
        self, reference: str, target: Path, workers: int, progress: Callable[[int], None] | None
    ) -> ReferenceRestore:
        options = (
            ["--option", f"s3.connections={max(1, workers)}"]
            if self.repository.startswith("s3:")
            else []
        )
        result = self._restic("restore", reference, "--target", str(target), "--verify", *options)
        stderr = result.stderr_text
        if result.returncode != 0 and (
            _fatal_kind(stderr) is not None
            or "invalid id" in stderr
            or "latest snapshot for criteria not found" in stderr
        ):
            raise self._fail(result, f"restore snapshot {reference[:8]}")
        problems = _restore_problems(stderr)
        if result.returncode != 0 and not problems:
            problems = [
                f"restic restore exited {result.returncode}: {_tail(stderr) or '(no error output)'}"
            ]
        files, size = _count_files(target)
        if progress is not None:
            progress(size)
        restored = _RESTORING.search(result.stdout_text)
        log.info(
            "restic.restored",
            repository=self.repository,
            snapshot=reference[:8],
            files=files,
            bytes=size,
            problems=len(problems),
            duration_s=round(result.duration, 3),
        )
        outcome = RestoreOutcome(
            bytes=size, files=files, problems=tuple(problems), verified_by_store=True
        )
        return ReferenceRestore(outcome, restored[1] if restored else None)

    # ------------------------------------------------------------------ lock and audit log

    def blobs(self) -> BlobStore:
        """The lock and audit log location: a restic repository has no room for them, so they
        live where ``[audit] url`` points (see :func:`backupctl.stores.locations.audit_blobs_for`).

        Raises:
            ConfigError: no location can be derived; set ``[audit] url``.
        """
        from backupctl.stores.locations import audit_blobs_for

        blobs: BlobStore = audit_blobs_for(self.config)
        return blobs


# ---------------------------------------------------------------------- parsing restic


def _group_fields(config: Config) -> tuple[str, ...]:
    raw = config.store.restic_group_by
    fields = tuple(f.strip() for f in raw.split(",") if f.strip())
    bad = [f for f in fields if f not in _GROUP_FIELDS]
    if bad:
        raise ConfigError(
            config.path,
            [
                f"store.restic_group_by: unknown field(s) {', '.join(bad)} in {raw!r} "
                f"(expected a comma-separated subset of {', '.join(_GROUP_FIELDS)})"
            ],
        )
    return fields


def parse_snapshots(text: str, repository: str, group_by: Sequence[str]) -> list[StoredSnapshot]:
    """Parse ``restic snapshots --json`` output into StoredSnapshots grouped by ``group_by``.

    Raises:
        StoreError: naming the repository and what was wrong (not JSON, not a list, a bad field).
    """
    try:
        parsed = parse_restic_snapshots(
            text, f"restic repository {repository}: `restic snapshots --json`"
        )
    except UsageError as exc:
        raise StoreError(str(exc)) from None
    return [
        StoredSnapshot(snapshot=dataclasses.replace(s, group=group_key(s, group_by)))
        for s in parsed
    ]


_LOCKED = "repository is already locked"
_FATAL_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("locked", (_LOCKED,)),
    ("password", ("wrong password or no key found",)),
    (
        "credentials",
        ("InvalidAccessKeyId", "SignatureDoesNotMatch", "Access Denied", "AccessDenied"),
    ),
    (
        "unreachable",
        (
            "connection refused",
            "no such host",
            "dial tcp",
            "i/o timeout",
            "TLS handshake",
            "connection reset",
        ),
    ),
    (
        "missing",
        (
            "Is there a repository at the following location?",
            "unable to open config file",
            "NoSuchBucket",
            "repository does not exist",
        ),
    ),
)


def _fatal_kind(stderr: str) -> str | None:
    """Which kind of "cannot work with this repository at all" error restic reported, if any."""
    for kind, needles in _FATAL_PATTERNS:
        if any(n.lower() in stderr.lower() for n in needles):
            return kind
    return None


def classify(
    result: Completed, repository: str, action: str, binary: str = "restic"
) -> StoreError | LockHeld:
    """Turn a failed restic command into a clear error naming the repository.

    Returns:
        LockHeld for a locked repository (with restic's description of the holder and the
        ``restic unlock`` hint); a StoreError with a specific message for wrong passwords,
        bad S3 credentials, unreachable endpoints and missing repositories; otherwise a
        StoreError quoting the end of restic's error output.
    """
    stderr = result.stderr_text
    kind = _fatal_kind(stderr)
    where = f"restic repository {repository}"
    if kind == "locked":
        holder = _lock_holder(stderr)
        return LockHeld(
            f"{where} is locked by another restic process ({holder}); could not {action}, nothing "
            f"was changed. If that process is no longer running, remove its stale lock with "
            f"`{binary} -r {repository} unlock` and run again"
        )
    detail = _tail(stderr, 3) or "(no error output)"
    messages = {
        "password": f"{where}: wrong password or no key found "
        "(check store.restic_password_file, store.restic_password_env or RESTIC_PASSWORD)",
        "credentials": f"{where}: the S3 service refused the credentials "
        f"(check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): {detail}",
        "unreachable": f"{where}: cannot reach the storage endpoint: {detail}",
        "missing": f"{where}: no restic repository there (wrong URL, or not initialised: "
        f"`{binary} -r {repository} init`): {detail}",
    }
    if kind in messages:
        return StoreError(messages[kind])
    return StoreError(
        f"{where}: could not {action}: `{describe(result.args)}` "
        f"exited {result.returncode}: {detail}"
    )


def _lock_holder(stderr: str) -> str:
    """restic's description of the lock holder, on one line (PID, host, user, age, storage id)."""
    start = stderr.find(_LOCKED)
    text = stderr[start:].split("the `unlock` command", 1)[0]
    text = text.replace(_LOCKED, "", 1).strip()
    text = re.sub(r"^(exclusively )?by ", lambda m: "exclusively " if m[1] else "", text)
    return " ".join(text.split()).rstrip(";,") or "holder unknown"


def _ignored_ids(stderr: str) -> dict[str, str]:
    """Ids restic forget skipped: ``Ignoring "<id>": <why>``."""
    return {m[1]: m[2].strip() for m in re.finditer(r'Ignoring "([0-9a-fA-F]+)",?:? ?(.*)', stderr)}


def _pruned_bytes(stdout: str) -> int:
    """Bytes prune removed, from its ``total prune: N blobs / 1.234 MiB`` line (0 when absent)."""
    match = re.search(r"total prune:\s+\d+ blobs / ([\d.]+) ([KMGT]?i?B)", stdout)
    if match is None:
        return 0
    return int(float(match[1]) * _UNITS.get(match[2].upper(), 1))


_CHECK_NOISE = (
    "using temporary cache",
    "Fatal: repository contains errors",
    "error removing temporary cache",
    "create exclusive lock",
    "load indexes",
    "check all packs",
    "check snapshots",
)


def _check_problems(stderr: str) -> list[IntegrityProblem]:
    """restic check's error lines as problems; ``error for tree X:`` blocks become one problem."""
    problems: list[IntegrityProblem] = []
    tree: str | None = None
    for line in stderr.splitlines():
        text = line.strip()
        if not text or any(n in text for n in _CHECK_NOISE):
            continue
        tree_match = re.match(r"error for tree ([0-9a-f]+):", text)
        if tree_match:
            tree = tree_match[1]
            continue
        if tree is not None and line.startswith((" ", "\t")):
            problems.append(IntegrityProblem("", f"tree/{tree}", text))
            continue
        tree = None
        problems.append(IntegrityProblem("", _pack_key(text), text))
    return problems


def _pack_key(text: str) -> str:
    match = re.search(r"(?:want|pack) ([0-9a-f]{8,64})", text)
    return f"data/{match[1]}" if match else "repository"


def _restore_problems(stderr: str) -> list[str]:
    """``ignoring error for <path>: <why>`` lines, one problem per path (messages joined)."""
    by_path: dict[str, list[str]] = {}
    for match in re.finditer(r"ignoring error for (.+?): (.+)", stderr):
        by_path.setdefault(match[1], []).append(match[2].strip())
    return [f"{path}: {'; '.join(why)}" for path, why in by_path.items()]


def _count_files(target: Path) -> tuple[int, int]:
    files = size = 0
    for path in _walk(target):
        files += 1
        size += path.lstat().st_size
    return files, size


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink():
                yield path


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
