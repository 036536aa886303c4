"""Pure retention domain: snapshots, policies and plans. No I/O; "now" is a parameter."""

from retention.duration import Duration, DurationError, go_add_date
from retention.planner import GROUP_FIELDS, Decision, EmptyPolicyError, Plan, Reason, group_key, plan
from retention.policy import COUNT_RULES, WITHIN_RULES, Policy, PolicyError
from retention.presets import PRESETS, SLA_APP, SLA_SCHEDULES, SLA_SERVER
from retention.snapshot import Snapshot

__all__ = [
    "COUNT_RULES", "GROUP_FIELDS", "PRESETS", "SLA_APP", "SLA_SCHEDULES", "SLA_SERVER", "WITHIN_RULES",
    "Decision", "Duration", "DurationError", "EmptyPolicyError", "Plan", "Policy", "PolicyError",
    "Reason", "Snapshot", "go_add_date", "group_key", "plan",
]
