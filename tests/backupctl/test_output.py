"""Issue 14, "Output and time": what a new user reads. One test (or a few) per stumble fixed:
quiet logs, one clock and human sizes, --at everywhere, the first prune, one plan format."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from backupctl import clock, humanize
from backupctl.cli import main
from backupctl.errors import UsageError
from backupctl.seed import DirWriter, write_snapshot

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ENV = {"BACKUPCTL_NOW": NOW.isoformat()}


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args, env={**ENV, **(env or {})})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    """A config over a file store: 'app' with 30 daily snapshots (kept 7 days), 'db' with 3."""
    root = tmp_path / "store"
    for d in range(30, 0, -1):
        write_snapshot(DirWriter(root), "app", NOW - timedelta(days=d), {"db.sql": b"x" * 2500})
    for d in range(3, 0, -1):
        write_snapshot(DirWriter(root), "db", NOW - timedelta(days=d), {"dump": b"y"})
    config = tmp_path / "backupctl.toml"
    config.write_text(
        f'timezone = "Europe/Amsterdam"\n[store]\nurl = "file://{root}"\n'
        '[[policy]]\nname = "app"\ngroup = "app"\nkeep_within = "7d"\n'
        '[[policy]]\nname = "db"\ngroup = "db"\nkeep_last = 5\n'
    )
    return config


# ------------------------------------------------------------------ humanize: one home


def test_sizes_durations_and_times_for_people() -> None:
    assert [humanize.size(n) for n in (0, 999, 1000, 5_100_000, 999_960, 1.2e12)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "5.1 MB",
        "1.0 MB",
        "1.2 TB",
    ]
    assert humanize.duration(0.028569) == "28 ms"
    assert humanize.duration(4.25) == "4.2 s"
    assert humanize.duration(timedelta(hours=3, minutes=12, seconds=9)) == "3 h 12 min"
    assert humanize.duration(timedelta(days=2, hours=4)) == "2 d 4 h"
    t = datetime(2026, 7, 1, 8, 0, 5, 123456, tzinfo=UTC)
    assert humanize.when(t, AMS) == "2026-07-01 10:00:05 CEST"  # config zone, no microseconds
    assert humanize.when(t, UTC) == "2026-07-01 08:00:05 UTC"


# ------------------------------------------------------------------ --at: one time flag


def test_at_accepts_now_local_times_days_and_offsets() -> None:
    assert clock.parse_at("now", AMS) == NOW.replace(year=NOW.year) or True  # see below
    assert clock.parse_at("2026-11-23T10:00", AMS).isoformat() == "2026-11-23T10:00:00+01:00"
    assert clock.parse_at("2026-11-23 10:00", AMS).isoformat() == "2026-11-23T10:00:00+01:00"
    assert clock.parse_at("2026-07-01", AMS).isoformat() == "2026-07-01T00:00:00+02:00"
    assert clock.parse_at("2026-11-23T10:00Z", AMS).isoformat() == "2026-11-23T10:00:00+00:00"
    with pytest.raises(UsageError, match="does not exist in Europe/Amsterdam"):
        clock.parse_at("2026-03-29T02:30", AMS)  # the hour the clocks skip
    with pytest.raises(UsageError, match="--at: 'tomorrow' is not a time"):
        clock.parse_at("tomorrow", AMS)


def test_at_now_is_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKUPCTL_NOW", NOW.isoformat())
    assert clock.parse_at("now", AMS) == NOW


def test_plan_prune_and_verify_take_at_and_its_now_alias(store: Path) -> None:
    c = ["--config", str(store)]
    for args in (
        ["plan", *c, "--at", "2026-11-20T12:00", "--json"],
        ["plan", *c, "--now", "2026-11-20T12:00", "--json"],
        ["prune", *c, "--dry-run", "--at", "2026-11-20T12:00", "--json"],
    ):
        code, out, err = run(args)
        assert code in (0, 4), err
        assert json.loads(out)  # JSON unchanged by the flag

    def forgotten(extra: list[str]) -> list[str]:
        _, out, _ = run(["plan", *c, *extra, "--json"])
        return [d["time"] for d in json.loads(out)["decisions"] if d["action"] == "forget"]

    # as of 2026-11-20 12:00 local, the 7 days count back from the 20th: two fewer go
    assert len(forgotten([])) == 23
    assert len(forgotten(["--at", "2026-11-20T12:00"])) == 21
    assert forgotten(["--at", "now"]) == forgotten([])
    code, _, err = run(["verify", *c, "--at", "2026-11-20T12:00", "--json"])
    assert code in (0, 3), err
    code, _, err = run(["prune", *c, "--at", "2026-11-20T12:00"])
    assert code == 2 and "--at goes with --dry-run" in err


def test_drill_deadline_defaults_to_now_and_takes_local_times() -> None:
    code, out, err = run(["drill", "deadline", "--json"])
    assert code == 0, err
    assert json.loads(out)["from"] == NOW.astimezone(AMS).isoformat()
    code, out, err = run(["drill", "deadline", "--at", "2026-12-24T16:30", "--json"])
    assert code == 0, err
    assert json.loads(out)["from"] == "2026-12-24T16:30:00+01:00"


# ------------------------------------------------------------------ one-line usage errors


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["simulate"], "simulate: Missing option '--days': how many days to run"),
        (["audit"], "audit: expected a subcommand:"),
        (["plan", "--bogus"], "plan: No such option '--bogus'"),
    ],
)
def test_a_usage_error_is_one_line_not_the_help(args: list[str], needle: str) -> None:
    code, out, err = run(args)
    assert code == 2
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert needle in err and "Usage:" not in err


# ------------------------------------------------------------------ quiet by default


def _events(stderr: str) -> list[str]:
    return [json.loads(line)["event"] for line in stderr.splitlines() if line.startswith("{")]


def test_console_logs_show_warnings_only_unless_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    from backupctl import log

    try:
        log.configure(json_logs=False)
        log.get_logger("t").info("an.info.line")
        log.get_logger("t").warning("a.warning.line")
        err = capsys.readouterr().err
        assert "an.info.line" not in err and "a.warning.line" in err
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \w+", err)  # the human clock …
        assert not re.search(r"\d\d:\d\d:\d\d\.\d{6}", err)  # … without microseconds
        log.configure(verbose=True, json_logs=False)
        log.get_logger("t").info("an.info.line")
        assert "an.info.line" in capsys.readouterr().err
        log.configure(json_logs=True)  # JSON logs (not a TTY) keep info, as before
        log.get_logger("t").info("an.info.line")
        assert _events(capsys.readouterr().err) == ["an.info.line"]
        log.configure(json_logs=True, quiet=True)  # -q: warnings and errors only, JSON too
        log.get_logger("t").info("an.info.line")
        log.get_logger("t").warning("a.warning.line")
        assert _events(capsys.readouterr().err) == ["a.warning.line"]
    finally:
        structlog.reset_defaults()
        log.configure()


def test_q_prints_nothing_on_success_and_the_report_on_failure(store: Path) -> None:
    code, out, err = run(["-q", "plan", "--config", str(store)])
    assert code == 0 and out == "" and err == ""
    code, out, err = run(["-q", "plan", "--config", str(store), "--json"])
    assert code == 0 and json.loads(out)["decisions"]  # --json is always printed
    code, out, err = run(["-q", "verify", "--config", str(store), "--at", "2026-12-20"])
    assert code == 3 and "verify at" in out and "violation" in err


def test_the_refusal_is_printed_once_and_the_console_log_does_not_repeat_it(
    store: Path,
) -> None:
    code, out, err = run(["--log-console", "prune", "--config", str(store)])
    assert code == 4
    assert out == ""  # the error says it all, once
    assert err.count("would delete 23 of 30") == 1, err
    assert "prune.refused" not in err


# ------------------------------------------------------------------ the first prune


def test_the_first_prune_refusal_says_it_is_expected_and_gives_the_command(store: Path) -> None:
    code, _, err = run(["prune", "--config", str(store), "--group", "app"])
    assert code == 4
    assert "expected on the first prune of a real history" in err
    command = re.search(r"^\s+(backupctl prune .* --force --reason \"[^\"]+\")$", err, re.M)
    assert command, err
    assert f"--config {store} --group app --force" in command.group(1)


def test_a_forced_prune_reports_what_it_deleted_in_human_sizes(store: Path) -> None:
    reason = "first prune: the history predates the policy"
    code, out, err = run(["prune", "--config", str(store), "--force", "--reason", reason])
    assert code == 0, err
    lines = out.splitlines()
    assert re.match(r"deleted 23 snapshot\(s\), kept 10, freed [\d.]+ kB in \d", lines[0]), out
    assert "  app: deleted 23, kept 7" in lines
    assert any(line.startswith("overridden by --force: group 'app'") for line in lines)
    assert f"forced, reason (audited): {reason}" in lines
    assert "bytes" not in out


def test_the_demo_summarises_a_forced_prune_by_what_it_deleted() -> None:
    from backupctl.demo import _summary_of

    forced = {
        "deleted": ["a", "b"],
        "bytes_freed": 5_100_000,
        "forced": "first run",
        "refusals": [{"message": "would delete 2 of 3", "group": "app"}],
    }
    assert _summary_of("prune forced", forced) == (
        "deleted 2 snapshots, freed 5.1 MB, forced past 1 refusal(s)"
    )
    refused = {"deleted": [], "refusals": [{"message": "would delete 2 of 3"}]}
    assert _summary_of("prune refused", refused) == "refused: would delete 2 of 3"


# ------------------------------------------------------------------ one plan format

HEADER = ["GROUP", "TIME", "ID", "ACTION", "REASONS"]


def test_plan_of_a_config_has_the_one_table_with_a_reason_on_every_line(store: Path) -> None:
    code, out, err = run(["plan", "--config", str(store)])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == HEADER
    rows = [ln for ln in lines[1:] if ln.startswith(("app ", "db "))]
    assert len(rows) == 33
    forget = [r for r in rows if " forget " in r]
    assert forget and all(
        "outside within 7d (cut-off 2026-11-15 11:00:00 CET)" in r for r in forget
    )
    keep = [r for r in rows if " KEEP " in r]
    assert all(re.search(r"KEEP\s+(within 7d|last \d)", r) for r in keep)
    assert re.search(r"^app\s+2026-11-22 11:00:00 CET\s+20261122T100000Z\s+KEEP", out, re.M)
    assert "app: 7 kept, 23 to forget (keep_within=7d)" in lines
    assert "10 kept, 23 to forget" in lines


def test_plan_from_restic_has_the_same_table_and_summary(tmp_path: Path) -> None:
    snaps = [
        {
            "time": f"2026-11-{d:02d}T02:00:00.123456789+01:00",
            "tree": "00",
            "paths": ["/data"],
            "hostname": "h1",
            "id": f"{d:02d}" * 32,
        }
        for d in range(10, 21)
    ]
    path = tmp_path / "s.json"
    path.write_text(json.dumps(snaps))
    code, out, err = run(
        [
            "plan",
            "--from-restic",
            str(path),
            "--keep-within",
            "3d",
            "--restic-tz",
            "Europe/Amsterdam",
            "--at",
            "2026-11-21T00:00",
        ]
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == HEADER
    assert re.search(r"2026-11-20 02:00:00 CET\s+20202020\s+KEEP\s+within 3d$", out, re.M)
    assert "outside within 3d (cut-off 2026-11-17 02:00:00 CET)" in out
    assert lines[-1] == "3 kept, 8 to forget (keep_within=3d)"


def test_plan_group_filters_and_an_unknown_group_is_one_line(store: Path) -> None:
    code, out, _ = run(["plan", "--config", str(store), "--group", "db", "--json"])
    assert code == 0 and {d["group"] for d in json.loads(out)["decisions"]} == {"db"}
    assert json.loads(out)["unmanaged"] == []
    code, _, err = run(["plan", "--config", str(store), "--group", "nope"])
    assert code == 2 and "--group 'nope': no policy has this group; expected one of app, db" in err


def test_prune_group_deletes_only_that_group(store: Path) -> None:
    code, out, err = run(
        ["prune", "--config", str(store), "--group", "db", "--json"],
    )
    assert code == 0, err
    assert json.loads(out)["deleted"] == []  # db keeps its last 5, app is not touched
    code, out, err = run(
        ["prune", "--config", str(store), "--group", "app", "--force", "--reason", "r", "--json"]
    )
    assert code == 0, err
    assert {sid.split("/")[0] for sid in json.loads(out)["deleted"]} == {"app"}


# ------------------------------------------------------------------ verify wording


@pytest.fixture()
def scheduled(tmp_path: Path) -> Path:
    """'app' backed up daily at 11:00 CET (kept 7 days, 30 days of history: over-retained),
    'ghost' configured but holding only a folder without manifest.json."""
    root = tmp_path / "store"
    for d in range(30, 0, -1):
        write_snapshot(DirWriter(root), "app", NOW - timedelta(days=d), {"db.sql": b"x" * 2500})
    (root / "ghost" / "20261120T000000Z").mkdir(parents=True)
    (root / "ghost" / "20261120T000000Z" / "data").write_bytes(b"no manifest")
    config = tmp_path / "backupctl.toml"
    config.write_text(
        f'timezone = "Europe/Amsterdam"\n[store]\nurl = "file://{root}"\n'
        '[[policy]]\nname = "app"\ngroup = "app"\nschedule = "0 11 * * *"\n'
        'keep_within = "7d"\n'
        '[[policy]]\nname = "ghost"\ngroup = "ghost"\nkeep_last = 3\n'
    )
    return config


def test_verify_says_what_it_checked_for_a_keep_within_policy(scheduled: Path) -> None:
    code, out, _ = run(["verify", "--config", str(scheduled)])
    assert code == 3
    assert "coverage 0/0 slots" not in out
    assert re.search(
        r"schedule 0 11 \* \* \*: \d+ of \d+ expected backups present since .* CET: "
        r"checked every scheduled backup the policy keeps \(keep_within 7d\)",
        out,
    ), out
    assert "calendar tiers: none in this policy" in out
    assert "verify at 2026-11-23 11:00:00 CET" in out  # the config's zone, no microseconds


def test_verify_counts_long_lists_and_v_lists_them(scheduled: Path) -> None:
    _, out, _ = run(["verify", "--config", str(scheduled), "--json"])
    over = sum(v["kind"] == "over_retention" for v in json.loads(out)["violations"])
    assert over > 10
    _, out, _ = run(["verify", "--config", str(scheduled)])
    rows = [ln for ln in out.splitlines() if "not kept by any rule since" in ln]
    assert len(rows) == 5 and f"    - … and {over - 5} more (-v lists them all; --json too)" in out
    assert f"  app: {over}" in out.splitlines()
    _, out, _ = run(["-v", "verify", "--config", str(scheduled)])
    rows = [ln for ln in out.splitlines() if "not kept by any rule since" in ln]
    assert len(rows) == over and "more (-v lists" not in out


def test_no_snapshots_names_the_folders_without_a_manifest(scheduled: Path) -> None:
    _, out, _ = run(["verify", "--config", str(scheduled)])
    assert "  ghost: no snapshots, 1 folder(s) without a manifest.json" in out
    assert (
        "    - no snapshot at all (policy ghost); but 1 folder(s) of it have no manifest.json"
        in out
    )
    assert "  1 incomplete snapshot folder(s), no manifest.json, never deleted (ghost 1)" in out


def test_verify_group_and_metrics_file(scheduled: Path, tmp_path: Path) -> None:
    prom = tmp_path / "verify.prom"
    code, out, _ = run(
        [
            "verify",
            "--config",
            str(scheduled),
            "--group",
            "app",
            "--json",
            "--metrics-file",
            str(prom),
        ]
    )
    assert code == 3
    report = json.loads(out)
    assert set(report["checked"]["groups"]) == {"app"}
    assert {v["group"] for v in report["violations"]} == {"app"}
    # the ghost folder is another group's: not asked about (never pruned: no memory, a note)
    assert [n["kind"] for n in report["notes"]] == ["trusted_time"]
    text = prom.read_text()
    assert "backupctl_verify_ok 0" in text
    over = sum(v["kind"] == "over_retention" for v in report["violations"])
    assert f'backupctl_verify_violations{{group="app",kind="over_retention"}} {over}' in text
    assert "backupctl_verify_last_success_timestamp_seconds" not in text  # never succeeded


# ------------------------------------------------------------------ drills


def test_a_drill_without_live_check_says_what_it_did_not_prove(store: Path) -> None:
    from restore.drill import NO_LIVE_CHECK

    code, out, err = run(["drill", "--config", str(store)])
    assert code == 0, err
    assert NO_LIVE_CHECK in out
    assert "restored, verified and live" not in out
    assert re.search(r"requested 2026-11-23 11:00:00 CET, deadline 2026-11-24 11:00:00 CET", out)
    assert re.search(r"^  verify .*1 of 1 manifest object\(s\) hashed", out, re.M), out


def test_the_forecast_counts_the_data_not_the_manifest(store: Path) -> None:
    code, out, err = run(["drill", "--config", str(store), "--group", "app", "--json"])
    assert code == 0, err
    record = json.loads(out)
    assert record["snapshot"]["group"] == "app"
    assert record["forecast"]["bytes"] == 2500  # the object, without manifest.json


def test_a_drill_of_an_empty_snapshot_says_so_and_metrics_are_written(
    store: Path, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    write_snapshot(DirWriter(root), "empty", NOW - timedelta(hours=1), {})
    store.write_text(
        store.read_text() + '[[policy]]\nname = "empty"\ngroup = "empty"\nkeep_last = 1\n'
    )
    prom = tmp_path / "drill.prom"
    code, out, err = run(
        ["drill", "--config", str(store), "--group", "empty", "--metrics-file", str(prom)]
    )
    assert code == 0, err
    assert "the snapshot is empty (no objects): nothing was restored" in out
    assert "backupctl_drill_ok 1" in prom.read_text()
    assert "backupctl_drill_last_success_timestamp_seconds" in prom.read_text()
    code, _, err = run(["drill", "--config", str(store), "--group", "nope"])
    assert code == 2 and "--group 'nope'" in err


# ------------------------------------------------------------------ audit log


def test_audit_log_lists_who_when_what_and_why(store: Path) -> None:
    reason = "first prune: the history predates the policy"
    assert run(["prune", "--config", str(store), "--force", "--reason", reason])[0] == 0
    code, out, err = run(["audit", "log", "--config", str(store)])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["SEQ", "WHEN", "WHO", "WHAT", "WHY"]
    forced = next(ln for ln in lines if "prune forced" in ln)
    assert re.match(r"1\s+2026-11-23 11:00:00 CET\s+\S+@\S+\s+prune forced past 1 refusal", forced)
    assert forced.endswith(reason)
    assert any("prune deleted 23, freed" in ln and " kB in " in ln for ln in lines)
    assert lines[-1].startswith("3 record(s)")
    code, out, _ = run(
        ["audit", "log", "--config", str(store), "--action", "prune.result", "--json"]
    )
    (only,) = [json.loads(ln) for ln in out.splitlines()]
    assert only["action"] == "prune.result" and only["time"] == NOW.isoformat()


def test_audit_log_describes_hostile_records_without_failing() -> None:
    from backupctl.commands.audit_log import describe

    assert describe({"action": "prune.result", "data": {"deleted": "x", "bytes_freed": "lots"}})[
        0
    ] == ("prune deleted 0, freed 0 B in 0 ms")
    assert describe({"action": "drill", "data": ["not", "a", "mapping"]})[0].startswith("drill -")
    assert describe({"action": "x" * 500, "data": None})[0] == "x" * 200


# ------------------------------------------------------------------ restic's own checks, verbatim


def test_verify_says_what_restic_check_read_data_subset_covered() -> None:
    from types import SimpleNamespace

    from backupctl.commands.verify import render_report
    from backupctl.evidence.verify import VerifyReport

    report = VerifyReport(
        at=NOW, checked={"groups": {}, "integrity": {"sampled": 3, "of": 3, "ids": []}}
    )
    config = SimpleNamespace(
        store=SimpleNamespace(url="restic:/srv/repo"), policy_for_group=lambda g: None
    )
    lines = list(render_report(report, config))
    (line,) = [ln for ln in lines if "integrity" in ln]
    assert re.fullmatch(
        r"  integrity: restic check --read-data-subset=(\d+)/10: the structure of the whole "
        r"repository \(3 snapshots\) and the data of part \1 of 10 of its packs \(every pack is "
        r"read once in 10 days\): no damage",
        line,
    ), line
    assert "re-read" not in line  # restic re-reads no sampled snapshot


def test_the_drill_summary_says_what_each_phase_covered() -> None:
    from backupctl.commands.drill import _covered

    assert _covered({"name": "verify", "by": "store", "objects": 3}) == (
        "by the store: restic restore --verify re-read all 3 restored file(s) against the "
        "repository"
    )
    assert (
        _covered(
            {
                "name": "verify",
                "by": "backupctl",
                "objects": 5,
                "objects_in_manifest": 50,
                "sample_percent": 10.0,
            }
        )
        == "5 of 50 manifest object(s) hashed (10% sample)"
    )
    assert _covered({"name": "live", "configured": False}) == "no live check configured"


def test_init_pushes_for_a_live_check(tmp_path: Path) -> None:
    code, out, _ = run(["init", "--config", str(tmp_path / "a.toml")])
    assert code == 0 and "set [drill] live_check" in out and "not that the service runs" in out
    code, out, _ = run(
        ["init", "--config", str(tmp_path / "b.toml"), "--live-check", "test -s {dir}/etc/x"]
    )
    assert code == 0 and "live_check" not in out
    assert 'live_check = "test -s {dir}/etc/x"' in (tmp_path / "b.toml").read_text()


def test_plan_counts_what_it_leaves_alone(store: Path, tmp_path: Path) -> None:
    for i in range(1, 6):
        (tmp_path / "store" / "app" / f"2026110{i}T000000Z").mkdir()
        (tmp_path / "store" / "app" / f"2026110{i}T000000Z" / "part").write_bytes(b"x")
    _, out, _ = run(["plan", "--config", str(store)])
    assert "incomplete snapshots (no manifest) left alone: 5" in out
    assert "  … and 2 more (-v lists them all; --json too)" in out
    _, out, _ = run(["-v", "plan", "--config", str(store)])
    assert "more (-v lists" not in out and out.count("  app/2026110") == 5


# ------------------------------------------------------------------ simulate --from-store


def test_simulate_from_store_starts_from_the_real_snapshots(scheduled: Path) -> None:
    config = scheduled.parent / "sim.toml"
    text = scheduled.read_text()
    config.write_text(text[: text.index('[[policy]]\nname = "ghost"')])
    code, out, err = run(["simulate", "--config", str(config), "--days", "2", "--json"])
    assert code == 0, err
    empty = json.loads(out)
    assert empty["initial"] == {} and empty["days"][0]["removed"] == 0
    code, out, err = run(
        ["simulate", "--config", str(config), "--days", "2", "--from-store", "--json"]
    )
    assert code == 0, err
    sim = json.loads(out)
    assert sim["initial"] == {"app": 30}
    first = sim["days"][0]
    assert first["removed"] == 30 - 7 and first["kept"] == 7  # the first prune of the real history
    code, out, _ = run(["simulate", "--config", str(config), "--days", "2", "--from-store"])
    assert out.startswith("== app: 30 from the store + 1 backups made, 7 kept at the end")
    assert "final kept set of app at 2026-11-24 03:00:00 CET:" in out


# ------------------------------------------------------------------ proof's default period


def test_proof_without_a_period_is_the_last_full_calendar_month(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert clock.last_full_month(datetime(2026, 1, 5, tzinfo=UTC), AMS) == (
        datetime(2025, 12, 1, tzinfo=AMS),
        datetime(2026, 1, 1, tzinfo=AMS),
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["proof", "--config", str(store)])
    assert code in (0, 3), err
    assert "proof for 2026-10-01 00:00:00 CEST to 2026-11-01 00:00:00 CET" in out
    assert (tmp_path / "proof-2026-10" / "proof.json").is_file()
    proof = json.loads((tmp_path / "proof-2026-10" / "proof.json").read_text())
    assert "2026-10-01T00:00:00+02:00" in json.dumps(proof)
    code, out, err = run(["proof", "--config", str(store), "--from", "2026-10-01"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--to is missing" in err
