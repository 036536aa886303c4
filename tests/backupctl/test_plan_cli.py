"""`backupctl plan --from-restic`: restic's flags and JSON/table output.

And one clear line for bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.errors import UsageError
from backupctl.stores.restic_input import parse_restic_snapshots

NOW = "2026-11-23T10:00:00+01:00"


def _sn(sid: str, time: str, host: str = "h1", tags: list[str] | None = None) -> dict[str, object]:
    entry: dict[str, object] = {
        "time": time,
        "tree": "00",
        "paths": ["/data"],
        "hostname": host,
        "username": "root",
        "id": sid * 64,
        "short_id": sid * 8,
    }
    if tags is not None:
        entry["tags"] = tags
    return entry


SNAPSHOTS = [
    _sn("a", "2026-11-22T02:00:00.123456789+01:00"),
    _sn("b", "2026-11-22T01:00:00+01:00", tags=["keep"]),
    _sn("c", "2026-11-21T02:00:00+01:00"),
    _sn("d", "2026-11-20T02:00:00Z", host="h2"),
]


def invoke(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["plan", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def snap_file(tmp_path: Path) -> Path:
    path = tmp_path / "snapshots.json"
    path.write_text(json.dumps(SNAPSHOTS))
    return path


def test_json_output_in_input_order_with_reasons(snap_file: Path) -> None:
    code, out, _ = invoke(
        ["--from-restic", str(snap_file), "-d", "1", "--keep-tag", "keep", "--json", "--now", NOW]
    )
    assert code == 0
    decisions = json.loads(out)["decisions"]
    assert [d["id"][0] for d in decisions] == ["a", "b", "c", "d"]
    assert [d["action"] for d in decisions] == ["keep", "keep", "forget", "keep"]
    assert decisions[0]["reasons"] == ["daily 2026-11-22"]
    assert decisions[1]["reasons"] == ["tag keep"] and decisions[1]["rules"] == ["tag"]
    assert decisions[2]["reasons"] == []
    assert (
        decisions[0]["time"] == "2026-11-22T02:00:00.123456+01:00"
    )  # ns truncated, own offset kept
    assert decisions[3]["group"] == "host=h2 paths=/data"


def test_stdin_and_table(snap_file: Path) -> None:
    code, out, _ = invoke(
        ["--from-restic", "-", "--keep-last", "2", "--group-by", "", "--now", NOW],
        stdin=snap_file.read_text(),
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["GROUP", "TIME", "ID", "ACTION", "REASONS"]
    assert "aaaaaaaa  KEEP    last 1" in lines[1] and "forget" in lines[3]
    assert lines[-1].startswith("2 kept, 2 to forget")


def test_group_by_words_and_unlimited(snap_file: Path) -> None:
    code, out, _ = invoke(
        [
            "--from-restic",
            str(snap_file),
            "-l",
            "-1",
            "--group-by",
            "hosts,tag",
            "--json",
            "--now",
            NOW,
        ]
    )
    assert code == 0
    decisions = json.loads(out)["decisions"]
    assert all(d["action"] == "keep" for d in decisions)
    assert decisions[1]["group"] == "host=h1 tags=keep"


def test_keep_within_uses_group_newest_not_now(snap_file: Path) -> None:
    code, out, _ = invoke(
        ["--from-restic", str(snap_file), "--keep-within", "1d", "--json", "--now", NOW]
    )
    assert code == 0
    assert [d["action"] for d in json.loads(out)["decisions"]] == ["keep", "keep", "forget", "keep"]


def test_restic_tz_places_matching_offsets_in_zone(tmp_path: Path) -> None:
    """With --restic-tz, the 1-day cut-off from a CEST snapshot crosses the DST change.

    It does so like Go's AddDate.
    """
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps([_sn("a", "2026-03-29T03:30:00+02:00"), _sn("b", "2026-03-28T03:00:00+01:00")])
    )
    args = ["--from-restic", str(path), "--keep-within", "1d", "--json", "--now", NOW]
    fixed = json.loads(invoke(args)[1])["decisions"]
    zoned = json.loads(invoke([*args, "--restic-tz", "Europe/Amsterdam"])[1])["decisions"]
    assert fixed[1]["action"] == "keep"  # cut-off 03-28 03:30+02:00 = 01:30Z < 02:00Z
    assert zoned[1]["action"] == "forget"  # cut-off 03-28 03:30+01:00 = 02:30Z > 02:00Z
    assert zoned[1]["time"] == "2026-03-28T03:00:00+01:00"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON at line 1"),
        ('{"a": 1}', "expected a JSON list of snapshots"),
        ("[1]", "snapshot 0: expected a JSON object"),
        ('[{"time": "2026-01-01T00:00:00Z", "paths": []}]', 'snapshot 0: expected "id"'),
        (json.dumps([{"id": "ab" * 32, "paths": []}]), '(abababab): missing "time"'),
        (
            json.dumps([{"id": "ab" * 32, "time": "2026-01-01T00:00:00", "paths": []}]),
            "not a time with offset",
        ),
        (
            json.dumps([{"id": "ab" * 32, "time": "2026-02-30T00:00:00Z", "paths": []}]),
            "not a valid time",
        ),
        (json.dumps([{"id": "ab" * 32, "time": 5, "paths": []}]), '"time" is 5'),
        (json.dumps([{"id": "ab" * 32, "time": "2026-01-01T00:00:00Z"}]), 'missing "paths"'),
        (
            json.dumps(
                [{"id": "ab" * 32, "time": "2026-01-01T00:00:00Z", "paths": [], "tags": "x"}]
            ),
            '"tags" to be a list of strings',
        ),
        (json.dumps([{"group_key": {}, "snapshots": 3}]), "group 0: expected a list"),
    ],
)
def test_bad_restic_json_is_one_clear_line(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, out, err = invoke(["--from-restic", str(path), "-l", "1", "--now", NOW])
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(path) in err and needle in err


def test_stdin_errors_name_dash() -> None:
    code, _, err = invoke(["--from-restic", "-", "-l", "1"], stdin="[{}]")
    assert code == 2 and err.startswith("backupctl: error: -: snapshot 0")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--from-restic", "{f}"], "no policy was specified"),
        (["--from-restic", "{f}", "-l", "-2"], "-2 is not a count"),
        (["--from-restic", "{f}", "--keep-within", "7x"], "invalid duration '7x'"),
        (
            ["--from-restic", "{f}", "-l", "1", "--group-by", "host,user"],
            "unknown grouping option 'user'",
        ),
        (
            ["--from-restic", "{f}", "-l", "1", "--now", "yesterday"],
            "--at: 'yesterday' is not a time",
        ),
        (
            [
                "--from-restic",
                "{f}",
                "-l",
                "1",
                "--restic-tz",
                "Europe/Amsterdam",
                "--at",
                "2026-03-29T02:30",
            ],
            "does not exist in Europe/Amsterdam",
        ),
        (
            ["--from-restic", "{f}", "-l", "1", "--restic-tz", "Mars/Base"],
            "unknown time zone 'Mars/Base'",
        ),
        (
            ["--from-restic", "{f}", "-l", "1", "--keep-everything"],
            "No such option '--keep-everything'",
        ),
        (["--from-restic", "/nonexistent/s.json", "-l", "1"], "/nonexistent/s.json: cannot read"),
        (["-l", "1"], "--keep-* flags go with --from-restic"),
        (
            ["--from-restic", "{f}", "--config", "x.toml", "-l", "1"],
            "either --config or --from-restic",
        ),
    ],
)
def test_bad_usage_exits_2_without_traceback(snap_file: Path, args: list[str], needle: str) -> None:
    code, out, err = invoke([a.replace("{f}", str(snap_file)) for a in args])
    assert code == 2
    assert "Traceback" not in err + out
    assert needle in err


def test_parser_keeps_offsets_and_accepts_grouped_output() -> None:
    grouped = json.dumps(
        [
            {"group_key": {"hostname": "h1"}, "snapshots": SNAPSHOTS[:2]},
            {"group_key": {"hostname": "h2"}, "snapshots": SNAPSHOTS[3:]},
        ]
    )
    snaps = parse_restic_snapshots(grouped, "x")
    assert [s.id[0] for s in snaps] == ["a", "b", "d"]
    assert snaps[0].time.isoformat() == "2026-11-22T02:00:00.123456+01:00"
    assert (
        snaps[2].time.utcoffset() is not None
        and snaps[2].host == "h2"
        and snaps[1].tags == ("keep",)
    )


def test_parser_error_is_usage_error() -> None:
    with pytest.raises(UsageError, match=r"^x: snapshot 1 \(aaaaaaaa\): missing \"paths\""):
        parse_restic_snapshots(
            json.dumps([SNAPSHOTS[0], {"id": "a" * 64, "time": "2026-01-01T00:00:00Z"}]), "x"
        )


# --- issue 11 part 9: --keep-within* take restic 0.14's own duration syntax -----------------------


@pytest.mark.parametrize(
    ("theirs", "same_as"),
    [
        ("1y1d1m", "1y1m1d"),
        ("1d2d", "2d"),
        ("12h1d", "1d12h"),
        ("2m1y3m", "1y3m"),
        ("", None),
        ("-1d", None),
    ],
)
def test_keep_within_takes_restic_syntax(snap_file: Path, theirs: str, same_as: str | None) -> None:
    def kept(within: str | None) -> list[str]:
        args = [
            "--from-restic",
            str(snap_file),
            "--group-by",
            "",
            "--json",
            "--now",
            NOW,
            "--keep-last",
            "1",
        ]
        code, out, err = invoke(args + (["--keep-within", within] if within is not None else []))
        assert code == 0, err
        return [d["action"] for d in json.loads(out)["decisions"]]

    assert kept(theirs) == kept(
        same_as
    )  # "" is the zero duration (off); -1d keeps nothing by within


@pytest.mark.parametrize("value", ["1x", "1 d", "--1d", "1.5d", "10000y", "3000000h"])
def test_keep_within_still_refuses_what_restic_refuses_or_cannot_compute(
    snap_file: Path, value: str
) -> None:
    code, _, err = invoke(["--from-restic", str(snap_file), "--keep-within", value])
    assert code == 2 and "--keep-within" in err and "Traceback" not in err


def test_counts_beyond_go_int_are_refused(snap_file: Path) -> None:
    code, _, err = invoke(["--from-restic", str(snap_file), "--keep-daily", str(2**63)])
    assert code == 2 and "--keep-daily" in err
    code, _, _ = invoke(
        ["--from-restic", str(snap_file), "--keep-daily", str(2**63 - 1), "--now", NOW]
    )
    assert code == 0
