"""Restore drills: choose a snapshot, restore it into scratch space, verify it, wait until it
is live, and measure all of it against the working-day target.

The drill is data in, a record out: the store (a :class:`~restore.protocol.DrillStore`), the
live check (a callable, so this package never runs processes itself) and the progress bar
factory are injected by the caller. Nothing here imports backupctl.

Snapshot choice (``how``): ``"latest"`` (newest of all groups), ``"random"`` (seeded; the seed
is recorded so a run can be repeated), an explicit id (or a unique id prefix, as restic allows),
or *stratified*: snapshots fall into tiers by age against their group's newest snapshot:
``daily`` (< 7 days older), ``weekly`` (7 days to 4 weeks older), ``monthly`` (older). The drill
takes the tier drilled least recently according to the past records (never drilled counts as
least recent; ties go to monthly, then weekly, then daily), and within it the newest daily,
the oldest weekly or the oldest monthly. Three stratified drills per audit period therefore
restore the oldest monthly at least once.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from restore.protocol import (
    DrillStore,
    ReferenceRefused,
    RestoreOutcome,
    RestoresByReference,
    StoredSnapshot,
)
from restore.verify import VerifyReport, sample_entries, verify_tree
from restore.workday import WorkingCalendar, format_iso_duration

__all__ = [
    "NO_LIVE_CHECK",
    "TIERS",
    "Choice",
    "DrillError",
    "DrillRecord",
    "DrillSettings",
    "Failure",
    "Forecast",
    "Phase",
    "Selection",
    "SnapshotMismatch",
    "choose_snapshot",
    "history_from_records",
    "run_drill",
    "tier_of",
]

NO_LIVE_CHECK = "no live check configured: the drill proves the restore, not that the service runs"
"""Said by every drill without ``[drill] live_check`` (``backupctl init`` asks for one)."""

Verdict = Literal["passed", "over_target", "verify_failed", "live_check_timeout", "restore_failed"]
ProgressFactory = Callable[[str, int | None], AbstractContextManager[Callable[[int], None]]]
TIERS = ("monthly", "weekly", "daily")  # tie-break order: the oldest data first
DAILY_SPAN = timedelta(days=7)
WEEKLY_SPAN = timedelta(weeks=4)
FAILED_VERDICTS = ("over_target", "verify_failed", "live_check_timeout", "restore_failed")


class DrillError(ValueError):
    """No snapshot to drill, or an id that matches none (or several); the message says which."""


class SnapshotMismatch(RuntimeError):
    """A store restored by reference, and the snapshot it restored cannot be identified in the
    listing as the chosen one (the store named none, an unknown one, or a different one)."""


@dataclass(frozen=True)
class Choice:
    """How to pick: ``how`` is latest, random or an id; ``stratified`` overrides it.
    ``history`` holds (tier, time) of past stratified drills."""

    how: str = "latest"
    stratified: bool = False
    seed: int = 0
    history: Sequence[tuple[str, datetime]] = ()


@dataclass(frozen=True)
class Selection:
    """The chosen snapshot and how it was chosen (recorded with the drill)."""

    snapshot: StoredSnapshot
    mode: str
    seed: int | None = None
    tier: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The selection as the record's ``selection`` object."""
        return {"mode": self.mode, "seed": self.seed, "tier": self.tier}


@dataclass
class DrillSettings:
    """Everything a drill needs besides the store: target, calendar and the injected parts."""

    target: timedelta
    calendar: WorkingCalendar
    target_text: str = ""
    workers: int = 4
    verify_workers: int = 4
    sample_percent: float = 100.0
    scratch_dir: Path | None = None
    keep: bool = False
    live_check: Callable[[Path], bool] | None = None
    live_check_timeout: float = 600.0
    live_check_interval: float = 2.0
    progress: ProgressFactory | None = None
    sleep: Callable[[float], None] = time.sleep
    reraise: tuple[
        type[BaseException], ...
    ] = ()  # store errors that are not a failed drill (bad config)


def tier_of(snap: StoredSnapshot, newest_of_group: datetime) -> str:
    """``daily``, ``weekly`` or ``monthly`` by age against the group's newest snapshot."""
    age = newest_of_group - snap.snapshot.time
    if age < DAILY_SPAN:
        return "daily"
    return "weekly" if age < WEEKLY_SPAN else "monthly"


def _tiers(snapshots: Sequence[StoredSnapshot]) -> dict[str, list[StoredSnapshot]]:
    newest: dict[str, datetime] = {}
    for s in snapshots:
        g = s.snapshot.group
        newest[g] = max(newest.get(g, s.snapshot.time), s.snapshot.time)
    tiers: dict[str, list[StoredSnapshot]] = {t: [] for t in TIERS}
    for s in snapshots:
        tiers[tier_of(s, newest[s.snapshot.group])].append(s)
    return tiers


def _stratified(
    snapshots: Sequence[StoredSnapshot], history: Sequence[tuple[str, datetime]]
) -> Selection:
    tiers = {t: members for t, members in _tiers(snapshots).items() if members}
    last: dict[str, datetime] = {}
    for tier, when in history:
        if tier in tiers and (tier not in last or when > last[tier]):
            last[tier] = when
    # never drilled first, then the longest ago; TIERS order breaks ties
    tier = min(
        tiers, key=lambda t: (t in last, last[t].timestamp() if t in last else 0.0, TIERS.index(t))
    )
    ordered = sorted(tiers[tier], key=lambda s: (s.snapshot.time, s.snapshot.id))
    pick = ordered[-1] if tier == "daily" else ordered[0]
    return Selection(pick, "stratified", tier=tier)


def choose_snapshot(snapshots: Sequence[StoredSnapshot], choice: Choice) -> Selection:
    """Pick the snapshot to drill (see the module doc for the rules).

    Raises:
        DrillError: no complete snapshot, or an id that matches none or several.
    """
    usable = sorted(
        (s for s in snapshots if s.status != "incomplete"),
        key=lambda s: (s.snapshot.time, s.snapshot.id),
    )
    if not usable:
        raise DrillError("no complete snapshot in the store to drill")
    if choice.stratified:
        return _stratified(usable, choice.history)
    if choice.how == "latest":
        return Selection(usable[-1], "latest")
    if choice.how == "random":
        by_id = sorted(usable, key=lambda s: s.snapshot.id)
        return Selection(random.Random(choice.seed).choice(by_id), "random", seed=choice.seed)
    exact = [s for s in usable if s.snapshot.id == choice.how]
    matches = exact or [s for s in usable if s.snapshot.id.startswith(choice.how)]
    if len(matches) != 1:
        what = "matches no" if not matches else f"matches {len(matches)}"
        raise DrillError(
            f"snapshot {choice.how!r} {what} complete snapshot "
            "(expected 'latest', 'random' or one snapshot id, e.g. 'server/20261120T020000Z')"
        )
    return Selection(matches[0], "explicit")


def history_from_records(records: Sequence[Mapping[str, Any]]) -> list[tuple[str, datetime]]:
    """(tier, requested time) of past stratified drill records; records without both are skipped."""
    out: list[tuple[str, datetime]] = []
    for rec in records:
        sel = rec.get("selection")
        tier = sel.get("tier") if isinstance(sel, Mapping) else None
        when = rec.get("requested")
        if not isinstance(tier, str) or not isinstance(when, str):
            continue
        with contextlib.suppress(ValueError):
            t = datetime.fromisoformat(when)
            if t.tzinfo is not None:
                out.append((tier, t))
    return out


@dataclass(frozen=True)
class Failure:
    """Why a drill failed: its verdict, the record's message and the objects concerned."""

    verdict: Verdict
    message: str
    objects: tuple[str, ...] = ()


@dataclass(frozen=True)
class Phase:
    """A timed phase of a drill (``fetch``, ``verify`` or ``live``), as a phase function returns it.

    ``seconds`` is the measured duration (unrounded), ``details`` the phase's own record keys
    in record order (``files``; ``by``, ``objects``…; ``attempts``, ``configured``) and
    ``failure`` what failed the drill in this phase (None: the next phase may run).
    """

    name: str
    seconds: float
    bytes: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def rate(self) -> float | None:
        """Bytes per second, or None when nothing was moved or no time measured."""
        return _rate(self.bytes, self.seconds)

    def to_json(self) -> dict[str, Any]:
        """The phase as an element of the record's ``phases``."""
        rate = self.rate
        return {
            "name": self.name,
            "seconds": round(self.seconds, 6),
            "bytes": self.bytes,
            "throughput_bytes_per_second": round(rate, 1) if rate else None,
            **self.details,
        }


@dataclass(frozen=True)
class Forecast:
    """A full restore of the largest current snapshot at the drill's measured rates."""

    snapshot: str
    bytes: int
    size_known: bool
    seconds: float
    started: datetime
    finish: datetime
    deadline: datetime

    @property
    def meets_target(self) -> bool:
        return self.finish <= self.deadline

    def to_json(self) -> dict[str, Any]:
        """The record's ``forecast`` object."""
        return {
            "snapshot": self.snapshot,
            "bytes": self.bytes,
            "size_known": self.size_known,
            "seconds": round(self.seconds, 3),
            "started": self.started.isoformat(),
            "finish": self.finish.isoformat(),
            "deadline": self.deadline.isoformat(),
            "meets_target": self.meets_target,
        }


@dataclass(frozen=True)
class DrillRecord:
    """The result of one drill, assembled from its phases; :meth:`to_json` is the record
    written to the audit log and printed by ``drill --json`` (see docs/drills.md)."""

    selection: Selection
    phases: tuple[Phase, ...]
    requested: datetime
    live: datetime | None  # None when the restored system never became live
    deadline: datetime
    target: timedelta
    target_text: str
    wall_seconds: float
    working_time: timedelta
    failure: Failure | None = None  # None: passed
    forecast: Forecast | None = None
    scratch_dir: str | None = None  # the kept restore, with ``keep``

    @property
    def verdict(self) -> Verdict:
        return self.failure.verdict if self.failure else "passed"

    @property
    def passed(self) -> bool:
        return self.failure is None

    @property
    def message(self) -> str:
        """What the drill showed, in one sentence. A pass says what it did not prove: without
        a live check, only the restore; of an empty snapshot, nothing restored at all."""
        if self.failure:
            return self.failure.message
        notes = []
        if self.empty:
            notes.append("the snapshot is empty (no objects): nothing was restored")
        live = self.phase("live")
        if live is not None and not live.details.get("configured", True):
            notes.append(NO_LIVE_CHECK)
            text = "restored and verified within the target"
        else:
            text = "restored, verified and live within the target"
        return "; ".join([text, *notes])

    @property
    def empty(self) -> bool:
        """True when the drilled snapshot holds no object (its manifest lists none, or the
        restore wrote no file)."""
        manifest = self.selection.snapshot.manifest
        fetch = self.phase("fetch")
        if manifest is not None:
            return len(manifest) == 0
        return fetch is not None and fetch.ok and not fetch.details.get("files")

    @property
    def bytes(self) -> int:
        """What the store restored (the fetch phase's bytes)."""
        fetch = self.phase("fetch")
        return fetch.bytes if fetch else 0

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The drill record, JSON-ready, key for key in the documented order."""
        snap = self.selection.snapshot
        return {
            "kind": "drill",
            "snapshot": {
                "id": snap.snapshot.id,
                "group": snap.snapshot.group,
                "time": snap.snapshot.time.isoformat(),
                "size": snap.size or self.bytes,
            },
            "selection": self.selection.to_json(),
            "requested": self.requested.isoformat(),
            "live": self.live.isoformat() if self.live is not None else None,
            "deadline": self.deadline.isoformat(),
            "target": self.target_text or format_iso_duration(self.target),
            "target_seconds": self.target.total_seconds(),
            "phases": [p.to_json() for p in self.phases],
            "bytes": self.bytes,
            "wall_seconds": round(self.wall_seconds, 6),
            "working_time": format_iso_duration(self.working_time),
            "working_time_seconds": self.working_time.total_seconds(),
            "verdict": self.verdict,
            "passed": self.passed,
            "message": self.message,
            "failed_objects": list(self.failure.objects) if self.failure else [],
            "forecast": self.forecast.to_json() if self.forecast else None,
            "scratch_dir": self.scratch_dir,
        }


def _rate(nbytes: int, seconds: float) -> float | None:
    return nbytes / seconds if seconds > 0 and nbytes > 0 else None


@contextlib.contextmanager
def _bar(
    settings: DrillSettings, label: str, total: int | None
) -> Iterator[Callable[[int], None] | None]:
    if settings.progress is None:
        yield None
        return
    with settings.progress(label, total) as advance:
        yield advance


@contextlib.contextmanager
def _scratch(settings: DrillSettings) -> Iterator[Path]:
    """A fresh directory for the restore; removed afterwards unless ``keep``. Only the
    directory made here is removed, never ``scratch_dir`` itself."""
    base = settings.scratch_dir
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="backupctl-drill-", dir=base))
    try:
        yield work
    finally:
        if not settings.keep:
            shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class _Fetch:
    """The chosen snapshot, the listing, the fetch phase and what the store restored (None:
    the restore raised)."""

    selection: Selection
    snapshots: list[StoredSnapshot]
    phase: Phase
    outcome: RestoreOutcome | None


def _phase_fetch(
    store: DrillStore, sel: Selection, target: Path, settings: DrillSettings
) -> tuple[Phase, RestoreOutcome | None]:
    started = time.perf_counter()
    outcome: RestoreOutcome | None = None
    error: Exception | None = None
    try:
        with _bar(settings, "restore", sel.snapshot.size or None) as advance:
            outcome = store.restore(
                sel.snapshot, target, workers=settings.workers, progress=advance
            )
    except settings.reraise:
        raise
    except Exception as exc:  # any other store failure is a failed drill, recorded, not a crash
        error = exc
    return _fetched(sel, outcome, error, time.perf_counter() - started), outcome


def _fetched(
    sel: Selection, outcome: RestoreOutcome | None, error: Exception | None, seconds: float
) -> Phase:
    """The fetch phase of a restore that returned ``outcome`` or raised ``error``."""
    if outcome is None:
        return Phase(
            "fetch",
            seconds,
            0,
            failure=Failure(
                "restore_failed",
                f"restore of {sel.snapshot.snapshot.id} failed: {type(error).__name__}: {error}",
            ),
        )
    failure = None
    if outcome.problems and not outcome.verified_by_store:
        failure = Failure(
            "restore_failed",
            f"{len(outcome.problems)} object(s) could not be restored",
            tuple(outcome.problems),
        )
    return Phase("fetch", seconds, outcome.bytes, {"files": outcome.files}, failure)


@dataclass
class _Overlap:
    """What a restore by reference produced while the listing ran beside it."""

    refused: bool = False
    outcome: RestoreOutcome | None = None
    restored_id: str | None = None
    error: Exception | None = None
    seconds: float = 0.0


def _by_reference(store: DrillStore, choice: Choice) -> RestoresByReference | None:
    """The store, if this choice can be restored by reference while listing.

    That is an explicit id or latest.
    """
    if choice.stratified or choice.how == "random" or not isinstance(store, RestoresByReference):
        return None
    return store


def _restore_listing(
    store: DrillStore,
    ref_store: RestoresByReference,
    choice: Choice,
    target: Path,
    settings: DrillSettings,
) -> tuple[_Overlap, list[StoredSnapshot]]:
    """Restore ``choice.how`` by reference with ``list_snapshots()`` running in a thread.

    Returns:
        The restore's result (``refused`` when the store does not take the reference: nothing
        was restored) and the listing.

    Raises:
        Whatever the listing raised (first), then the store errors in ``settings.reraise``.
    """
    ov = _Overlap()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="drill-list") as pool:
        listing: Future[Sequence[StoredSnapshot]] = pool.submit(store.list_snapshots)
        started = time.perf_counter()
        try:
            with _bar(settings, "restore", None) as advance:
                done = ref_store.restore_reference(
                    choice.how, target, workers=settings.workers, progress=advance
                )
            ov.outcome, ov.restored_id = done.outcome, done.restored_id
        except ReferenceRefused:
            ov.refused = True
        except settings.reraise:
            listing.result()  # a listing error comes first, as when listing before the restore
            raise
        except Exception as exc:  # recorded as restore_failed once the choice is known
            ov.error = exc
        ov.seconds = time.perf_counter() - started
        return ov, list(listing.result())


def _resolve(
    store: DrillStore, choice: Choice, ov: _Overlap, snapshots: list[StoredSnapshot]
) -> Selection:
    """The selection a restore by reference stands for, checked against the listing.

    An explicit id resolves in the listing exactly as :func:`choose_snapshot` does; when the
    store named the snapshot it restored, that must be the one. For ``latest`` the snapshot
    the store says it restored is recorded (after one fresh listing if this one lacks it);
    ``snapshots`` is then replaced by that listing.

    Raises:
        DrillError: as :func:`choose_snapshot` (unknown or ambiguous id, no snapshot).
        SnapshotMismatch: the restored snapshot cannot be identified as the chosen one.
    """
    sel = choose_snapshot(snapshots, choice)
    named = ov.restored_id
    if ov.outcome is None:  # a failed restore is recorded against the listing's choice
        return sel
    if choice.how != "latest":
        if named is not None and not sel.snapshot.snapshot.id.startswith(named):
            raise SnapshotMismatch(
                f"asked to restore {choice.how!r}, which the listing resolves to "
                f"{sel.snapshot.snapshot.id}, but the store restored {named}"
            )
        return sel
    if not named:
        raise SnapshotMismatch(
            "restored 'latest', but the store did not say which snapshot it restored, "
            "so the drill cannot record it"
        )
    matches = _named(snapshots, named)
    if not matches:  # a snapshot made while the listing ran: list once more
        snapshots[:] = list(store.list_snapshots())
        matches = _named(snapshots, named)
    if len(matches) == 1:
        return Selection(matches[0], "latest")
    raise SnapshotMismatch(
        f"restored 'latest' = snapshot {named}, which matches {len(matches) or 'no'} "
        "snapshot(s) of the listing; the drill cannot say which snapshot it restored"
    )


def _named(snapshots: Sequence[StoredSnapshot], named: str) -> list[StoredSnapshot]:
    return [s for s in snapshots if s.status != "incomplete" and s.snapshot.id.startswith(named)]


def _choose_and_fetch(
    store: DrillStore, choice: Choice, target: Path, settings: DrillSettings
) -> _Fetch:
    """List, choose and restore; by reference while listing when the store can (see
    :class:`~restore.protocol.RestoresByReference`), else listing first."""
    ref_store = _by_reference(store, choice)
    if ref_store is not None:
        ov, snapshots = _restore_listing(store, ref_store, choice, target, settings)
        if not ov.refused:
            sel = _resolve(store, choice, ov, snapshots)
            return _Fetch(
                sel, snapshots, _fetched(sel, ov.outcome, ov.error, ov.seconds), ov.outcome
            )
    else:
        snapshots = list(store.list_snapshots())
    sel = choose_snapshot(snapshots, choice)
    return _Fetch(sel, snapshots, *_phase_fetch(store, sel, target, settings))


def _phase_verify(
    sel: Selection, outcome: RestoreOutcome, target: Path, settings: DrillSettings, seed: int
) -> Phase:
    manifest = outcome.reference if outcome.reference is not None else sel.snapshot.manifest
    if outcome.verified_by_store:
        failure = None
        if outcome.problems:
            failure = Failure(
                "verify_failed",
                f"{len(outcome.problems)} object(s) failed the store's verification",
                tuple(outcome.problems),
            )
        return Phase(
            "verify", 0.0, outcome.bytes, {"by": "store", "objects": outcome.files}, failure
        )
    if manifest is None:
        return Phase(
            "verify",
            0.0,
            0,
            {"by": "none", "objects": 0},
            Failure(
                "verify_failed",
                "the snapshot has no manifest and the store did not verify the restore",
            ),
        )
    entries = sample_entries(manifest, settings.sample_percent, seed)
    with _bar(settings, "verify", sum(e.size for e in entries) or None) as advance:
        report = verify_tree(target, entries, workers=settings.verify_workers, progress=advance)
    return _verified(report, len(manifest), settings.sample_percent)


def _verified(report: VerifyReport, in_manifest: int, sample_percent: float) -> Phase:
    failure = None
    if report.problems:
        failure = Failure(
            "verify_failed",
            f"{len(report.problems)} of {report.objects} object(s) failed verification",
            tuple(report.problems),
        )
    return Phase(
        "verify",
        report.seconds,
        report.bytes,
        {
            "by": "backupctl",
            "objects": report.objects,
            "objects_in_manifest": in_manifest,
            "sample_percent": sample_percent,
            "size_only": report.size_only,  # objects nothing but their size was known for
        },
        failure,
    )


def _phase_live(target: Path, settings: DrillSettings) -> Phase:
    check = settings.live_check
    if check is None:
        return Phase("live", 0.0, 0, {"attempts": 0, "configured": False})
    started = time.monotonic()
    deadline = started + settings.live_check_timeout
    attempts, passed, last_error = 0, False, ""
    while True:  # bounded: every pass sleeps, and the loop ends at the timeout
        attempts += 1
        try:
            passed = bool(check(target))
        except Exception as exc:  # a crashing check is a failing check; keep its reason
            last_error = f"{type(exc).__name__}: {exc}"
        left = deadline - time.monotonic()
        if passed or left <= 0:
            break
        settings.sleep(min(settings.live_check_interval, left))
    seconds = time.monotonic() - started
    failure = None
    if not passed:
        why = f" (last error: {last_error})" if last_error else ""
        failure = Failure(
            "live_check_timeout",
            f"the live check did not pass within {settings.live_check_timeout:g} s "
            f"after {attempts} attempt(s){why}",
        )
    return Phase("live", seconds, 0, {"attempts": attempts, "configured": True}, failure)


def _phases(fetched: _Fetch, target: Path, settings: DrillSettings, seed: int) -> list[Phase]:
    """The fetch phase, then verify and live as long as the phase before did not fail."""
    phases = [fetched.phase]
    if fetched.phase.ok:
        assert fetched.outcome is not None
        phases.append(_phase_verify(fetched.selection, fetched.outcome, target, settings, seed))
        if phases[-1].ok:
            phases.append(_phase_live(target, settings))
    return phases


def run_drill(
    store: DrillStore,
    choice: Choice,
    settings: DrillSettings,
    *,
    requested: datetime,
) -> DrillRecord:
    """Run one drill and return its record (``to_json()``: see docs/drills.md for the fields).

    ``requested`` is when the drill (the simulated calamity) starts; the live moment is
    ``requested`` plus the measured elapsed time. The scratch directory is removed in all
    cases unless ``settings.keep``.

    Raises:
        DrillError: no snapshot to drill, or a bad ``choice``.
        SnapshotMismatch: a store that restored by reference restored a snapshot the drill
            cannot identify as the chosen one (see :func:`_resolve`).
        WorkdayError: a naive ``requested``, or a calendar built with ``lazy_holidays`` whose
            country python-holidays does not know (found after the restore; scratch removed).
    """
    settings.calendar.preload()  # the holiday table loads while the store lists and restores
    with _scratch(settings) as target:
        fetched = _choose_and_fetch(store, choice, target, settings)
        # wall time runs from the start of the restore: the listing (before it, or beside it) is
        # not counted
        started = time.perf_counter() - fetched.phase.seconds
        phases = _phases(fetched, target, settings, choice.seed)
        wall = time.perf_counter() - started
        scratch = str(target)
    deadline = settings.calendar.add_working_time(requested, settings.target)
    live = requested + timedelta(seconds=wall)
    working = settings.calendar.working_time_between(requested, live)
    failure = next((p.failure for p in phases if p.failure is not None), None)
    if failure is None and live > deadline:
        failure = Failure(
            "over_target",
            f"live after {format_iso_duration(working)} of working time, "
            f"over the target of {format_iso_duration(settings.target)}",
        )
    return DrillRecord(
        selection=fetched.selection,
        phases=tuple(phases),
        requested=requested,
        live=live if failure is None or failure.verdict == "over_target" else None,
        deadline=deadline,
        target=settings.target,
        target_text=settings.target_text,
        wall_seconds=wall,
        working_time=working,
        failure=failure,
        forecast=_forecast(phases, fetched.snapshots, settings, now=live),
        scratch_dir=scratch if settings.keep else None,
    )


def _forecast(
    phases: Sequence[Phase],
    snapshots: Sequence[StoredSnapshot],
    settings: DrillSettings,
    *,
    now: datetime,
) -> Forecast | None:
    """A full restore of the largest current snapshot at the measured rates, started ``now``."""
    by_name = {p.name: p for p in phases}
    fetch, verify, live = by_name["fetch"], by_name.get("verify"), by_name.get("live")
    fetch_rate = fetch.rate
    if fetch_rate is None:
        return None
    largest = max(snapshots, key=lambda s: (_data_size(s), s.snapshot.time))
    size = _data_size(largest) or fetch.bytes
    seconds = size / fetch_rate
    verify_rate = verify.rate if verify else None
    if verify_rate:
        seconds += size / verify_rate
    seconds += live.seconds if live else 0.0
    return Forecast(
        snapshot=largest.snapshot.id,
        bytes=size,
        size_known=bool(_data_size(largest)),
        seconds=seconds,
        started=now,
        finish=now + timedelta(seconds=seconds),
        deadline=settings.calendar.add_working_time(now, settings.target),
    )


def _data_size(snapshot: StoredSnapshot) -> int:
    """The bytes a restore of ``snapshot`` moves: its manifest's objects (not manifest.json
    itself, which a store's size counts), else the size the store gives."""
    if snapshot.manifest is not None:
        return sum(e.size for e in snapshot.manifest)
    return snapshot.size
