"""simulate: the daily incremental prune ends with the planner's kept set on the same history."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from backupctl.cli import main
from backupctl.simulate import SimGroup, simulate
from retention import SLA_APP, SLA_SERVER, Duration, Policy, plan
from retention.schedule import Schedule

AMS = ZoneInfo("Europe/Amsterdam")
SLA = [
    SimGroup("app", "app", SLA_APP, Schedule("0 0,6,12,18 * * *", AMS)),
    SimGroup("server", "server", SLA_SERVER, Schedule("0 2 * * *", AMS)),
]


def test_a_year_of_the_sla_runs_in_seconds_and_equals_the_planner() -> None:
    started = time.monotonic()
    sim = simulate(SLA, start=date(2026, 1, 1), days=365, zone=AMS)
    assert time.monotonic() - started < 10
    # the last prune runs at 2026-12-31 03:00: that day has only its 00:00 app backup and 02:00
    # server backup
    assert len(sim.history["app"]) == 364 * 4 + 1 and len(sim.history["server"]) == 365
    for g in SLA:
        full = plan(sim.history[g.group], g.policy, now=sim.end)
        assert {d.snapshot.id for d in sim.final[g.group]} == {d.snapshot.id for d in full.kept()}
    last = [r for r in sim.rows if r.day == date(2026, 12, 31)]
    server = next(r for r in last if r.group == "server")
    assert server.kept == 15 and server.tiers == {"daily": 7, "weekly": 5, "monthly": 6}
    app = next(r for r in last if r.group == "app")
    assert app.tiers == {"within": app.kept} and 240 <= app.kept <= 250


@settings(max_examples=25, deadline=None)
@given(
    start=st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31)),
    days=st.integers(min_value=1, max_value=120),
    policy=st.sampled_from(
        [
            SLA_SERVER,
            Policy(keep_daily=4, keep_weekly=3, keep_monthly=2),
            Policy(keep_last=5, keep_within_weekly=Duration(weeks=3)),
            Policy(keep_hourly=10, keep_yearly=-1),
        ]
    ),
    cron=st.sampled_from(["0 2 * * *", "30 2 * * *", "0 */5 * * *", "0 3 * * 1,4"]),
)
def test_incremental_prune_equals_planning_the_whole_history(
    start: date, days: int, policy: Policy, cron: str
) -> None:
    sim = simulate(
        [SimGroup("g", "g", policy, Schedule(cron, AMS))], start=start, days=days, zone=AMS
    )
    full = plan(sim.history["g"], policy, now=sim.end).kept() if sim.history["g"] else []
    assert [d.snapshot.id for d in sim.final["g"]] == [d.snapshot.id for d in full]


def test_simulate_command_text_and_json(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'timezone = "Europe/Amsterdam"\n[store]\nurl = "file:///nonexistent"\n'
        '[[policy]]\nname = "server"\nschedule = "0 2 * * *"\npreset = "sla-server"\n'
    )
    runner = CliRunner()
    text = runner.invoke(
        main, ["simulate", "--days", "40", "--config", str(cfg), "--start", "2026-03-01"]
    )
    assert text.exit_code == 0, text.output
    assert "2026-03-29" in text.output and "final kept set of server" in text.output
    out = runner.invoke(
        main, ["simulate", "--days", "10", "--config", str(cfg), "--start", "2026-03-25", "--json"]
    )
    data = json.loads(out.output)
    assert [d["kept"] for d in data["days"]] == [1, 2, 3, 4, 5, 6, 7, 7, 7, 7]
    assert data["final"]["server"][-1]["time"] == "2026-04-03T02:00:00+02:00"
    bad = runner.invoke(main, ["simulate", "--days", "0", "--config", str(cfg)])
    assert bad.exit_code == 2 and "--days" in bad.output


def test_dst_night_backup_appears_at_0300() -> None:
    sim = simulate(SLA[1:], start=date(2026, 3, 28), days=3, zone=AMS)
    assert [s.time.isoformat() for s in sim.history["server"]] == [
        "2026-03-28T02:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:00:00+02:00",
    ]
    # the 03:00 backup exists at the 03:00 prune of that day (it counts: times are inclusive)
    assert [r.added for r in sim.rows] == [1, 1, 1]
    assert (
        sim.end.timestamp() - sim.start.timestamp() == timedelta(days=2, hours=2).total_seconds()
    )  # 1 h lost
