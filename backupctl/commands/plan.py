"""``backupctl plan``: what would be kept or forgotten, and why.

Two sources: ``--config F`` (the configured store and policies, via the runner) or
``--from-restic FILE|-`` (the output of ``restic snapshots --json``) with restic's own
``--keep-*`` and ``--group-by`` flags, planned exactly like restic 0.14 ``forget``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from backupctl import clock, humanize
from backupctl.commands.options import (
    at_option,
    check_groups,
    config_option,
    group_option,
    load_config,
    only_groups,
    reference_time,
)
from backupctl.errors import UsageError
from backupctl.explain import GroupContext, why_forgotten
from backupctl.stores.restic_input import load_restic_snapshots
from retention import (
    CALENDARS,
    RULES,
    Decision,
    Duration,
    DurationError,
    EmptyPolicyError,
    Plan,
    Policy,
    plan,
)
from retention.policy import count_problem

if TYPE_CHECKING:
    from backupctl.prune.runner import Refusal, RunPlan

_EARLIEST = datetime(
    1, 1, 2, tzinfo=UTC
)  # as restic snapshot times (backupctl/stores/restic_input.py)
_LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)

__all__ = [
    "command",
    "parse_group_by",
    "plan_command",
    "plan_to_json",
    "render_plan",
    "render_table",
]

_GROUP_WORDS = {
    "host": "host",
    "hosts": "host",
    "path": "paths",
    "paths": "paths",
    "tag": "tags",
    "tags": "tags",
}
_COUNT_FLAGS: tuple[tuple[str, str | None, str], ...] = tuple(
    (
        rule.count_key,
        rule.short,
        f"the newest snapshot of each of the last N {rule.each}"
        if rule.calendar
        else f"the last N {rule.each}",
    )
    for rule in RULES
)
"""(config key, restic's short flag or None, help) rows.

One ``--keep-<name>`` per row of the rule table.
"""
_WITHIN_FLAGS: tuple[tuple[str, str], ...] = (
    ("keep_within", "every snapshot newer than DURATION before the group's newest"),
    *((cal.within_key, f"{cal.name} snapshots within DURATION") for cal in CALENDARS),
)


def parse_group_by(text: str) -> tuple[str, ...]:
    """Turn restic's ``--group-by`` text (``host,paths``; ``''`` = no grouping) into group fields.

    Raises:
        click.BadParameter: an unknown word (restic accepts host(s), path(s), tag(s)).
    """
    chosen: set[str] = set()
    for word in text.split(","):
        word = word.strip()
        if not word:
            continue
        if word not in _GROUP_WORDS:
            raise click.BadParameter(
                f"unknown grouping option {word!r}: expected host, paths and/or tags, "
                "comma-separated ('' = no grouping)",
                param_hint="--group-by",
            )
        chosen.add(_GROUP_WORDS[word])
    return tuple(f for f in ("host", "paths", "tags") if f in chosen)


_GO_INT_MAX = 2**63 - 1  # restic's counts are Go ints: larger ones are refused by its flag parser


def _count(ctx: click.Context, param: click.Parameter, value: int) -> int:
    problem = count_problem(value, _GO_INT_MAX)
    if problem is not None:
        raise click.BadParameter(problem)
    return value


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> Duration | None:
    """restic 0.14's duration syntax: see Duration.parse_restic.

    Units may come in any order; a repeated unit overrides.
    """
    if value is None:
        return None
    try:
        return Duration.parse_restic(value)
    except DurationError as exc:
        raise click.BadParameter(str(exc)) from None


def _zone(ctx: click.Context, param: click.Parameter, value: str | None) -> tzinfo | None:
    if value is None:
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"unknown time zone {value!r}: expected an IANA name such as Europe/Amsterdam"
        ) from None


def _with_keep_flags(func: Any) -> Any:
    for name, what in reversed(_WITHIN_FLAGS):
        flag = "--" + name.replace("_", "-")
        func = click.option(
            flag,
            name,
            default=None,
            callback=_duration,
            metavar="DURATION",
            help=f"keep {what} (restic's syntax, e.g. 7d, 2m, 1y2m3d4h; any unit order)",
        )(func)
    for name, short, what in reversed(_COUNT_FLAGS):
        flag = "--" + name.replace("_", "-")
        names = (flag, short, name) if short else (flag, name)
        func = click.option(
            *names,
            type=int,
            default=0,
            show_default=False,
            callback=_count,
            metavar="N",
            help=f"keep {what} (-1 = unlimited)",
        )(func)
    return func


def _policy(options: dict[str, Any], keep_tag: tuple[str, ...], keep_oldest: bool) -> Policy:
    kwargs: dict[str, Any] = {name: options[name] for name, _s, _w in _COUNT_FLAGS}
    kwargs.update({name: options[name] for name, _w in _WITHIN_FLAGS if options[name] is not None})
    kwargs["keep_tags"] = tuple(tuple(s.strip() for s in t.split(",")) for t in keep_tag)
    kwargs["keep_oldest"] = keep_oldest
    return Policy(**kwargs)


def plan_to_json(result: Plan) -> dict[str, Any]:
    """The contract JSON ``{"decisions": [...]}`` of a plan, in input order."""
    return {"decisions": [d.to_json() for d in result.decisions]}


def render_table(
    result: Plan,
    now: datetime | None = None,
    zone: tzinfo | None = None,
    groups: Sequence[str] = (),
) -> str:
    """The ``--from-restic`` plan as people read it: :func:`render_decisions` of its groups
    (only ``groups`` when given), planned at ``now`` (default: now), times in ``zone``
    (``--restic-tz``; None: the local zone)."""
    decisions = [d for d in result.decisions if not groups or d.group in groups]
    policies = {d.group: result.policy for d in decisions}
    return "\n".join(render_decisions(decisions, policies, now or clock.now(), zone))


def short_id(snapshot_id: str, group: str) -> str:
    """The id as the plan table shows it: restic's 8-hex short id, a store snapshot's folder
    name without its group (``20261123T050000Z``), else the id."""
    if len(snapshot_id) >= 40 and all(c in "0123456789abcdef" for c in snapshot_id):
        return snapshot_id[:8]
    return snapshot_id.removeprefix(group + "/")


def render_decisions(
    decisions: Sequence[Decision],
    policies: Mapping[str, Policy],
    now: datetime,
    zone: tzinfo | None = None,
) -> list[str]:
    """The one plan table, for a config's store and for ``--from-restic`` alike.

    One line per snapshot: group, time (in ``zone``, else the config's: see
    :mod:`backupctl.humanize`), short id, ``KEEP``/``forget`` and a reason on every line: a
    kept snapshot's reasons, a forgotten one's rules it fell outside with their cut-offs
    (:mod:`backupctl.explain`). Then one line per group when there are several, and the summary
    line ``N kept, M to forget`` (with the policy when there is one).

    Args:
        decisions: in the order to show them.
        policies: each group's policy (the rules the reasons and cut-offs come from).
        now: the plan's reference time.
    """
    by_group: dict[str, list[Decision]] = {}
    for d in decisions:
        by_group.setdefault(d.group, []).append(d)
    contexts = {
        g: GroupContext(policies[g], ds, now, zone) for g, ds in by_group.items() if g in policies
    }
    rows = [("GROUP", "TIME", "ID", "ACTION", "REASONS")]
    for d in decisions:
        if d.action == "keep":
            action, why = "KEEP", [r.text for r in d.reasons]
        else:
            ctx = contexts.get(d.group)
            action, why = "forget", why_forgotten(d, ctx) if ctx else []
        rows.append(
            (
                d.group or "-",
                humanize.when(d.snapshot.time, zone),
                short_id(d.snapshot.id, d.group),
                action,
                "; ".join(why) or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        ("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]).rstrip()
        for r in rows
    ]
    if len(by_group) > 1:
        lines.append("")
        for g, ds in by_group.items():
            kept = sum(d.action == "keep" for d in ds)
            described = f" ({policies[g].describe()})" if g in policies else ""
            lines.append(f"{g or '-'}: {kept} kept, {len(ds) - kept} to forget{described}")
    kept = sum(d.action == "keep" for d in decisions)
    distinct = {p.describe() for p in policies.values()}
    described = f" ({distinct.pop()})" if len(distinct) == 1 else ""
    lines.append(f"{kept} kept, {len(decisions) - kept} to forget{described}")
    return lines


@click.command("plan")
@config_option("Plan the configured store and policies.")
@click.option(
    "--from-restic",
    "from_restic",
    metavar="FILE|-",
    default=None,
    help="Plan the output of `restic snapshots --json` (- = standard input).",
)
@_with_keep_flags
@click.option(
    "--keep-tag",
    "keep_tag",
    multiple=True,
    metavar="TAGLIST",
    help="keep snapshots carrying all of these tags ('a,b'); repeatable, any list matches",
)
@click.option(
    "--keep-oldest",
    is_flag=True,
    help="also keep a group's oldest snapshot while a count has room "
    "(restic 0.16; off = restic 0.14)",
)
@click.option(
    "--group-by",
    "group_by",
    default="host,paths",
    show_default=True,
    help="group by host, paths and/or tags ('' = no grouping)",
)
@click.option(
    "--restic-tz",
    "restic_tz",
    metavar="ZONE",
    default=None,
    callback=_zone,
    help="emulate restic run with TZ=ZONE (DST-aware within cut-offs); default: recorded offsets",
)
@at_option(
    "Reference time: now (default), 2026-11-23, 2026-11-23T10:00 (the config's timezone, "
    "or --restic-tz, else local) or an ISO time with offset. --now is an alias."
)
@group_option("plan (a config's group name, or a --from-restic group such as 'host=h paths=/d')")
@click.option("--json", "as_json", is_flag=True, help="print the plan as JSON")
def command(
    config_path: str | None,
    from_restic: str | None,
    keep_tag: tuple[str, ...],
    keep_oldest: bool,
    group_by: str,
    restic_tz: tzinfo | None,
    at_text: str | None,
    groups: tuple[str, ...],
    as_json: bool,
    **keep: Any,
) -> int | None:
    """What would be kept or removed, and why (nothing is changed).

    Either the configured store and policies (--config F, default $BACKUPCTL_CONFIG, else
    ./backupctl.toml), or --from-restic FILE|- with restic's --keep-* flags, e.g.

        restic snapshots --json | backupctl plan --from-restic - --keep-daily 7 --keep-weekly 4

    Both print the same table: group, time, short id, KEEP/forget and a reason on every line
    (for a forgotten snapshot: the rules it fell outside and their cut-offs).
    """
    fields = parse_group_by(group_by)
    if config_path is not None and from_restic is not None:
        raise UsageError("plan: give either --config or --from-restic, not both")
    if from_restic is None:
        if any(keep.values()) or keep_tag or keep_oldest:
            raise UsageError(
                "plan: --keep-* flags go with --from-restic FILE|-; "
                "with a config, the policies come from its [[policy]] tables"
            )
        return plan_command(config_path, as_json=as_json, at_text=at_text, groups=groups)
    now = _checked_now(at_text, restic_tz)
    policy = _policy(keep, keep_tag, keep_oldest)
    if policy.is_empty():
        raise UsageError(
            "plan: no policy was specified (no --keep-* flag), restic would remove no snapshots; "
            "give at least one --keep-* flag"
        )
    snapshots = load_restic_snapshots(from_restic, restic_tz)
    try:
        result = plan(snapshots, policy, now=now, group_by=fields)
    except EmptyPolicyError as exc:  # pragma: no cover - guarded above
        raise UsageError(str(exc)) from None
    if groups:
        known = {d.group for d in result.decisions}
        check_groups(groups, known, "--group")
    if as_json:
        doc = plan_to_json(result)
        if groups:
            doc["decisions"] = [d for d in doc["decisions"] if d["group"] in groups]
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(render_table(result, now, restic_tz, groups))
    return None


def _checked_now(at_text: str | None, zone: tzinfo | None) -> datetime:
    """``--at`` (local times in ``zone``, else the local zone), within restic's time range.

    Raises:
        UsageError: an unreadable time, or one outside the range restic's times can have.
    """
    local = zone or datetime.now().astimezone().tzinfo or UTC
    now = reference_time(at_text, local)
    try:
        in_range = _EARLIEST <= now.astimezone(UTC) <= _LATEST
    except OverflowError:  # 0001-01-01T00:00:00+14:00: no UTC instant
        in_range = False
    if not in_range:
        raise UsageError(
            f"--at: {at_text!r} is outside the supported range: expected a time between "
            f"{_EARLIEST.isoformat()} and {_LATEST.isoformat()} (in UTC)"
        )
    return now


def plan_command(
    config_path: str | None,
    as_json: bool = False,
    now: datetime | None = None,
    *,
    at_text: str | None = None,
    groups: Sequence[str] = (),
) -> int:
    """``backupctl plan --config F``: print what ``prune`` would do; returns exit code 0.

    ``now`` (or ``at_text``, read in the config's timezone) is the reference time; ``groups``
    limits the plan to those configured groups.

    Raises:
        ConfigError: missing or bad config. StoreError: the store cannot be listed.
        UsageError: a bad ``--at`` or an unknown ``--group``.
    """
    from backupctl.prune.runner import plan_store
    from backupctl.stores import open_store

    full = load_config(config_path)
    config = only_groups(full, groups)
    if now is None:
        now = _checked_now(at_text, config.timezone)
    run, refusals = plan_store(config, open_store(full, planning=True), now)
    if groups:  # the other groups' snapshots are not "left alone": they were not asked about
        run.unmanaged = []
    if as_json:
        click.echo(json.dumps(run.to_json(refusals), indent=2))
    else:
        for line in render_plan(run, refusals):
            click.echo(line)
    return 0


def render_plan(run: RunPlan, refusals: Sequence[Refusal]) -> Iterator[str]:
    """The human plan of a config's store: :func:`render_decisions` (the same table as
    ``--from-restic``), then interrupted deletions, what is left alone and the refusals."""
    policies = {name: g.policy.policy for name, g in run.groups.items()}
    yield from _listed_from(run)
    yield from render_decisions(run.decisions(), policies, run.now)
    if run.resume:
        yield f"finish interrupted deletion: {len(run.resume)} snapshot(s)"
    yield from _left_alone(run)
    yield from _trusted_time(run)
    for r in refusals:
        yield f"prune would be REFUSED{'' if r.overridable else ' (absolute)'}: {r.message}"


def _listed_from(run: RunPlan) -> Iterator[str]:
    """A line naming the S3 Inventory report the plan was made from, when it was."""
    source = run.listing.source if run.listing is not None else None
    if not source or source.get("kind") != "s3-inventory":
        return
    when = datetime.fromisoformat(source["report_time"])
    live = (
        " (keys named since one day before it listed live)" if source["listed_live_since"] else ""
    )
    yield f"planned from the S3 Inventory report of {humanize.when(when)}{live}: {source['report']}"


def _left_alone(run: RunPlan) -> Iterator[str]:
    """What the plan leaves alone, counted; the ids or keys too with ``-v`` (at most 3
    otherwise)."""
    if run.unknown:
        yield f"unknown keys left alone: {len(run.unknown)}"
        yield from _some(run.unknown)
    if run.incomplete:
        yield f"incomplete snapshots (no manifest) left alone: {len(run.incomplete)}"
        yield from _some([s.snapshot.id for s in run.incomplete])
    if run.unmanaged:
        groups = sorted({s.snapshot.group for s in run.unmanaged})
        yield (
            "snapshots of groups without a policy left alone: "
            f"{len(run.unmanaged)} ({', '.join(groups)})"
        )


def _trusted_time(run: RunPlan) -> Iterator[str]:
    """Snapshot times the last prune's memory contradicts (docs/safety.md "Trusted time"), or,
    with ``-v``, why no time was judged (no earlier prune on record, an unverified log …)."""
    from backupctl.log import is_verbose

    if run.suspects:
        yield (
            f"claimed times the last prune's listing contradicts: {len(run.suspects)} "
            "(backdated or drifted; `backupctl verify` names them)"
        )
        yield from _some([f"{x.stored.snapshot.id} ({x.why})" for x in run.suspects])
    elif run.memory_note and is_verbose():
        yield f"snapshot times not judged: {run.memory_note}"


def _some(items: Sequence[str], shown: int = 3) -> Iterator[str]:
    from backupctl.log import is_verbose

    limit = len(items) if is_verbose() else shown
    yield from (f"  {x}" for x in items[:limit])
    if len(items) > limit:
        yield f"  … and {len(items) - limit} more (-v lists them all; --json too)"
