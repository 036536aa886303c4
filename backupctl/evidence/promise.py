"""The backup promise in plain words, generated from the config: what the proof page states.

An auditor reads "app backups 4×/day, kept 2 months; server backups daily at 02:00, daily
kept 7 days, weekly 4 weeks, monthly 6 months; restore live within 1 working day", not
``keep_within_daily=7d``. Everything here is pure: a policy, a cron line and the drill target
in, a sentence out. The sentence is derived from the same :class:`~retention.Policy` the
planner uses, so it cannot disagree with what prune keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from croniter import croniter

from retention import CALENDARS, RULES, Duration, Policy

__all__ = ["GroupPromise", "duration_words", "policy_words", "promise_text", "schedule_words"]

_UNITS = (("years", "year"), ("months", "month"), ("weeks", "week"), ("days", "day"))
_BUCKET = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month", "yearly": "year"}


@dataclass(frozen=True)
class GroupPromise:
    """One group's part of the promise: its name, policy and cron schedule (None: none)."""

    group: str
    policy: Policy
    schedule: str | None = None


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def duration_words(d: Duration) -> str:
    """``Duration(months=2)`` -> ``2 months``; ``1y2m`` -> ``1 year 2 months``; ``36h`` -> ``36
    hours``; a zero duration -> ``0 days``."""
    parts = [_plural(getattr(d, field), noun) for field, noun in _UNITS if getattr(d, field)]
    if d.hours:
        parts.append(_plural(d.hours, "hour"))
    return " ".join(parts) or "0 days"


def schedule_words(cron: str | None) -> str:
    """How often a cron line runs, as people say it.

    ``0 0,6,12,18 * * *`` -> ``4×/day``; ``0 2 * * *`` -> ``daily at 02:00``; ``0 * * * *`` ->
    ``hourly``; ``*/15 * * * *`` -> ``96×/day``; ``0 3 * * 0`` -> ``weekly (Sun) at 03:00``;
    ``30 2 * * 1-5`` -> ``5×/week``; anything else (a day of the month, a month) -> ``on
    schedule `…```. None -> ``unscheduled``.
    """
    if not cron:
        return "unscheduled"
    try:
        fields, _ = croniter.expand(cron)
    except (ValueError, KeyError, TypeError):
        return f"on schedule `{cron}`"
    minutes, hours, dom, month, dow = fields[:5]
    per_hour = 60 if minutes == ["*"] else len(minutes)
    per_day = per_hour * (24 if hours == ["*"] else len(hours))
    if dom != ["*"] or month != ["*"]:
        return f"on schedule `{cron}`"
    at = (
        f" at {int(hours[0]):02d}:{int(minutes[0]):02d}"
        if per_day == 1 and hours != ["*"] and minutes != ["*"]
        else ""
    )
    if dow != ["*"]:
        days = sorted({int(d) % 7 for d in dow})
        if len(days) == 7:
            dow = ["*"]
        elif per_day == 1 and len(days) == 1:
            names = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
            return f"weekly ({names[days[0]]}){at}"
        else:
            return f"{per_day * len(days)}×/week"
    if per_day == 1:
        return f"daily{at}"
    if per_day == 24 and per_hour == 1:
        return "hourly"
    return f"{per_day}×/day"


def _count_words(name: str, n: int) -> str:
    if name == "last":
        return "the last backup" if n == 1 else f"the last {n} backups"
    if n < 0:
        return f"{name} kept forever"
    return f"{name} for the last {_plural(n, _BUCKET[name])}"


def policy_words(policy: Policy) -> list[str]:
    """The retention rules of ``policy`` as phrases, longest-lived promise last.

    ``keep_within = "2m"`` -> ``["kept 2 months"]``; the SLA's server preset -> ``["daily kept
    7 days", "weekly 4 weeks", "monthly 6 months"]``; ``keep_daily = 7`` -> ``["daily for the
    last 7 days"]``; ``keep_monthly = -1`` -> ``["monthly kept forever"]``; tags -> ``["tagged
    a,b kept forever"]``. The first within-bucket phrase says "kept", the later ones leave it
    out, as a person would.
    """
    out: list[str] = []
    if not policy.keep_within.is_zero():
        out.append(f"kept {duration_words(policy.keep_within)}")
    said_kept = bool(out)
    for rule in CALENDARS:
        within = policy.within(rule.name)
        if not within.is_zero():
            verb = "" if said_kept else "kept "
            out.append(f"{rule.name} {verb}{duration_words(within)}")
            said_kept = True
    for rule in RULES:
        n = policy.count(rule.name)
        if n:
            out.append(_count_words(rule.name, n))
    if policy.keep_tags:
        tags = " or ".join(",".join(t) for t in policy.keep_tags)
        out.append(f"tagged {tags} kept forever")
    if policy.keep_oldest:
        out.append("and the oldest while a count is not used up")
    return out or ["nothing kept (empty policy)"]


def promise_text(groups: Sequence[GroupPromise], drill_target: str | None) -> str:
    """The whole promise, one clause per group then the restore target.

    ``app backups 4×/day, kept 2 months; server backups daily at 02:00, daily kept 7 days,
    weekly 4 weeks, monthly 6 months; restore live within 1 working day``.
    """
    clauses = [
        f"{g.group} backups {schedule_words(g.schedule)}, " + ", ".join(policy_words(g.policy))
        for g in groups
    ]
    if drill_target:
        clauses.append(f"restore live within {drill_target}")
    return "; ".join(clauses)
