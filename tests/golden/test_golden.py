"""Golden plans for the SLA presets over a year of deterministic history.

Regenerate with ``UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden``; review the diff by hand
against the SLA's words before committing (see the sanity test below).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from retention import SLA_APP, SLA_SERVER, Policy, Snapshot, plan

HERE = Path(__file__).parent
AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=AMS)
MISSING_DAYS = {"2026-02-14", "2026-06-01", "2026-10-25", "2026-11-18"}  # backups that failed


def app_history() -> list[Snapshot]:
    """sla-app: 4 backups a day (00/06/12/18 UTC, recorded in UTC) for a year.

    The newest is at 06:00 today.
    """
    start = datetime(2025, 11, 23, 0, 0, tzinfo=UTC)
    return [
        Snapshot(f"app-{i:04d}", start + timedelta(hours=6 * i), group="app")
        for i in range(365 * 4 + 2)
    ]


def server_history() -> list[Snapshot]:
    """sla-server: daily at 02:00 Europe/Amsterdam for a year (a few days missing).

    The times carry fixed offsets.
    """
    out = []
    for n in range(366):
        day = datetime(2025, 11, 23, 2, 0, tzinfo=AMS) + timedelta(days=n)
        day = datetime(day.year, day.month, day.day, 2, 0, tzinfo=AMS)  # 02:00 local each day
        if day.date().isoformat() in MISSING_DAYS or day > NOW:
            continue
        out.append(
            Snapshot(f"srv-{day:%Y%m%d}", datetime.fromisoformat(day.isoformat()), group="server")
        )
    return out


CASES: dict[str, tuple[Policy, Any]] = {
    "sla-app": (SLA_APP, app_history),
    "sla-server": (SLA_SERVER, server_history),
}


def _render(name: str) -> dict[str, Any]:
    policy, history = CASES[name]
    result = plan(history(), policy, now=NOW)
    return {
        "preset": name,
        "policy": policy.describe(),
        "now": NOW.isoformat(),
        "decisions": [
            {
                "id": d.snapshot.id,
                "time": d.snapshot.time.isoformat(),
                "action": d.action,
                "reasons": [r.text for r in d.reasons],
            }
            for d in result.decisions
        ],
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    path = HERE / f"{name}.json"
    actual = _render(name)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(actual, indent=1) + "\n")
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1"
    assert json.loads(path.read_text()) == actual


def test_server_golden_says_what_the_sla_says() -> None:
    """What the SLA says is kept, and nothing else.

    7 dailies, the weeklies of the last 4 weeks, the monthlies of the last 6 months.
    """
    decisions = json.loads((HERE / "sla-server.json").read_text())["decisions"]
    kept = [d for d in decisions if d["action"] == "keep"]
    daily = [d for d in kept if any(r.startswith("daily") for r in d["reasons"])]
    weekly = [d for d in kept if any(r.startswith("weekly") for r in d["reasons"])]
    monthly = [d for d in kept if any(r.startswith("monthly") for r in d["reasons"])]
    assert len(daily) == 7 - 1  # 2026-11-18 is missing: 7 days back from 2026-11-23 02:00 hold 6
    assert 4 <= len(weekly) <= 5 and 6 <= len(monthly) <= 7
    assert min(d["time"] for d in kept) >= "2026-05-23"
    assert len(kept) == len({d["id"] for d in daily + weekly + monthly})


def test_app_golden_keeps_two_months() -> None:
    decisions = json.loads((HERE / "sla-app.json").read_text())["decisions"]
    kept = [d for d in decisions if d["action"] == "keep"]
    assert all(d["reasons"] == ["within 2m"] for d in kept)
    oldest = min(datetime.fromisoformat(d["time"]) for d in kept)
    assert datetime(2026, 9, 23, 6, tzinfo=UTC) < oldest <= datetime(2026, 9, 23, 12, tzinfo=UTC)
    assert len(kept) == 61 * 4  # 23 Sep 12:00 .. 23 Nov 06:00, 4 a day
