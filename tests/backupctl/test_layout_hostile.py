"""Issue 11, parts 2 and 4: ambiguous groups and templates are refused at load; manifests and
journals are parsed with bounds (pure layout code, plus the config check that uses it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backupctl.config import parse_config
from backupctl.errors import ConfigError
from backupctl.stores.layout import (
    KeyTemplate,
    ManifestError,
    decode_journal,
    layout_problems,
    parse_manifest,
)

T = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
SHA = "ab" * 32


def config(template: str, groups: list[str], url: str = "file:///tmp/x") -> dict[str, object]:
    return {
        "store": {"url": url, "key_template": template},
        "policy": [{"name": f"p{i}", "group": g, "keep_last": 100} for i, g in enumerate(groups)],
    }


@pytest.mark.parametrize(
    ("template", "groups"),
    [
        ("{time}-{group}/", ["app", "app/db"]),  # T-app/ is a prefix of T-app/db/
        ("{time}/{group}/", ["app", "app/db"]),
        ("{group}/{time}/", ["app", "app/20261120T050000Z"]),  # a group with a timestamp segment
        ("_backupctl/{group}/{time}/", ["app"]),  # backupctl's own folder
        ("{group}/{time}/", ["_backupctl"]),
    ],
)
def test_ambiguous_groups_and_templates_are_refused_at_load(
    template: str, groups: list[str]
) -> None:
    with pytest.raises(ConfigError, match=r"store\.key_template|group") as err:
        parse_config(config(template, groups))
    assert "\n  - " in str(err.value)  # one line per problem, each naming the key


@pytest.mark.parametrize(
    "group",
    ["../etc", "a/../b", "a//b", "/abs", "a/", "a\x01b", "a\nb", "", ".", "{time}", "a b/../c"],
)
def test_group_names_that_are_not_plain_relative_paths_are_refused(group: str) -> None:
    with pytest.raises(ConfigError, match=r"group"):
        parse_config(config("{group}/{time}/", [group]))


@pytest.mark.parametrize(
    ("template", "groups"),
    [
        ("{group}/{time}/", ["app", "app/db", "server"]),  # the common nested case stays allowed
        ("backups/{group}/{time}/", ["app", "app/db"]),
        ("{time}-{group}/", ["app", "db"]),
        ("x/{group}-{time}/", ["app", "app-db"]),
    ],
)
def test_unambiguous_layouts_load(template: str, groups: list[str]) -> None:
    assert [p.group for p in parse_config(config(template, groups)).policies] == groups


def test_restic_groups_are_not_layout_checked() -> None:
    parse_config(config("{group}/{time}/", ["host/a", "host"], url="restic:/tmp/repo"))


# --- property: every key belongs to at most one snapshot ---------------------------------------

_seg = st.text("ab1-.", min_size=1, max_size=3).filter(lambda s: s[0] not in "-.")
groups_st = st.lists(
    st.lists(_seg, min_size=1, max_size=3).map("/".join), min_size=1, max_size=4, unique=True
)
lit = st.text("ab1-/_", max_size=3)


@st.composite
def time_fields(draw: st.DrawFn) -> str:
    """``{time}`` or a ``{time:FORMAT}``: %Y %m %d and some of %H %M %S in any order, with
    literal text (digits too) between them."""
    if draw(st.booleans()):
        return "{time}"
    extra = draw(st.lists(st.sampled_from(["H", "M", "S"]), unique=True))
    order = draw(st.permutations(["Y", "m", "d", *extra]))
    return "{time:" + "".join(draw(st.text("1-T_/", max_size=2)) + "%" + d for d in order) + "}"


templates_st = st.tuples(
    lit, lit, lit, st.booleans(), time_fields(), st.sampled_from(["/", "", ".gz"])
).map(  # ending in '/': folder snapshots; otherwise single-object snapshots
    lambda p: (
        f"{p[0]}{{group}}{p[1]}{p[4]}{p[2]}{p[5]}"
        if p[3]
        else f"{p[0]}{p[4]}{p[1]}{{group}}{p[2]}{p[5]}"
    )
)
times_st = st.lists(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)).map(
        lambda d: d.replace(microsecond=0, tzinfo=UTC)
    ),
    min_size=1,
    max_size=3,
    unique=True,
)


def _precise(template: str, t: datetime) -> datetime:
    """``t`` cut to what the template's time names (a format without %S names whole minutes)."""
    for d, unit in (("%S", "second"), ("%M", "minute"), ("%H", "hour")):
        if "{time:" in template and d not in template:
            t = t.replace(**{unit: 0})
    return t


@settings(max_examples=400, deadline=None)
@given(
    template=templates_st,
    groups=groups_st,
    times=times_st,
    rest=st.sampled_from(["", "x", "manifest.json", "d/20261120T050000Z/x", "2026/01/01/"]),
)
def test_an_accepted_layout_gives_every_key_at_most_one_snapshot(
    template: str,
    groups: list[str],
    times: list[datetime],
    rest: str,
) -> None:
    if layout_problems(template, groups):
        return
    kt = KeyTemplate.compile(template, groups=groups)
    folders = {(g, _precise(template, t)): "" for g in groups for t in times}
    folders = {(g, t): kt.folder(g, t) for g, t in folders}
    for (g, t), folder in folders.items():
        key = folder + rest
        owners = [gt for gt, f in folders.items() if key.startswith(f)]
        assert owners == [(g, t)], (template, groups, key, owners)
        m = kt.match(key)
        if kt.single and rest:  # a single object's snapshot is its key alone
            assert m is None, (template, key)
            continue
        assert m is not None and (m.group, m.time, m.folder, m.rest) == (g, t, folder, rest)


# --- part 4: bounded manifests and journals -------------------------------------------------------


def manifest(**over: object) -> bytes:
    doc: dict[str, object] = {
        "version": 1,
        "group": "app",
        "time": "2026-11-20T05:00:00+00:00",
        "objects": [{"key": "db/dump.sql", "size": 3, "sha256": SHA}],
    }
    doc.update(over)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"version": 1, "objects": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"version": 1, "group": "app", "objects": [{"key": "a", "size": '
        + b"9" * 5000
        + b', "sha256": "x"}]}',
        b'{"version": ' + b"1" * 5000 + b"}",
        b'{"version": 1, "size": NaN}',
        b"\xff\xfe",
    ],
)
def test_hostile_manifests_are_one_manifest_error(raw: bytes) -> None:
    with pytest.raises(ManifestError, match=r"manifest\.json"):
        parse_manifest(raw, "app", T)


@pytest.mark.parametrize("version", [True, 1.0, "1", None])
def test_manifest_version_must_be_the_integer_1(version: object) -> None:
    with pytest.raises(ManifestError, match="version"):
        parse_manifest(manifest(version=version), "app", T)


def test_a_huge_size_is_refused() -> None:
    with pytest.raises(ManifestError, match="size"):
        parse_manifest(manifest(objects=[{"key": "a", "size": 2**63, "sha256": SHA}]), "app", T)


@pytest.mark.parametrize(
    "raw", [b"[" * 100_000, b'{"ids": [' + b"1" * 5000 + b"]}", b'{"ids": {"a": 1}}']
)
def test_hostile_journals_are_one_error(raw: bytes) -> None:
    with pytest.raises(ManifestError, match="journal"):
        decode_journal(raw)


def test_journal_ids_must_be_plain_snapshot_ids() -> None:
    ids = [
        "app/20261120T050000Z",
        "../x/20261120T050000Z",
        "a/../../b/20261120T050000Z",
        "a//b/20261120T050000Z",
        "/abs/20261120T050000Z",
        7,
        None,
        "app/20261399T050000Z",
    ]
    assert decode_journal(json.dumps({"ids": ids}).encode()) == ["app/20261120T050000Z"]


def test_layout_problems_is_quiet_for_the_default() -> None:
    assert layout_problems("{group}/{time}/", ["app", "server", "app/db"]) == []


# Python's \d matches every Unicode decimal digit: a key with full-width or Arabic-Indic digits
# in its time parsed as the snapshot of the same ASCII time, so a writer without a backupctl key
# could plant a second folder under a real snapshot's id (and a prune of that id deletes the
# real folder). Only ASCII digits are a time.
@pytest.mark.parametrize(
    "name",
    [
        "２０２６1120T050000Z",  # full-width year
        "20261120T０５0000Z",  # full-width hour
        "٢٠٢٦1120T050000Z",  # Arabic-Indic year
    ],
)
def test_a_time_in_non_ascii_digits_is_no_snapshot_and_no_alias(name: str) -> None:
    from backupctl.stores.layout import FolderScanner, parse_key_time

    assert parse_key_time(name) is None
    kt = KeyTemplate.compile("{group}/{time}/")
    assert kt.match(f"app/{name}/manifest.json") is None
    scan = FolderScanner(kt, {"app"}).add_all(
        [(f"app/{name}/manifest.json", 9), ("app/20261120T050000Z/manifest.json", 9)]
    )
    assert list(scan.folders) == ["app/20261120T050000Z/"]  # the real one, once
    assert scan.unknown == [f"app/{name}/manifest.json"]  # never deleted


@pytest.mark.parametrize("name", ["２０２６-11-20T0500", "2026-11-20T٠٥00"])
def test_a_formatted_time_in_non_ascii_digits_is_no_snapshot(name: str) -> None:
    kt = KeyTemplate.compile("{group}/{time:%Y-%m-%dT%H%M}.sql.gz")
    assert kt.match(f"db/{name}.sql.gz") is None
    assert kt.match("db/2026-11-20T0500.sql.gz") is not None


@given(st.text(alphabet="0123456789TZ٢２", min_size=14, max_size=18))
@settings(max_examples=300)
def test_parse_key_time_never_accepts_what_strptime_refuses(text: str) -> None:
    """The sliced parser is at most as lenient as strptime, and agrees where it accepts."""
    from backupctl.stores.layout import TIME_FORMAT, parse_key_time

    got = parse_key_time(text)
    if got is not None:
        assert text.isascii()
        assert datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC) == got


@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)))
def test_parse_key_time_reads_every_key_time_back(t: datetime) -> None:
    from backupctl.stores.layout import format_time, parse_key_time

    aware = t.replace(microsecond=0, tzinfo=UTC)
    assert parse_key_time(format_time(aware)) == aware
