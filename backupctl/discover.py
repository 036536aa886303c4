"""``backupctl init --discover``: what a store already holds, as a proposed config.

Two halves, kept apart so the first is pure and property-testable:

* :func:`propose` (pure): keys (relative to the store's root) -> a :class:`Proposal`: per group
  (the path before the first segment holding a time) the name shape found in
  :data:`SHAPES`, the one ``store.key_template`` the most snapshots share, the share of each
  group's keys that template really matches (checked with :class:`KeyTemplate`, the parser
  the stores use, never a second one), first and last time, folders without ``manifest.json``,
  the cadence (median gap -> a cron schedule) and a policy; :func:`propose_restic` does the same
  for ``restic snapshots --json`` snapshots (hosts, paths, tags -> ``restic_group_by``).
* :func:`sample_keys` (I/O): the keys of a blob store, bounded by a count and a time, saying
  whether the listing was cut short (the proposal is then from a sample).

:func:`render_store_lines` and :func:`render_policies` turn a proposal into TOML text for
:func:`backupctl.configref.starter_config`; every value and every store-supplied name in a
comment goes through :func:`toml_string` / :func:`shown`, so a hostile key cannot inject TOML.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from backupctl.stores.base import BlobStore
from backupctl.stores.layout import (
    INTERNAL_PREFIX,
    MANIFEST,
    KeyTemplate,
    group_problem,
    layout_problems,
)
from retention import Snapshot, group_key

__all__ = [
    "MAX_KEYS",
    "MAX_SECONDS",
    "SHAPES",
    "Cadence",
    "GroupFinding",
    "Proposal",
    "Shape",
    "cadence_of",
    "propose",
    "propose_restic",
    "render_policies",
    "render_store_lines",
    "sample_keys",
    "shown",
    "summary",
    "toml_string",
]

MAX_KEYS = 100_000  # keys listed at most; beyond, the proposal says it is from a sample
MAX_SECONDS = 120.0  # listing time at most (a slow S3-compatible service)
_EXAMPLES = 3  # unmatched keys quoted per group in the file's comments

_PIECES = {
    "Y": r"\d{4}",
    "m": r"(?:0[1-9]|1[0-2])",
    "d": r"(?:0[1-9]|[12]\d|3[01])",
    "H": r"(?:[01]\d|2[0-3])",
    "M": r"[0-5]\d",
    "S": r"[0-5]\d",
}


@dataclass(frozen=True)
class Shape:
    """A well-known way to write a time into a name: ``fmt`` is the ``{time:FORMAT}`` (None:
    backupctl's own ``{time}``, ``YYYYMMDDTHHMMSSZ`` in UTC); ``utc``: the name says UTC (a
    trailing ``Z``), so it is read with ``name_timezone = "UTC"``."""

    fmt: str | None
    example: str
    utc: bool = False

    @property
    def field(self) -> str:
        """The template field: ``{time}`` or ``{time:FORMAT}``."""
        return "{time}" if self.fmt is None else "{time:" + self.fmt + "}"

    @property
    def pattern(self) -> str:
        """A regex (no groups) for the name, digits bounded on both sides."""
        fmt = "%Y%m%dT%H%M%SZ" if self.fmt is None else self.fmt
        body = "".join(
            _PIECES[p[1]] if p.startswith("%") else re.escape(p)
            for p in re.split(r"(%[YmdHMS])", fmt)
            if p
        )
        return rf"(?<!\d){body}(?!\d)"

    @property
    def daily(self) -> bool:
        """Whether the name has no time of day (one a day at most)."""
        return self.fmt is not None and "%H" not in self.fmt


# The name shapes --discover recognises (docs/init.md has the table). When several match a
# name, the one starting first and then the longest wins (2026-11-23T0200 is not a daily name).
SHAPES: tuple[Shape, ...] = (
    Shape(None, "20261123T020000Z", utc=True),
    Shape("%Y-%m-%dT%H:%M:%SZ", "2026-11-23T02:00:00Z", utc=True),
    Shape("%Y-%m-%dT%H%M%SZ", "2026-11-23T020000Z", utc=True),
    Shape("%Y-%m-%dT%H:%M:%S", "2026-11-23T02:00:00"),
    Shape("%Y-%m-%dT%H:%M", "2026-11-23T02:00"),
    Shape("%Y-%m-%dT%H%M%S", "2026-11-23T020000"),
    Shape("%Y-%m-%dT%H%M", "2026-11-23T0200"),
    Shape("%Y-%m-%d_%H-%M-%S", "2026-11-23_02-00-00"),
    Shape("%Y-%m-%d_%H%M%S", "2026-11-23_020000"),
    Shape("%Y-%m-%d_%H%M", "2026-11-23_0200"),
    Shape("%Y-%m-%d-%H%M", "2026-11-23-0200"),
    Shape("%Y%m%dT%H%M%S", "20261123T020000"),
    Shape("%Y%m%d-%H%M%S", "20261123-020000"),
    Shape("%Y%m%d-%H%M", "20261123-0200"),
    Shape("%Y%m%d_%H%M%S", "20261123_020000"),
    Shape("%Y%m%d_%H%M", "20261123_0200"),
    Shape("%Y%m%d%H%M%S", "20261123020000"),
    Shape("%Y%m%d%H%M", "202611230200"),
    Shape("%Y-%m-%d", "2026-11-23"),
    Shape("%Y%m%d", "20261123"),
)
_FINDERS = [(s, re.compile(s.pattern)) for s in SHAPES]


@dataclass(frozen=True)
class Signature:
    """How one group names its snapshots: the literal text around the time in its segment and
    whether the segment is the key's last (a single-object snapshot) or a folder."""

    before: str
    shape: Shape
    after: str
    single: bool

    @property
    def template(self) -> str:
        """The ``store.key_template`` for this naming."""
        tail = "" if self.single else "/"
        return "{group}/" + self.before + self.shape.field + self.after + tail


# every shape begins with a year and then either "-MM-DD" or "MMDD": one search rules most
# segments out (file names, hashes) before the table is tried
_DATE_START = re.compile(r"\d{4}(?:-\d\d-\d\d|\d{4})")


@functools.lru_cache(maxsize=65536)  # a folder's time segment repeats for each of its keys
def _find_time(segment: str) -> tuple[int, int, Shape] | None:
    """The time in a path segment: (start, end, shape) of the match that starts first and is
    longest, or None."""
    if _DATE_START.search(segment) is None:
        return None
    best: tuple[int, int, Shape] | None = None
    for shape, finder in _FINDERS:
        m = finder.search(segment)
        if m is None:
            continue
        if best is None or (m.start(), -m.end()) < (best[0], -best[1]):
            best = (m.start(), m.end(), shape)
    return best


def _analyse(key: str) -> tuple[str, Signature, str] | None:
    """``(group, signature, snapshot name)`` of a key, or None (no time in it, or a time in
    its first segment, where no ``{group}/`` can come before it). The snapshot name is the key
    up to and including the time's segment: the folder or the object."""
    segments = key.split("/")
    for i, segment in enumerate(segments):
        found = _find_time(segment)
        if found is None:
            continue
        if i == 0:
            return None
        start, end, shape = found
        before, after = segment[:start], segment[end:]
        if any(c in before + after for c in "{}") or not (before + after).isprintable():
            return None  # braces would read as template fields; a template must be printable
        single = i == len(segments) - 1
        sig = Signature(before, shape, after, single)
        return "/".join(segments[:i]), sig, "/".join(segments[: i + 1])
    return None


@dataclass(frozen=True)
class Cadence:
    """How often a group's snapshots come: the median gap, about how many a day, and the cron
    schedule that fits (None when the times show no regular rhythm)."""

    median_gap: timedelta
    per_day: float
    schedule: str | None
    sub_daily: bool
    description: str


def cadence_of(times: Sequence[datetime], tz: tzinfo) -> Cadence | None:
    """The cadence of aware ``times`` (any order), read in ``tz`` (the config's timezone, which
    schedules are in): the median gap between consecutive distinct times, then

    * about an hour: ``"M * * * *"``;
    * 1.5 to 20 hours: ``"M H1,H2,… * * *"`` with the hours of the day that carry at least a
      third as many snapshots as the busiest one (``"0 0,6,12,18 * * *"`` for 4 a day);
    * 20 to 28 hours: daily, ``"M H * * *"`` at the most common time (``"0 2 * * *"``);
    * 6 to 8 days: weekly, ``"M H * * D"``.

    Local hours are used, so a producer at 02:00 local stays ``"0 2 * * *"`` across a DST
    change. Returns None for fewer than two distinct times.
    """
    ordered = sorted(set(times))
    if len(ordered) < 2:
        return None
    gap = timedelta(
        seconds=statistics.median((b - a).total_seconds() for a, b in itertools.pairwise(ordered))
    )
    hours = gap / timedelta(hours=1)
    per_day = 24 / hours if hours else float("inf")
    local = [t.astimezone(tz) for t in ordered]
    minute = Counter(t.minute for t in local).most_common(1)[0][0]
    by_hour = Counter(t.hour for t in local)
    top_hour = by_hour.most_common(1)[0][0]
    schedule: str | None = None
    if 0.8 <= hours <= 1.5:
        schedule, what = f"{minute} * * * *", "about every hour"
    elif 1.5 < hours < 20:
        busiest = max(by_hour.values())
        chosen = sorted(h for h, n in by_hour.items() if n * 3 >= busiest)
        schedule = f"{minute} {','.join(map(str, chosen))} * * *"
        what = f"about {round(per_day)} a day, at " + ", ".join(
            f"{h:02d}:{minute:02d}" for h in chosen
        )
    elif 20 <= hours <= 28:
        schedule, what = f"{minute} {top_hour} * * *", f"daily at {top_hour:02d}:{minute:02d}"
    elif 6 * 24 <= hours <= 8 * 24:
        day = Counter((t.weekday() + 1) % 7 for t in local).most_common(1)[0][0]
        names = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        schedule = f"{minute} {top_hour} * * {day}"
        what = f"weekly on {names[day]} at {top_hour:02d}:{minute:02d}"
    else:
        what = "no regular rhythm recognised: no schedule proposed"
    return Cadence(gap, per_day, schedule, hours < 20, f"median gap {_span(gap)}, {what}")


def _span(gap: timedelta) -> str:
    seconds = int(gap.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m"


# The SLA's presets, written out as rules so that the proposal can be edited in place.
_APP_RULES = {"keep_within": "2m"}
_SERVER_RULES = {"keep_within_daily": "7d", "keep_within_weekly": "4w", "keep_within_monthly": "6m"}


def _rules_for(cadence: Cadence | None) -> tuple[dict[str, str], str]:
    """Keep rules for a cadence and why: several a day -> the SLA's app policy (each kept 2
    months); daily or slower, or unknown -> the SLA's server policy (7 daily, 4 weekly,
    6 monthly)."""
    if cadence is not None and cadence.sub_daily:
        return dict(_APP_RULES), "several a day: the SLA's app policy (preset sla-app)"
    return dict(_SERVER_RULES), "daily or slower: the SLA's server policy (preset sla-server)"


@dataclass
class GroupFinding:
    """What was found for one group and what is proposed for it.

    ``covered``: the proposal's one key template fits this group (a ``[[policy]]`` is written);
    otherwise ``why_not`` says why and it appears as a comment only.
    """

    group: str
    keys: int = 0
    template: str | None = None  # the group's own best naming
    covered: bool = False
    why_not: str | None = None
    snapshots: int = 0
    matched_keys: int = 0
    unmatched: int = 0
    unmatched_examples: list[str] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None
    single: bool = False
    without_manifest: int = 0
    name_notes: int = 0  # DST fall-back names read as their first occurrence, gap names
    cadence: Cadence | None = None
    rules: dict[str, str] = field(default_factory=dict)
    rules_why: str = ""
    times: list[datetime] = field(default_factory=list, repr=False)

    @property
    def share(self) -> float:
        """The share of the group's keys the proposal's template matches."""
        return self.matched_keys / self.keys if self.keys else 0.0


@dataclass
class Proposal:
    """A proposed layout and policies: ``template`` (None when nothing was recognised),
    ``name_timezone`` (``"UTC"`` for names ending in ``Z`` in a ``{time:FORMAT}``; None: the
    config's timezone), the groups (covered or not), keys under no group, whether the listing
    was a sample, and for restic ``group_by``."""

    template: str | None
    name_timezone: str | None
    groups: list[GroupFinding]
    keys: int
    sampled: bool = False
    stray: int = 0
    stray_examples: list[str] = field(default_factory=list)
    group_by: str | None = None  # restic: the restic_group_by proposed

    @property
    def covered(self) -> list[GroupFinding]:
        """The groups that get a ``[[policy]]``."""
        return [g for g in self.groups if g.covered]

    @property
    def needs_adopt(self) -> bool:
        """Whether covered folders lack ``manifest.json`` (``backupctl adopt`` comes next)."""
        return any(g.without_manifest for g in self.covered)


def propose(keys: Iterable[str], tz: tzinfo, *, sampled: bool = False) -> Proposal:
    """The layout and policies that fit ``keys`` (relative to the store's root, any order).

    Args:
        keys: the store's keys; backupctl's own (``_backupctl/…``) are ignored.
        tz: the config's timezone: local names are read in it (unless they end in ``Z``) and
            cadences are measured in it.
        sampled: the keys are a sample (the listing stopped early); recorded in the proposal.

    Returns:
        A :class:`Proposal`. Groups whose best naming differs from the most common one are
        kept as not covered (one config has one ``store.key_template``), as are groups whose
        name cannot be a backupctl group or that would overlap another group's folders.
    """
    by_group: dict[str, list[str]] = defaultdict(list)
    names: dict[str, Counter[Signature]] = defaultdict(Counter)
    seen_names: set[tuple[str, Signature, str]] = set()
    stray: list[str] = []
    timeless: list[str] = []
    total = 0
    for key in keys:
        if key.startswith(INTERNAL_PREFIX) or not key:
            continue
        total += 1
        found = _analyse(key)
        if found is None:
            timeless.append(key)
            continue
        group, sig, name = found
        by_group[group].append(key)
        if (group, sig, name) not in seen_names:  # count snapshots, not the keys inside them
            seen_names.add((group, sig, name))
            names[group][sig] += 1
    for key in timeless:
        # no time in it: counted (as not matched) under the deepest group folder holding it,
        # else under its first folder, else (at the top level) as a stray
        segments = key.split("/")[:-1]
        owner = next(
            (g for i in range(len(segments), 0, -1) if (g := "/".join(segments[:i])) in names),
            segments[0] if segments else None,
        )
        (by_group[owner] if owner else stray).append(key)
    findings = {g: GroupFinding(g, keys=len(ks)) for g, ks in by_group.items()}
    best: dict[str, Signature] = {}
    for g, counter in names.items():
        sig = min(counter, key=lambda s: (-counter[s], s.template))
        best[g] = sig
        findings[g].template = sig.template
    weight: Counter[Signature] = Counter()
    for g, sig in best.items():
        weight[sig] += names[g][sig]
    if not weight:
        for f in findings.values():
            f.why_not = "no snapshot-shaped names (no time recognised)"
        return _finish(None, None, findings, total, sampled, stray)
    chosen = min(weight, key=lambda s: (-weight[s], s.template))
    template = chosen.template
    for g, f in findings.items():
        if g not in best:
            f.why_not = "no snapshot-shaped names (no time recognised)"
        elif best[g] != chosen:
            f.why_not = (
                f"named {best[g].template!r}, not {template!r} (one key_template per config): "
                f"cover it with a second config whose key_template is {best[g].template!r}"
            )
        elif (problem := group_problem(g)) is not None:
            f.why_not = problem
        else:
            f.covered = True
    _drop_overlaps(template, findings)
    name_tz = "UTC" if chosen.shape.utc and chosen.shape.fmt is not None else None
    zone = ZoneInfo("UTC") if name_tz else tz
    covered = [g for g, f in findings.items() if f.covered]
    if covered:
        compiled = KeyTemplate.compile(template, covered, tz=zone)
        for g in covered:
            _measure(findings[g], by_group[g], compiled, tz)
    return _finish(template, name_tz, findings, total, sampled, stray)


def _drop_overlaps(template: str, findings: dict[str, GroupFinding]) -> None:
    """Uncover the smaller of any two groups whose folders could hold each other's (the config
    would be refused: :func:`layout_problems`)."""
    covered = sorted((f for f in findings.values() if f.covered), key=lambda f: (-f.keys, f.group))
    if not layout_problems(template, [f.group for f in covered]):
        return  # the common case: one check of every pair at once
    kept: list[str] = []
    for f in covered:
        clash = next((k for k in kept if layout_problems(template, [k, f.group])), None)
        if clash is None:
            kept.append(f.group)
        else:
            f.covered = False
            f.why_not = f"its folders could overlap those of group {clash!r}: not proposed"


def _measure(f: GroupFinding, keys: list[str], compiled: KeyTemplate, tz: tzinfo) -> None:
    """Match the group's keys against the proposal's template: snapshots, times, manifests,
    unmatched keys, then the cadence and the rules."""
    folders: dict[str, tuple[datetime, bool]] = {}
    for key in keys:
        m = compiled.match(key)
        if m is None or m.group != f.group:
            f.unmatched += 1
            if len(f.unmatched_examples) < _EXAMPLES:
                f.unmatched_examples.append(key)
            if compiled.name_problem(key) is not None:
                f.name_notes += 1
            continue
        f.matched_keys += 1
        if m.note is not None and m.folder not in folders:
            f.name_notes += 1
        t, has = folders.get(m.folder, (m.time, False))
        folders[m.folder] = (t, has or m.rest == MANIFEST)
    f.single = compiled.single
    f.snapshots = len(folders)
    f.times = sorted(t for t, _ in folders.values())
    if f.times:
        f.first, f.last = f.times[0], f.times[-1]
    if not compiled.single:
        f.without_manifest = sum(1 for _, has in folders.values() if not has)
    f.cadence = cadence_of(f.times, tz)
    f.rules, f.rules_why = _rules_for(f.cadence)
    if not f.snapshots:
        f.covered = False
        f.why_not = "no key matched the template"


def _finish(
    template: str | None,
    name_tz: str | None,
    findings: dict[str, GroupFinding],
    total: int,
    sampled: bool,
    stray: list[str],
) -> Proposal:
    groups = sorted(findings.values(), key=lambda f: (not f.covered, f.group))
    return Proposal(
        template, name_tz, groups, total, sampled, len(stray), sorted(stray)[:_EXAMPLES]
    )


# ---------------------------------------------------------------------- restic


def propose_restic(snapshots: Sequence[Snapshot], tz: tzinfo) -> Proposal:
    """Groups and policies for a restic repository's snapshots (``host``, ``paths`` and ``tags``
    as restic recorded them).

    ``restic_group_by`` is ``host,paths`` (restic's default) unless, within one host and paths,
    the tags split the snapshots into series of two or more each (``daily`` and ``weekly`` runs,
    say): then ``host,paths,tags``. One policy per group, with the cadence of its times.
    """
    group_by: tuple[str, ...] = ("host", "paths")
    coarse: dict[str, list[Snapshot]] = defaultdict(list)
    for s in snapshots:
        coarse[group_key(s, group_by)].append(s)
    for members in coarse.values():
        series = Counter(tuple(sorted(s.tags)) for s in members)
        if len(series) > 1 and min(series.values()) >= 2:
            group_by = ("host", "paths", "tags")
            break
    grouped: dict[str, list[Snapshot]] = defaultdict(list)
    for s in snapshots:
        grouped[group_key(s, group_by)].append(s)
    findings = []
    for g, members in sorted(grouped.items()):
        times = sorted(s.time for s in members)
        f = GroupFinding(g, keys=len(members), covered=True, snapshots=len(members))
        f.matched_keys = len(members)
        f.times, f.first, f.last = times, times[0], times[-1]
        f.cadence = cadence_of(times, tz)
        f.rules, f.rules_why = _rules_for(f.cadence)
        findings.append(f)
    return Proposal(None, None, findings, len(snapshots), group_by=",".join(group_by))


# ---------------------------------------------------------------------- listing (I/O)


def sample_keys(
    blobs: BlobStore,
    *,
    max_keys: int = MAX_KEYS,
    max_seconds: float = MAX_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[list[str], bool]:
    """The keys of ``blobs`` in key order, at most ``max_keys`` and for at most ``max_seconds``.

    Returns:
        ``(keys, sampled)``: ``sampled`` is True when the listing was cut short.
    Raises:
        StoreError: the store cannot be listed.
    """
    keys: list[str] = []
    deadline = clock() + max_seconds
    for info in blobs.list(""):
        if len(keys) >= max_keys or clock() > deadline:
            return keys, True
        keys.append(info.key)
    return keys, False


# ---------------------------------------------------------------------- rendering


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for c in value:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def shown(value: str, limit: int = 80) -> str:
    """A store-supplied name for a comment: quoted, every non-ASCII or control character
    escaped (a newline in a key must not end the comment), cut at ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= limit else text[: limit - 4] + '…"'


def _when(t: datetime | None, tz: tzinfo) -> str:
    return "?" if t is None else t.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def render_store_lines(proposal: Proposal) -> str:
    """The ``[store]`` lines the proposal sets: ``key_template`` and ``name_timezone``, or for
    restic ``restic_group_by``, with a comment saying where they come from."""
    lines: list[str] = []
    if proposal.group_by is not None:
        lines.append("# restic_group_by found by `backupctl init --discover`")
        lines.append(f"restic_group_by = {toml_string(proposal.group_by)}")
    elif proposal.template is not None:
        lines.append("# key_template found by `backupctl init --discover` (docs/init.md)")
        lines.append(f"key_template = {toml_string(proposal.template)}")
        if proposal.name_timezone:
            lines.append(
                f"name_timezone = {toml_string(proposal.name_timezone)}   # the names end in Z"
            )
    return "\n".join(lines)


def render_policies(proposal: Proposal, tz: tzinfo) -> str:
    """The ``[[policy]]`` blocks (one per covered group) with comments on what was found, and
    the groups not covered as comments."""
    out: list[str] = []
    unit = "restic snapshot(s)" if proposal.group_by is not None else "key(s)"
    head = f"# Found by `backupctl init --discover`: {proposal.keys} {unit}"
    if proposal.sampled:
        head += (
            f" (a sample: the listing stopped after {proposal.keys} keys; groups later in key "
            "order may be missing and the counts are partial)"
        )
    out.append(head + ".")
    if proposal.template is not None:
        out.append(f"# Layout: key_template = {shown(proposal.template)}.")
    for f in proposal.covered:
        out.append("")
        out += _finding_comments(f, tz, proposal.group_by is not None)
        out.append(f"# Proposed: {f.rules_why}; edit to what you promise.")
        out.append("[[policy]]")
        out.append(f"name = {toml_string(f.group)}")
        out.append(f"group = {toml_string(f.group)}")
        if f.cadence is not None and f.cadence.schedule is not None:
            out.append(f"schedule = {toml_string(f.cadence.schedule)}")
        for rule, value in f.rules.items():
            out.append(f"{rule} = {toml_string(value)}")
    others = [f for f in proposal.groups if not f.covered]
    if others or proposal.stray:
        out.append("")
        out.append("# Not covered by this config (left alone by plan and prune):")
    for f in others:
        out.append(f"#   group {shown(f.group)}: {f.keys} key(s); {f.why_not}")
    if proposal.stray:
        examples = ", ".join(shown(k) for k in proposal.stray_examples)
        out.append(f"#   {proposal.stray} key(s) outside any group folder, e.g. {examples}")
    return "\n".join(out)


def _finding_comments(f: GroupFinding, tz: tzinfo, restic: bool) -> list[str]:
    what = "snapshot(s)" if restic else ("single object(s)" if f.single else "folder(s)")
    lines = [
        f"# Group {shown(f.group)}: {f.snapshots} {what}, {_when(f.first, tz)} .. "
        f"{_when(f.last, tz)}."
    ]
    if not restic:
        lines.append(
            f"#   {f.matched_keys} of {f.keys} key(s) matched the template ({f.share:.0%})"
            + (f"; {f.unmatched} not matched (left alone)" if f.unmatched else "")
            + "."
        )
        if f.unmatched_examples:
            lines.append("#   Not matched, e.g. " + ", ".join(map(shown, f.unmatched_examples)))
        if f.name_notes:
            lines.append(
                f"#   {f.name_notes} name(s) in a DST change: a repeated hour is read as its first "
                "occurrence, a skipped one is no snapshot (docs/stores.md)."
            )
        if f.without_manifest:
            lines.append(
                f"#   {f.without_manifest} folder(s) without manifest.json: listed as incomplete "
                "and never touched until `backupctl adopt` writes their manifests."
            )
    if f.cadence is not None:
        lines.append(f"#   Cadence: {f.cadence.description}.")
    else:
        lines.append("#   Cadence: a single snapshot, no schedule proposed.")
    return lines


def summary(proposal: Proposal) -> dict[str, Any]:
    """A small JSON-able summary (for logs and tests): template, groups covered and not."""
    return {
        "template": proposal.template,
        "covered": {f.group: f.snapshots for f in proposal.covered},
        "not_covered": [f.group for f in proposal.groups if not f.covered],
        "sampled": proposal.sampled,
    }
