"""``backupctl plan``: what would be kept or forgotten, and why.

Two sources: ``--config F`` (the configured store and policies, via the runner) or
``--from-restic FILE|-`` (the output of ``restic snapshots --json``) with restic's own
``--keep-*`` and ``--group-by`` flags, planned exactly like restic 0.14 ``forget``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from backupctl import clock
from backupctl.errors import UsageError
from backupctl.stores.restic_input import load_restic_snapshots
from retention import (
    CALENDARS,
    RULES,
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


def render_table(result: Plan) -> str:
    """A plain-text table: group, time, short id, KEEP/forget, reasons; then a summary line."""
    rows = [("GROUP", "TIME", "ID", "ACTION", "REASONS")]
    for d in result.decisions:
        action = "KEEP" if d.action == "keep" else "forget"
        rows.append(
            (
                d.group or "-",
                d.snapshot.time.isoformat(),
                d.snapshot.id[:8],
                action,
                "; ".join(r.text for r in d.reasons),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        for r in rows
    ]
    kept = len(result.kept())
    lines.append(
        f"{kept} kept, {len(result.decisions) - kept} to forget ({result.policy.describe()})"
    )
    return "\n".join(line.rstrip() for line in lines)


@click.command("plan")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Plan the configured store and policies.",
)
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
@click.option(
    "--now",
    "now_text",
    metavar="TIME",
    default=None,
    help="reference time (ISO 8601 with offset); default: now",
)
@click.option("--json", "as_json", is_flag=True, help="print the plan as JSON")
def command(
    config_path: str | None,
    from_restic: str | None,
    keep_tag: tuple[str, ...],
    keep_oldest: bool,
    group_by: str,
    restic_tz: tzinfo | None,
    now_text: str | None,
    as_json: bool,
    **keep: Any,
) -> int | None:
    """What would be kept or removed, and why (nothing is changed).

    Either the configured store and policies (--config F, default $BACKUPCTL_CONFIG, else
    ./backupctl.toml), or --from-restic FILE|- with restic's --keep-* flags, e.g.

        restic snapshots --json | backupctl plan --from-restic - --keep-daily 7 --keep-weekly 4
    """
    fields = parse_group_by(group_by)
    now = clock.parse_time(now_text, "--now") if now_text else clock.now()
    try:
        in_range = _EARLIEST <= now.astimezone(UTC) <= _LATEST
    except OverflowError:  # 0001-01-01T00:00:00+14:00: no UTC instant
        in_range = False
    if not in_range:
        raise UsageError(
            f"--now: {now_text!r} is outside the supported range: expected a time between "
            f"{_EARLIEST.isoformat()} and {_LATEST.isoformat()} (in UTC)"
        )
    if config_path is not None and from_restic is not None:
        raise UsageError("plan: give either --config or --from-restic, not both")
    if from_restic is None:
        if any(keep.values()) or keep_tag or keep_oldest:
            raise UsageError(
                "plan: --keep-* flags go with --from-restic FILE|-; "
                "with a config, the policies come from its [[policy]] tables"
            )
        return plan_command(
            config_path, as_json=as_json, now=now
        )  # None: $BACKUPCTL_CONFIG, ./backupctl.toml
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
    if as_json:
        click.echo(json.dumps(plan_to_json(result), indent=2))
    else:
        click.echo(render_table(result))
    return None


def plan_command(
    config_path: str | None, as_json: bool = False, now: datetime | None = None
) -> int:
    """``backupctl plan --config F``: print what ``prune`` would do; returns exit code 0.

    Raises:
        ConfigError: missing or bad config. StoreError: the store cannot be listed.
    """
    from backupctl.config import load_cli_config
    from backupctl.prune.runner import plan_store
    from backupctl.stores import open_store

    config = load_cli_config(config_path)
    now = now or clock.now()
    run, refusals = plan_store(config, open_store(config), now)
    if as_json:
        click.echo(json.dumps(run.to_json(refusals), indent=2))
    else:
        for line in render_plan(run, refusals):
            click.echo(line)
    return 0


def render_plan(run: RunPlan, refusals: Sequence[Refusal]) -> Iterator[str]:
    """The human table of a plan: one line per snapshot, then totals and what is left alone."""
    yield f"{'group':<12} {'time':<25} {'action':<7} reasons"
    for d in run.decisions():
        reasons = ", ".join(r.text for r in d.reasons) or "-"
        yield f"{d.group:<12} {d.snapshot.time.isoformat():<25} {d.action:<7} {reasons}"
    yield ""
    for name, g in run.groups.items():
        yield f"{name}: keep {len(g.kept())}, forget {len(g.forgotten())}"
    if run.resume:
        yield f"finish interrupted deletion: {len(run.resume)} snapshot(s)"
    yield from _left_alone(run)
    for r in refusals:
        yield f"REFUSED{'' if r.overridable else ' (absolute)'}: {r.message}"


def _left_alone(run: RunPlan) -> Iterator[str]:
    if run.unknown:
        yield f"unknown keys left alone: {len(run.unknown)}"
        yield from (f"  {k}" for k in run.unknown[:20])
        if len(run.unknown) > 20:
            yield f"  … and {len(run.unknown) - 20} more"
    if run.incomplete:
        yield (
            "incomplete snapshots (no manifest) left alone: "
            f"{', '.join(s.snapshot.id for s in run.incomplete)}"
        )
    if run.unmanaged:
        groups = sorted({s.snapshot.group for s in run.unmanaged})
        yield (
            "snapshots of groups without a policy left alone: "
            f"{len(run.unmanaged)} ({', '.join(groups)})"
        )
