"""Bad input from the user (issue 11, part 5).

One clear line naming the key, exit 2, never a traceback.

Huge durations and counts, schedules that never fire or fire every second, drill deadlines at
the ends of the datetime range, absurd drill targets and restic times that Python cannot place.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from backupctl.cli import main
from backupctl.seed import DirWriter, write_snapshot

AT = "2026-11-21T12:00:00+01:00"
HUGE = ["9" * 5000 + "d", "10000y", "2147483648d", "99999999999h"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store")
    writer = DirWriter(root)
    start = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
    for i in range(20):
        write_snapshot(writer, "app", start + timedelta(days=i), {"a": b"x"})
    return root


def _config(
    tmp_path: Path, store: Path, *, policy: str = "keep_last = 3", safety: str = "", drill: str = ""
) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(
        f'timezone = "Europe/Amsterdam"\n[store]\nurl = "file://{store}"\n[safety]\n{safety}\n'
        f'[drill]\n{drill}\n[[policy]]\nname = "app"\n{policy}\n'
    )
    return path


def _run(args: list[str]) -> Result:
    return CliRunner().invoke(main, args)


def _assert_usage(result: Result, *needles: str) -> None:
    """Exit 2, no traceback, and one line of the error names every needle."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if all(n in line for n in needles)]
    assert lines, (needles, result.stderr)
    assert all(len(line) < 400 for line in lines)


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("policy", "keep_within"),
        ("policy", "keep_within_daily"),
        ("policy", "keep_within_yearly"),
        ("policy", "tolerance"),
        ("safety", "stale_after"),
        ("safety", "clock_skew"),
        ("safety", "lock_ttl"),
    ],
)
def test_huge_duration_in_config_is_refused(
    tmp_path: Path, store: Path, section: str, key: str, value: str
) -> None:
    line = f'{key} = "{value}"'
    if section == "policy":
        cfg = _config(tmp_path, store, policy=f'schedule = "0 2 * * *"\nkeep_last = 3\n{line}')
    else:
        cfg = _config(tmp_path, store, policy='schedule = "0 2 * * *"\nkeep_last = 3', safety=line)
    _assert_usage(_run(["verify", "--config", str(cfg), "--at", AT]), key, "expected")


@pytest.mark.parametrize("value", HUGE)
def test_huge_keep_within_flag_is_refused(tmp_path: Path, value: str) -> None:
    snaps = tmp_path / "s.json"
    snaps.write_text(
        json.dumps(
            [{"id": "a" * 64, "time": "2026-01-01T00:00:00Z", "paths": ["/d"], "hostname": "h"}]
        )
    )
    _assert_usage(
        _run(["plan", "--from-restic", str(snaps), "--keep-within", value]), "--keep-within"
    )


@pytest.mark.parametrize("count", [2147483648, 10**30])
@pytest.mark.parametrize("key", ["keep_last", "keep_daily", "keep_hourly", "keep_yearly"])
def test_huge_count_in_config_is_refused(tmp_path: Path, store: Path, key: str, count: int) -> None:
    cfg = _config(tmp_path, store, policy=f'schedule = "0 2 * * *"\n{key} = {count}')
    _assert_usage(_run(["verify", "--config", str(cfg), "--at", AT]), key, "1000000")


@pytest.mark.parametrize(
    "key", ["keep_last", "keep_daily", "keep_hourly", "keep_weekly", "keep_yearly"]
)
def test_the_largest_count_with_a_schedule_verifies_quickly(
    tmp_path: Path, store: Path, key: str
) -> None:
    cfg = _config(tmp_path, store, policy=f'schedule = "0 2 * * *"\n{key} = 1000000')
    started = time.monotonic()
    result = _run(["verify", "--config", str(cfg), "--at", AT, "--json"])
    assert result.exit_code in (0, 3), (result.exception, result.output)
    assert json.loads(result.stdout)["checked"]["groups"]["app"]["snapshots"] == 20
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    ("cron", "needle"),
    [
        ("0 0 30 2 *", "never"),
        ("0 0 31 4 *", "never"),
        ("* * * * * * *", "5 fields"),
        ("* * * * * *", "5 fields"),
        ("1-0 * * * *", "backwards"),
        ("0 5-2 * * *", "backwards"),
        ("@reboot", "expected"),
    ],
)
def test_bad_schedules_are_refused_at_load(
    tmp_path: Path, store: Path, cron: str, needle: str
) -> None:
    cfg = _config(tmp_path, store, policy=f'schedule = "{cron}"\nkeep_within_daily = "7d"')
    started = time.monotonic()
    _assert_usage(_run(["verify", "--config", str(cfg), "--at", AT]), "schedule", needle)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "cron",
    ["@daily", "@yearly", "@annually", "@monthly", "@weekly", "@midnight", "@hourly", "0 0 29 2 *"],
)
def test_cron_aliases_and_rare_schedules_verify(tmp_path: Path, store: Path, cron: str) -> None:
    cfg = _config(
        tmp_path, store, policy=f'schedule = "{cron}"\nkeep_within_daily = "7d"\nkeep_last = 3'
    )
    result = _run(["verify", "--config", str(cfg), "--at", AT, "--json"])
    assert result.exit_code in (0, 3), (result.exception, result.output)
    assert json.loads(result.stdout)["checked"]["groups"]["app"]["schedule"]["cron"] == cron


def test_every_minute_schedule_is_bounded(tmp_path: Path, store: Path) -> None:
    cfg = _config(tmp_path, store, policy='schedule = "* * * * *"\nkeep_within_daily = "7d"')
    started = time.monotonic()
    result = _run(["verify", "--config", str(cfg), "--at", "2026-11-03T12:00:00+01:00", "--json"])
    assert result.exit_code in (0, 3), (result.exception, result.output)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    "start",
    [
        "0001-01-01T00:00:00+00:00",
        "9999-12-31T23:59:59+00:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
    ],
)
def test_drill_deadline_at_the_ends_of_time(start: str) -> None:
    result = _run(["drill", "deadline", "--from", start])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    if result.exit_code != 0:
        _assert_usage(result, "--from")


@pytest.mark.parametrize(
    ("drill", "key"),
    [
        ('target = "99999999999 working days"', "drill.target"),
        ('target = "100000 working hours"', "drill.target"),
        ("working_day_hours = nan", "drill.working_day_hours"),
        ("working_day_hours = inf", "drill.working_day_hours"),
        ("working_day_hours = 25", "drill.working_day_hours"),
        ("live_check_timeout = nan", "drill.live_check_timeout"),
    ],
)
def test_absurd_drill_settings_are_refused(
    tmp_path: Path, store: Path, drill: str, key: str
) -> None:
    cfg = _config(tmp_path, store, drill=drill)
    _assert_usage(
        _run(["drill", "deadline", "--from", "2026-11-20T10:00:00+01:00", "--config", str(cfg)]),
        key,
        "expected",
    )


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00"]
)
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Europe/Amsterdam", "UTC", None])
def test_restic_time_at_the_ends_of_time(tmp_path: Path, when: str, zone: str | None) -> None:
    snaps = tmp_path / "s.json"
    snaps.write_text(
        json.dumps(
            [
                {"id": "a" * 64, "time": when, "paths": ["/d"], "hostname": "h"},
                {"id": "b" * 64, "time": "2026-01-01T00:00:00Z", "paths": ["/d"], "hostname": "h"},
            ]
        )
    )
    args = ["plan", "--from-restic", str(snaps), "--keep-within", "1d", "--keep-daily", "3"]
    _assert_usage(
        _run(args + (["--restic-tz", zone] if zone else [])), "snapshot 0", "time", "expected"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("verify.integrity_sample", "1" + "0" * 400),
        ("drill.workers", "1" + "0" * 400),
        ("drill.workers", "0"),
    ],
)
def test_huge_integers_are_refused_naming_the_key(
    tmp_path: Path, store: Path, key: str, value: str
) -> None:
    """Found by the soak fuzz: integrity_sample = 10**400 was an OverflowError.

    It came from the float of a huge int.
    """
    section, name = key.split(".")
    config = tmp_path / "c.toml"
    config.write_text(
        f'[store]\nurl = "file://{store}"\n[{section}]\n{name} = {value}\n'
        '[[policy]]\nname = "app"\nkeep_last = 1\n'
    )
    result = CliRunner().invoke(main, ["plan", "--config", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    assert (
        key in result.output
        and "positive integer" in result.output
        and "Traceback" not in result.output
    )


def test_the_missing_restic_password_line_is_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The redaction of ``password: value`` pairs once masked our own advice ("no restic
    password: *** store.restic_password_file"); the line names both keys in full."""
    for name in ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "c.toml"
    config.write_text(
        f'[store]\nurl = "restic:{tmp_path}/repo"\n[[policy]]\nname = "app"\nkeep_last = 3\n'
    )
    result = CliRunner().invoke(main, ["plan", "--config", str(config)])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert "store.restic_password_file" in line and "store.restic_password_env" in line
    assert "***" not in line
