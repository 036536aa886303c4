"""Pure retention domain: snapshots, policies and plans. No I/O; "now" is a parameter."""

from retention.buckets import CALENDARS, RULES, Rule
from retention.duration import Duration, DurationError, add_duration, go_add_date
from retention.planner import (
    GROUP_FIELDS,
    Decision,
    EmptyPolicyError,
    Plan,
    Reason,
    group_key,
    plan,
)
from retention.policy import COUNT_RULES, WITHIN_RULES, Policy, PolicyError
from retention.presets import PRESETS, SLA_APP, SLA_SCHEDULES, SLA_SERVER
from retention.snapshot import Snapshot

__all__ = [
    "CALENDARS",
    "COUNT_RULES",
    "GROUP_FIELDS",
    "PRESETS",
    "RULES",
    "SLA_APP",
    "SLA_SCHEDULES",
    "SLA_SERVER",
    "WITHIN_RULES",
    "Decision",
    "Duration",
    "DurationError",
    "EmptyPolicyError",
    "Plan",
    "Policy",
    "PolicyError",
    "Reason",
    "Rule",
    "Snapshot",
    "add_duration",
    "go_add_date",
    "group_key",
    "plan",
]
