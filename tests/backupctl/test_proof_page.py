"""The proof page's promise wording (pure) and the model's deletion counts."""

from __future__ import annotations

import pytest

from backupctl.evidence.promise import (
    GroupPromise,
    duration_words,
    policy_words,
    promise_text,
    schedule_words,
)
from backupctl.evidence.proof_html import render_html
from backupctl.evidence.proof_model import deletion_counts
from retention import Duration, Policy
from retention.presets import PRESETS


def test_the_sla_promise_in_plain_words() -> None:
    text = promise_text(
        [
            GroupPromise("app", PRESETS["sla-app"], "0 0,6,12,18 * * *"),
            GroupPromise("server", PRESETS["sla-server"], "0 2 * * *"),
        ],
        "1 working day",
    )
    assert text == (
        "app backups 4×/day, kept 2 months; server backups daily at 02:00, daily kept 7 days, "
        "weekly 4 weeks, monthly 6 months; restore live within 1 working day"
    )


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        (Policy(keep_daily=7), ["daily for the last 7 days"]),
        (Policy(keep_last=1, keep_weekly=4), ["the last backup", "weekly for the last 4 weeks"]),
        (Policy(keep_monthly=-1), ["monthly kept forever"]),
        (Policy(keep_within=Duration(years=1, months=2)), ["kept 1 year 2 months"]),
        (Policy(keep_within_hourly=Duration(hours=36)), ["hourly kept 36 hours"]),
        (Policy(keep_tags=(("a", "b"), ("c",))), ["tagged a,b or c kept forever"]),
        (Policy(), ["nothing kept (empty policy)"]),
    ],
)
def test_policy_words(policy: Policy, words: list[str]) -> None:
    assert policy_words(policy) == words


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 * * * *", "hourly"),
        ("*/15 * * * *", "96×/day"),
        ("0 3 * * 0", "weekly (Sun) at 03:00"),
        ("30 2 * * 1-5", "5×/week"),
        ("0 1 1 * *", "on schedule `0 1 1 * *`"),
        ("not a cron", "on schedule `not a cron`"),
        (None, "unscheduled"),
    ],
)
def test_schedule_words(cron: str | None, words: str) -> None:
    assert schedule_words(cron) == words


def test_duration_words() -> None:
    assert duration_words(Duration(weeks=1, days=2)) == "1 week 2 days"
    assert duration_words(Duration()) == "0 days"


def test_deletion_counts_add_up_and_name_the_older_ones() -> None:
    items = [
        {"group": "app", "before_period": True},
        {"group": "app", "before_period": False},
        {"group": "server", "before_period": False},
    ]
    c = deletion_counts(items, ["app", "server", "empty"])
    assert c["total"] == 3 == sum(g["total"] for g in c["groups"].values())
    assert (c["before_period"], c["in_period"]) == (1, 2)
    assert c["groups"]["app"] == {"total": 2, "before_period": 1, "in_period": 1}
    assert c["groups"]["empty"] == {"total": 0, "before_period": 0, "in_period": 0}


def test_a_hostile_forced_reason_and_why_are_escaped() -> None:
    evil = "<script>alert(1)</script>"
    proof = {
        "period": {"from": "2026-01-01T00:00:00+01:00", "to": "2026-02-01T00:00:00+01:00"},
        "generated_at": "2026-02-01T10:00:00+01:00",
        "config": {"path": "c", "sha256": "0" * 64, "timezone": evil, "store": "file:///s"},
        "verdict": {"ok": True, "summary": "PASS", "findings": []},
        "promise": {"text": evil, "drill_target": evil},
        "forced": [{"time": evil, "actor": evil, "reason": evil, "seq": 1, "refusals": [{}]}],
        "protected": [{"id": evil, "time": evil, "reasons": [evil], "at": evil}],
        "deletion_counts": deletion_counts([], []),
        "groups": {},
        "snapshots": [],
        "deletions": [{"id": evil, "group": "g", "time": evil, "deleted_at": evil, "why": [evil]}],
        "drills": [],
        "audit": {"ok": True, "records": 1, "head": "h", "problems": []},
        "verify": {"violations": [], "checked": {"at": evil}},
    }
    page = render_html(proof, "0" * 64)
    assert "<script" not in page and "&lt;script&gt;" in page
    # one clock: the header's times as people read them (the zone is hostile here: own offsets)
    assert ">2026-01-01 00:00:00 UTC+01:00</time> to" in page
    assert "Period 2026-01-01T00" not in page


def test_an_older_intent_without_why_says_not_kept_by_policy() -> None:
    from backupctl.evidence.proof_model import deletions

    old = {"id": "app/1", "group": "app", "time": "2026-01-01T00:00:00+01:00", "reason": "x"}
    new = {**old, "id": "app/2", "why": ["outside within 2m (cut-off 2026-01-02 00:00:00 CET)"]}
    records = [
        {"action": "prune.intent", "data": {"delete": [old, new]}},
        {"action": "prune.result", "time": "t", "data": {"deleted": ["app/1", "app/2", "app/3"]}},
    ]
    why = {d["id"]: d["why"] for d in deletions(records)}
    assert why == {
        "app/1": ["not kept by policy"],
        "app/2": ["outside within 2m (cut-off 2026-01-02 00:00:00 CET)"],
        "app/3": ["not recorded in a prune.intent"],
    }
