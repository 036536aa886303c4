"""A retention policy as plain frozen data, with restic's rule names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from retention.buckets import CALENDARS, COUNT_RULES, RULES, WITHIN_RULES
from retention.duration import Duration, DurationError

__all__ = ["COUNT_RULES", "MAX_COUNT", "WITHIN_RULES", "Policy", "PolicyError", "count_problem"]

_ZERO = Duration()
MAX_COUNT = 1_000_000
"""The largest count a config may give (``keep_daily = 1000000`` …); -1 is unlimited."""


def count_problem(value: object, most: int | None = MAX_COUNT) -> str | None:
    """None when ``value`` is a count: an integer from -1 (unlimited) to ``most`` (None: no
    upper bound); else one line saying what was expected, for any caller to prefix with the key.
    The one check of counts: the config (``most`` = :data:`MAX_COUNT`), the ``plan --keep-*``
    flags (Go's int range) and :class:`Policy` itself (no upper bound)."""
    if (
        not isinstance(value, bool)
        and isinstance(value, int)
        and value >= -1
        and (most is None or value <= most)
    ):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 10**30:
        shown = f"a {len(str(value))}-digit number"
    else:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"
    upto = "" if most is None else f" to {most}"
    return f"{shown} is not a count: expected an integer from -1 (unlimited){upto}; 0 = off"


class PolicyError(ValueError):
    """A policy mapping with wrong keys or values; ``problems`` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Policy:
    """Which snapshots of one group to keep.

    Counts: 0 = rule off, -1 = unlimited (restic >= 0.15 semantics), n > 0 = the newest
    snapshot of each of the ``n`` newest buckets. Durations are measured back from the
    group's newest snapshot that is not in the future. ``keep_tags`` is a tuple of tag
    lists: a snapshot carrying every tag of any one list is kept. ``keep_oldest``
    is restic 0.16's rule: while a count is not used up, also keep the group's oldest
    snapshot (off by default, so the default equals restic 0.14).
    """

    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_within: Duration = _ZERO
    keep_within_hourly: Duration = _ZERO
    keep_within_daily: Duration = _ZERO
    keep_within_weekly: Duration = _ZERO
    keep_within_monthly: Duration = _ZERO
    keep_within_yearly: Duration = _ZERO
    keep_tags: tuple[tuple[str, ...], ...] = field(default=())
    keep_oldest: bool = False

    def __post_init__(self) -> None:
        for name in COUNT_RULES:
            problem = count_problem(getattr(self, name), None)
            if problem is not None:
                raise PolicyError([f"{name}: {problem}"])

    def count(self, name: str) -> int:
        """The count of the rule ``name`` of :data:`~retention.buckets.RULES`: ``count("daily")``
        is ``keep_daily`` (0 = off, -1 = unlimited).

        Raises:
            KeyError: no such rule.
        """
        value: int = getattr(self, _COUNT_FIELD[name])
        return value

    def within(self, name: str) -> Duration:
        """The duration of the within rule of the calendar rule ``name``: ``within("daily")`` is
        ``keep_within_daily`` (zero = off). The plain ``keep_within`` is its own field.

        Raises:
            KeyError: no such calendar rule.
        """
        value: Duration = getattr(self, _WITHIN_FIELD[name])
        return value

    def is_empty(self) -> bool:
        """True when no rule would keep anything (restic refuses such a policy)."""
        return (
            all(self.count(r.name) == 0 for r in RULES)
            and self.keep_within.is_zero()
            and all(self.within(r.name).is_zero() for r in CALENDARS)
            and not self.keep_tags
        )

    def describe(self) -> str:
        """One line naming the active rules, e.g. ``keep_within_daily=7d keep_last=3``."""
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "keep_tags" and value:
                parts.append("keep_tag=" + ";".join(",".join(t) for t in value))
            elif (f.name in COUNT_RULES and value) or (
                f.name in WITHIN_RULES and not value.is_zero()
            ):
                parts.append(f"{f.name}={value}")
            elif f.name == "keep_oldest" and value:
                parts.append("keep_oldest")
        return " ".join(parts) or "(empty policy)"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, where: str = "policy") -> Policy:
        """Build a policy from config-style keys (``keep_daily = 7``, ``keep_within = "2m"``,
        ``keep_tag = ["a,b", "c"]``). Keys that are not rules are ignored. Counts are at most
        :data:`MAX_COUNT`; durations use the strict :meth:`Duration.parse` syntax.

        Raises:
            PolicyError: listing every bad value, each prefixed with ``where``.
        """
        problems: list[str] = []
        kwargs: dict[str, Any] = {}
        for name in COUNT_RULES:
            if name in data:
                problem = count_problem(data[name])
                if problem is None:
                    kwargs[name] = data[name]
                else:
                    problems.append(f"{where}.{name}: {problem}")
        for name in WITHIN_RULES:
            if name in data:
                value = data[name]
                try:
                    kwargs[name] = (
                        Duration.parse(str(value))
                        if isinstance(value, str)
                        else _bad_duration(value)
                    )
                except DurationError as exc:
                    problems.append(f"{where}.{name}: {exc}")
        if "keep_tag" in data:
            tags = _parse_tags(data["keep_tag"])
            if tags is None:
                problems.append(
                    f'{where}.keep_tag: expected a list of strings like "app,db", '
                    f"got {data['keep_tag']!r}"
                )
            else:
                kwargs["keep_tags"] = tags
        if "keep_oldest" in data:
            if isinstance(data["keep_oldest"], bool):
                kwargs["keep_oldest"] = data["keep_oldest"]
            else:
                problems.append(
                    f"{where}.keep_oldest: expected true or false, got {data['keep_oldest']!r}"
                )
        if problems:
            raise PolicyError(problems)
        return cls(**kwargs)


_COUNT_FIELD: dict[str, str] = {r.name: r.count_key for r in RULES}
_WITHIN_FIELD: dict[str, str] = {r.name: r.within_key for r in CALENDARS}
_RULE_FIELDS = {f.name for f in fields(Policy)} - {"keep_tags", "keep_oldest"}
if {
    *COUNT_RULES,
    *WITHIN_RULES,
} != _RULE_FIELDS:  # a table row without its Policy fields fails at import
    raise TypeError(f"retention.buckets.RULES and Policy's fields disagree: {sorted(_RULE_FIELDS)}")


def _bad_duration(value: object) -> Duration:
    raise DurationError(f"expected a duration string such as '7d' or '2m', got {value!r}")


def _parse_tags(value: object) -> tuple[tuple[str, ...], ...] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(tuple(v.split(",")) for v in value)
