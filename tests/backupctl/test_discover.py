"""Issue 13 part 4: ``backupctl init`` that fits the store, and ``--discover``.

The pure half (:func:`backupctl.discover.propose`: keys -> proposal) is tested on generated
names, hostile keys and DST-crossing local names; the command on a real file store (the S3 run
is tests/e2e/test_discover_s3.py): what it writes loads, plan sees exactly the snapshots, and a
failure leaves no file behind."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backupctl import discover
from backupctl.cli import main
from backupctl.config import load_config, parse_config
from backupctl.configref import starter_config
from backupctl.discover import SHAPES, cadence_of, propose, propose_restic, sample_keys
from backupctl.stores.base import BlobInfo
from backupctl.stores.layout import KeyTemplate
from retention import SLA_APP, SLA_SERVER, Snapshot

AMS = ZoneInfo("Europe/Amsterdam")
NOV = datetime(2026, 11, 2, tzinfo=AMS)  # no DST change for weeks either side


def every(start: datetime, step: timedelta, n: int) -> list[datetime]:
    """``n`` wall-clock times from ``start`` (local arithmetic: 02:00 stays 02:00 across DST)."""
    return [start + step * i for i in range(n)]


def names(template: str, group: str, times: list[datetime], tz: Any = AMS) -> list[str]:
    """Keys for ``times`` named by ``template`` (the stores' own KeyTemplate); a folder gets
    one data object."""
    kt = KeyTemplate.compile(template, tz=tz)
    return [kt.folder(group, t) + ("" if kt.single else "data.tar") for t in times]


def config_for(proposal: discover.Proposal, url: str = "file:///srv/b", **kw: Any) -> Any:
    text = starter_config(
        url,
        layout=discover.render_store_lines(proposal),
        policies=discover.render_policies(proposal, AMS),
        **kw,
    )
    return parse_config(tomllib.loads(text))


# ---------------------------------------------------------------------- shapes


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.example)
@pytest.mark.parametrize("single", [True, False], ids=["object", "folder"])
def test_every_well_known_shape_is_detected_and_verified(
    shape: discover.Shape, single: bool
) -> None:
    template = "{group}/" + shape.field + (".sql.gz" if single else "/")
    step = timedelta(days=1) if shape.daily else timedelta(hours=6)
    zone = UTC if shape.utc else AMS
    keys = names(template, "db", every(NOV, step, 20), zone)
    proposal = propose(keys, AMS)
    assert proposal.template == template
    assert proposal.name_timezone == ("UTC" if shape.utc and shape.fmt else None)
    (db,) = proposal.covered
    assert (db.snapshots, db.matched_keys, db.unmatched, db.share) == (20, 20, 0, 1.0)
    assert db.single is single
    expected = "0 0 * * *" if shape.daily else "0 0,6,12,18 * * *"
    assert db.cadence is not None and db.cadence.schedule == expected
    config = config_for(proposal)
    assert config.store.key_template == template
    assert [p.group for p in config.policies] == ["db"]


def test_a_time_of_day_beats_a_date_alone() -> None:
    proposal = propose(["db/2026-11-23T0200.sql.gz", "db/2026-11-23T0800.sql.gz"], AMS)
    assert proposal.template == "{group}/{time:%Y-%m-%dT%H%M}.sql.gz"
    proposal = propose(["db/backup-2026-11-23.tar.zst", "db/backup-2026-11-24.tar.zst"], AMS)
    assert proposal.template == "{group}/backup-{time:%Y-%m-%d}.tar.zst"
    proposal = propose(["db/20261123-0200.dump", "db/20261124-0200.dump"], AMS)
    assert proposal.template == "{group}/{time:%Y%m%d-%H%M}.dump"


# ---------------------------------------------------------------------- mixed and stray


def test_mixed_groups_share_the_most_common_template_and_strays_are_counted() -> None:
    db = names("{group}/{time:%Y-%m-%dT%H%M}.sql.gz", "db", every(NOV, timedelta(hours=6), 40))
    web = names("{group}/{time:%Y-%m-%dT%H%M}.sql.gz", "web", every(NOV, timedelta(days=1), 5))
    server = names("{group}/{time}/", "server", every(NOV, timedelta(days=1), 10))
    stray = ["db/README", "db/2026-11-02T0600.sql.gz.part", "notes.txt", "_backupctl/lock"]
    proposal = propose([*db, *web, *server, *stray], AMS)
    assert proposal.template == "{group}/{time:%Y-%m-%dT%H%M}.sql.gz"
    assert [g.group for g in proposal.covered] == ["db", "web"]
    by = {g.group: g for g in proposal.groups}
    assert (by["db"].snapshots, by["db"].keys, by["db"].unmatched) == (40, 42, 2)
    assert sorted(by["db"].unmatched_examples) == ["db/2026-11-02T0600.sql.gz.part", "db/README"]
    assert not by[
        "server"
    ].covered and "second config whose key_template is '{group}/{time}/'" in str(
        by["server"].why_not
    )
    assert by["server"].template == "{group}/{time}/"
    assert (proposal.stray, proposal.stray_examples, proposal.keys) == (1, ["notes.txt"], 58)
    text = discover.render_policies(proposal, AMS)
    assert '"server"' in text and "notes.txt" in text and "42 key(s)" in text
    config = config_for(proposal)
    assert {p.group: p.policy for p in config.policies} == {"db": SLA_APP, "web": SLA_SERVER}
    assert {p.group: p.schedule for p in config.policies} == {
        "db": "0 0,6,12,18 * * *",
        "web": "0 0 * * *",
    }

    # more server snapshots than dumps: the folders win, and the dumps are the ones left out
    server = names("{group}/{time}/", "server", every(NOV, timedelta(hours=1), 60))
    assert propose([*db, *server], AMS).template == "{group}/{time}/"


def test_folders_without_a_manifest_say_adopt_comes_next() -> None:
    times = every(NOV, timedelta(days=1), 4)
    bare = names("{group}/{time}/", "server", times)
    assert propose(bare, AMS).needs_adopt
    assert propose(bare, AMS).covered[0].without_manifest == 4
    managed = bare + [k.replace("data.tar", "manifest.json") for k in bare]
    proposal = propose(managed, AMS)
    assert not proposal.needs_adopt and proposal.covered[0].snapshots == 4
    assert "backupctl adopt" in discover.render_policies(propose(bare, AMS), AMS)


def test_nothing_recognisable_proposes_nothing() -> None:
    proposal = propose(["a/readme", "b/c/d.txt", "2026-11-23.sql.gz"], AMS)
    assert proposal.template is None and proposal.covered == []
    assert proposal.stray == 1  # a dated name at the top level has no group folder


def test_groups_that_could_overlap_keep_the_bigger_one() -> None:
    """``a/20261399T000000Z`` is no time (month 13), so it reads as part of a group name; its
    folders have the shape of group ``a``'s, and a config with both would be refused."""
    keys = names("{group}/{time}/", "a", every(NOV, timedelta(days=1), 5))
    keys += names("{group}/{time}/", "a/20261399T000000Z", every(NOV, timedelta(days=1), 3))
    keys += names("{group}/{time}/", "a/b", every(NOV, timedelta(days=1), 2))
    proposal = propose(keys, AMS)
    assert [g.group for g in proposal.covered] == ["a", "a/b"]
    (dropped,) = [g for g in proposal.groups if not g.covered]
    assert dropped.group == "a/20261399T000000Z" and "overlap" in str(dropped.why_not)
    assert [p.group for p in config_for(proposal).policies] == ["a", "a/b"]


# ---------------------------------------------------------------------- DST and cadence


def test_daily_local_names_across_both_dst_changes_give_one_schedule() -> None:
    """Dumps at 02:00 local from March to November: the UTC hour moves, the local one not; the
    skipped 2026-03-29T0200 (a gap) does not exist, so the producer wrote 03:00 that day."""
    start = datetime(2026, 3, 20, 2, 0, tzinfo=AMS)
    times = [t for t in every(start, timedelta(days=1), 240) if t.day != 29 or t.month != 3]
    keys = [k for k in names("{group}/{time:%Y-%m-%dT%H%M}.sql.gz", "db", times)]
    keys.append("db/2026-03-29T0230.sql.gz")  # a name in the gap: no snapshot, never deleted
    proposal = propose(keys, AMS)
    (db,) = proposal.covered
    assert db.cadence is not None and db.cadence.schedule == "0 2 * * *"
    assert db.unmatched_examples == ["db/2026-03-29T0230.sql.gz"]
    assert db.name_notes == 2  # the gap name, and 2026-10-25T0200 (a repeated hour) read once
    # the same producer with backupctl's UTC names: the schedule is still local 02:00
    utc_keys = names("{group}/{time}/", "db", times)
    (db,) = propose(utc_keys, AMS).covered
    assert db.cadence is not None and db.cadence.schedule == "0 2 * * *"


def test_four_a_day_across_the_fall_back_change() -> None:
    start = datetime(2026, 10, 10, 0, 0, tzinfo=AMS)
    times = [d.replace(hour=h) for d in every(start, timedelta(days=1), 30) for h in (0, 6, 12, 18)]
    (db,) = propose(names("{group}/{time}/", "db", times), AMS).covered
    assert db.cadence is not None and db.cadence.schedule == "0 0,6,12,18 * * *"
    assert db.cadence.sub_daily and db.rules == {"keep_within": "2m"}


def test_half_hourly_local_names_in_the_repeated_hour_are_noted() -> None:
    t = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    keys = sorted(
        {
            names("{group}/{time:%Y-%m-%dT%H%M}/", "db", [t + timedelta(minutes=30 * i)])[0]
            for i in range(12)
        }
    )
    (db,) = propose(keys, AMS).covered
    assert db.snapshots == 10  # 02:00 and 02:30 were written twice under one name each
    assert db.name_notes == 2


@pytest.mark.parametrize(
    ("step", "schedule"),
    [
        (timedelta(hours=1), "15 * * * *"),
        (timedelta(hours=12), "15 3,15 * * *"),
        (timedelta(days=1), "15 3 * * *"),
        (timedelta(weeks=1), "15 3 * * 1"),  # 2026-11-02 is a Monday
        (timedelta(days=3), None),
    ],
)
def test_cadence_to_cron(step: timedelta, schedule: str | None) -> None:
    times = every(NOV.replace(hour=3, minute=15), step, 30)
    cadence = cadence_of(times, AMS)
    assert cadence is not None and cadence.schedule == schedule
    if schedule is not None:
        parse_config(
            {
                "store": {"url": "file:///x"},
                "policy": [{"name": "a", "schedule": schedule, "keep_last": 1}],
            }
        )


def test_a_missed_backup_does_not_change_the_cadence() -> None:
    times = every(NOV, timedelta(hours=6), 40)
    del times[7], times[20]
    cadence = cadence_of(times, AMS)
    assert cadence is not None and cadence.schedule == "0 0,6,12,18 * * *"
    assert cadence_of(times[:1], AMS) is None


# ---------------------------------------------------------------------- properties

_GROUP = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=8).filter(
    lambda g: g[0] != "-"
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.sampled_from(SHAPES),
    suffix=st.sampled_from([".sql.gz", ".tar.zst", ".dump", "/"]),
    groups=st.lists(_GROUP, min_size=1, max_size=3, unique=True),
    count=st.integers(2, 30),
    hours=st.sampled_from([1, 6, 24]),
    stray=st.lists(st.text("abcdefghij./_-", min_size=1, max_size=12), max_size=5),
)
def test_generated_stores_are_read_back_exactly(
    shape: discover.Shape,
    suffix: str,
    groups: list[str],
    count: int,
    hours: int,
    stray: list[str],
) -> None:
    """Whatever the shape, suffix, groups and strays (which hold no digit): the template is
    the one the keys were named by, every group is covered with exactly its snapshots, strays
    are never matched, and the written config loads."""
    template = "{group}/" + shape.field + suffix
    step = timedelta(days=1) if shape.daily else timedelta(hours=hours)
    zone = UTC if shape.utc else AMS
    keys = [k for g in groups for k in names(template, g, every(NOV, step, count), zone)]
    stray = [s.strip("/") or "x" for s in stray]
    proposal = propose([*keys, *stray], AMS)
    assert proposal.template == template
    assert {g.group: g.snapshots for g in proposal.covered} == dict.fromkeys(groups, count)
    assert sum(g.matched_keys for g in proposal.covered) == len(keys)
    config = config_for(proposal)
    assert sorted(p.group for p in config.policies) == sorted(groups)


# names made of what breaks TOML and templates: quotes, backslashes, newlines, braces, '#'
_HOSTILE = st.text(st.sampled_from('ab."\\\n\r\t{}%#=[]/ \x00\x7f\u2028é'), max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(min_size=1, max_size=40)
        | st.builds(
            lambda a, b, c: f"{a}/{b}2026-11-23T0200{c}",
            st.text("abc", min_size=1, max_size=2) | _HOSTILE,
            _HOSTILE,
            st.sampled_from([".sql.gz", "/data", ""]) | _HOSTILE,
        ),
        max_size=30,
    )
)
def test_hostile_keys_never_break_the_written_config(keys: list[str]) -> None:
    """Keys are untrusted: newlines, quotes, braces, control characters in names must never
    make an invalid file or inject TOML (a comment line that a newline would end)."""
    proposal = propose(keys, AMS)
    text = starter_config(
        "file:///srv/b",
        layout=discover.render_store_lines(proposal),
        policies=discover.render_policies(proposal, AMS),
    )
    data = tomllib.loads(text)
    if proposal.covered:
        config = parse_config(data)
        assert {p.group for p in config.policies} == {g.group for g in proposal.covered}
    else:
        assert "policy" not in data
    # nothing injected: the sections and keys are exactly the ones rendered
    assert set(data) == {"timezone", "store", "safety", "verify", "drill"} | (
        {"policy"} if proposal.covered else set()
    )
    assert set(data["store"]) <= {"url", "key_template", "name_timezone"}
    for policy in data.get("policy", []):
        assert set(policy) <= {"name", "group", "schedule", *discover._SERVER_RULES, "keep_within"}


# ---------------------------------------------------------------------- listing bound


class _Blobs:
    def __init__(self, n: int) -> None:
        self.n = n

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        for i in range(self.n):
            yield BlobInfo(f"db/{20260101 + i % 28:08d}T000000Z/x", 1)


def test_the_listing_is_bounded_by_count_and_time() -> None:
    keys, sampled = sample_keys(_Blobs(50), max_keys=100)  # type: ignore[arg-type]
    assert (len(keys), sampled) == (50, False)
    keys, sampled = sample_keys(_Blobs(500), max_keys=100)  # type: ignore[arg-type]
    assert (len(keys), sampled) == (100, True)
    ticks = iter(range(1000))
    keys, sampled = sample_keys(
        _Blobs(500),  # type: ignore[arg-type]
        max_seconds=10,
        clock=lambda: float(next(ticks)),
    )
    assert sampled and len(keys) == 10
    proposal = propose(keys, AMS, sampled=True)
    assert "a sample" in discover.render_policies(proposal, AMS)


# ---------------------------------------------------------------------- restic


def test_restic_groups_by_host_and_paths_unless_tags_split_series() -> None:
    def snap(i: int, host: str, tags: tuple[str, ...], t: datetime) -> Snapshot:
        return Snapshot(id=f"{i:064x}", time=t, host=host, paths=("/srv",), tags=tags)

    daily = [
        snap(i, "web1", (), t)
        for i, t in enumerate(every(NOV.replace(hour=2), timedelta(days=1), 5))
    ]
    proposal = propose_restic(daily, AMS)
    assert proposal.group_by == "host,paths"
    assert [(g.group, g.cadence.schedule if g.cadence else None) for g in proposal.covered] == [
        ("host=web1 paths=/srv", "0 2 * * *")
    ]
    hourly = [
        snap(100 + i, "web1", ("hourly",), t)
        for i, t in enumerate(every(NOV, timedelta(hours=6), 8))
    ]
    tagged = [snap(200 + i, "web1", ("daily",), s.time) for i, s in enumerate(daily)]
    proposal = propose_restic([*hourly, *tagged], AMS)
    assert proposal.group_by == "host,paths,tags"
    assert {g.group: g.rules for g in proposal.covered} == {
        "host=web1 paths=/srv tags=daily": dict(discover._SERVER_RULES),
        "host=web1 paths=/srv tags=hourly": {"keep_within": "2m"},
    }
    config = config_for(proposal, url="restic:/srv/repo")
    assert config.store.restic_group_by == "host,paths,tags"
    assert len(config.policies) == 2


# ---------------------------------------------------------------------- the command


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["init", *args])


@pytest.fixture()
def file_store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    for key in [
        *names("{group}/{time:%Y-%m-%dT%H%M}.sql.gz", "db", every(NOV, timedelta(hours=6), 12)),
        *names("{group}/{time}/", "server", every(NOV.replace(hour=2), timedelta(days=1), 3)),
        "db/README",
        "db/2026-11-02T0600.sql.gz.part",
    ]:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"dump")
    return root


def test_init_discover_on_a_file_store_writes_what_plan_reads(
    file_store: Path, tmp_path: Path
) -> None:
    target = tmp_path / "b.toml"
    result = run("--config", str(target), "--url", f"file://{file_store}", "--discover")
    assert result.exit_code == 0, result.output
    assert f"backupctl plan --config {target}" in result.output
    assert 'not covered: "server"' in result.output
    config = load_config(target)
    assert config.store.key_template == "{group}/{time:%Y-%m-%dT%H%M}.sql.gz"
    planned = CliRunner().invoke(
        main,
        ["plan", "--json", "--config", str(target)],
        env={"BACKUPCTL_NOW": "2026-11-06T00:00:00+00:00"},
    )
    assert planned.exit_code == 0, planned.output
    import json

    doc = json.loads(planned.stdout)
    assert len(doc["decisions"]) == 12 and {d["group"] for d in doc["decisions"]} == {"db"}
    assert "db/README" in doc["unknown"]


def test_init_discover_suggests_adopt_for_folders_without_manifests(tmp_path: Path) -> None:
    root = tmp_path / "store"
    for key in names("{group}/{time}/", "server", every(NOV.replace(hour=2), timedelta(days=1), 3)):
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(b"x")
    target = tmp_path / "b.toml"
    result = run("--config", str(target), "--url", f"file://{root}", "--discover")
    assert result.exit_code == 0, result.output
    assert f"backupctl adopt --dry-run --config {target}" in result.output
    assert load_config(target).store.key_template == "{group}/{time}/"


def test_a_store_that_cannot_be_listed_or_holds_nothing_is_exit_1_and_writes_nothing(
    tmp_path: Path,
) -> None:
    target = tmp_path / "b.toml"
    result = run("--config", str(target), "--url", f"file://{tmp_path}/missing", "--discover")
    assert result.exit_code == 1 and "cannot list" in result.output
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "readme.txt").write_text("x")
    result = run("--config", str(target), "--url", f"file://{tmp_path}/junk", "--discover")
    assert result.exit_code == 1 and "no snapshot names" in result.output
    assert not target.exists() and "Traceback" not in result.output


def test_a_failed_validation_leaves_no_file_and_the_old_one_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import backupctl.commands.init as init

    monkeypatch.setattr(init, "starter_config", lambda *a, **k: '[store]\nurl = "ftp://x"\n')
    target = tmp_path / "b.toml"
    result = run("--config", str(target))
    assert result.exit_code == 2 and "store.url" in result.output, result.output
    assert not target.exists()
    target.write_text("old")
    result = run("--config", str(target), "--force")
    assert result.exit_code == 2 and target.read_text() == "old"
    assert os.listdir(tmp_path) == ["b.toml"]  # no temporary file left either


def test_an_unwritable_folder_is_exit_2_and_leaves_nothing(tmp_path: Path) -> None:
    result = run("--config", str(tmp_path / "missing" / "b.toml"))
    assert result.exit_code == 2 and "cannot write" in result.output, result.output
    assert os.listdir(tmp_path) == []


def test_the_write_never_replaces_a_file_that_appeared_meanwhile(tmp_path: Path) -> None:
    import backupctl.commands.init as init
    from backupctl.errors import UsageError

    target = tmp_path / "b.toml"
    target.write_text("someone else's")
    with pytest.raises(UsageError, match="already exists"):
        init.write_atomically(target, "new", overwrite=False)
    assert target.read_text() == "someone else's" and os.listdir(tmp_path) == ["b.toml"]
    init.write_atomically(target, "new", overwrite=True)
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["b.toml"]


# ---------------------------------------------------------------------- kinds


def written(tmp_path: Path, *args: str) -> str:
    target = tmp_path / "b.toml"
    result = run("--config", str(target), "--force", *args)
    assert result.exit_code == 0, result.output
    load_config(target)
    return target.read_text()


def test_each_kind_gets_only_its_keys(tmp_path: Path) -> None:
    s3 = written(tmp_path, "--url", "s3://bk/p", "--endpoint-url", "http://127.0.0.1:9000")
    assert 'endpoint_url = "http://127.0.0.1:9000"' in s3
    assert "# region" in s3 and "content_md5" in s3 and "listing" in s3 and "restic" not in s3
    assert "[audit]" not in s3

    file = written(tmp_path, "--url", "file:///srv/backups")
    for s3_only in ("endpoint_url", "region", "profile", "content_md5", "listing", "restic"):
        assert s3_only not in file, s3_only

    restic = written(tmp_path, "--url", "restic:/srv/repo", "--restic-password-file", "/etc/r.pw")
    config = load_config(tmp_path / "b.toml")
    assert config.store.restic_password_file == "/etc/r.pw"
    assert config.audit_url == "file:///var/lib/backupctl/audit"
    for s3_only in ("endpoint_url", "region", "profile", "content_md5", "listing", "key_template"):
        assert s3_only not in restic, s3_only

    written(
        tmp_path,
        "--url",
        "restic:/srv/repo",
        "--restic-password-env",
        "APP_PW",
        "--audit-url",
        "s3://bk/audit",
        "--endpoint-url",
        "http://127.0.0.1:9000",
    )
    config = load_config(tmp_path / "b.toml")
    assert config.store.restic_password_env == "APP_PW" and config.audit_url == "s3://bk/audit"
    assert config.store.endpoint_url == "http://127.0.0.1:9000"

    on_s3 = written(tmp_path, "--url", "restic:s3:http://127.0.0.1:9000/bk/repo")
    assert load_config(tmp_path / "b.toml").audit_url is None  # the repository's bucket
    assert "\n[audit]" not in on_s3 and "# [audit]" in on_s3


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--url", "ftp://x"], "init --url"),
        (["--url", "file://relative"], "three slashes"),
        (["--timezone", "Mars/Olympus"], "init --timezone"),
        (["--url", "s3://b/p", "--audit-url", "s3://b/a"], "only for restic"),
        (["--url", "restic:/r", "--audit-url", "restic:/other"], "init --audit-url"),
        (["--url", "s3://b/p", "--restic-password-file", "/x"], "only for restic"),
        (["--url", "s3://AKIA:hunter2secret@b/p"], "s3://bucket/prefix without credentials"),
        (["--url", "s3://b/p", "--endpoint-url", "foo", "--discover"], "init --endpoint-url"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    target = tmp_path / "b.toml"
    result = run("--config", str(target), *args)
    assert result.exit_code == 2 and words in result.output, result.output
    assert result.output.count("\n") == 1 and not target.exists()


def test_credentials_in_urls_are_never_echoed(tmp_path: Path) -> None:
    url = "restic:rest:https://backup:hunter2secret@rest.example:8000/repo"
    result = run("--config", str(tmp_path / "b.toml"), "--url", url)
    assert result.exit_code == 0, result.output
    assert "hunter2secret" not in result.output and "backup:***@rest.example" in result.output
    result = run(
        "--config",
        str(tmp_path / "c.toml"),
        "--url",
        "s3://AKIAXXXX:hunter2secret@bk/p",
        "--discover",
        "--endpoint-url",
        "http://127.0.0.1:9",
    )
    assert "hunter2secret" not in result.output
