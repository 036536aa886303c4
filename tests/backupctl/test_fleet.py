"""The fleet: the fleet file's validation, templates, shards, exit severity, the bounded pool,
the JSON document, the index page and merge (e2e against moto: tests/e2e/test_fleet_s3.py)."""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from backupctl.cli import main
from backupctl.errors import ConfigError, UsageError
from backupctl.fleet.jobs import JobOptions, Outcome, run_store
from backupctl.fleet.pool import run_pool
from backupctl.fleet.report import (
    FleetSummary,
    JsonStream,
    merge_documents,
    read_document,
    render_index,
    worst,
)
from backupctl.fleet.shard import Shard, parse_shard, shard_of
from backupctl.fleet.spec import (
    FleetFileError,
    StoreEntry,
    load_fleet,
    load_store_config,
    parse_fleet,
    render_template,
)
from backupctl.seed import DirWriter, seed_history

TEMPLATE = """timezone = "Europe/Amsterdam"
[store]
url = "file://${root}/${name}"
[verify]
integrity_sample = "${sample}"
[drill]
live_check = "test -d {dir} && echo $HOME $${literal}"
[[policy]]
name = "app"
keep_daily = 7
"""

# ------------------------------------------------------------------------- the fleet file


def test_a_fleet_of_config_and_template_stores_resolves_paths_beside_the_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "fleet.toml").write_text(
        """
[fleet]
workers = 3
template = "tmpl.toml"
vars = { root = "/srv", sample = 5 }

[[store]]
name = "cust-a"
config = "a.toml"

[[store]]
name = "cust-b"
vars = { sample = 50 }

[[store]]
name = "cust-c"
template = "/abs/other.toml"
"""
    )
    spec = load_fleet(tmp_path / "fleet.toml")
    assert spec.workers == 3
    assert len(spec.sha256) == 64
    a, b, c = spec.stores
    assert (a.name, a.config, a.template, dict(a.vars)) == ("cust-a", tmp_path / "a.toml", None, {})
    assert (b.template, dict(b.vars)) == (tmp_path / "tmpl.toml", {"root": "/srv", "sample": 50})
    assert b.declared_vars == {"sample"}
    assert c.template == Path("/abs/other.toml")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "store: expected one or more [[store]] tables"),
        ("store = 3", "store: expected one or more [[store]] tables"),
        ('[[store]]\nconfig = "a.toml"', "store[0].name: missing"),
        ('[[store]]\nname = "a b"\nconfig = "a.toml"', "store[0].name: 'a b' is not a store name"),
        (
            '[[store]]\nname = "../x"\nconfig = "a.toml"',
            "store[0].name: '../x' is not a store name",
        ),
        ('[[store]]\nname = "a"', "store[0]: missing config or template"),
        ('[[store]]\nname = "a"\nconfig = 1', "store[0].config: expected a file path"),
        (
            '[[store]]\nname = "a"\nconfig = "a.toml"\ntemplate = "t.toml"',
            "store[0]: give either config or template, not both",
        ),
        (
            '[[store]]\nname = "a"\nconfig = "a.toml"\nvars = { x = "1" }',
            "store[0].vars: only a template store has variables",
        ),
        ('[[store]]\nname = "a"\ntemplate = "t"\nvars = { x = [1] }', "store[0].vars.x: expected"),
        ('[[store]]\nname = "a"\ntemplate = "t"\nvars = { 1x = "" }', "store[0].vars.1x: not a"),
        (
            '[[store]]\nname = "a"\ntemplate = "t"\nvars = { name = "" }',
            "store[0].vars.name: reserved",
        ),
        ('[[store]]\nname = "a"\nconfig = "a"\ncolour = 1', "store[0].colour: unknown key"),
        ('[fleet]\nworkers = 0\n[[store]]\nname = "a"\nconfig = "a"', "fleet.workers: expected"),
        ('[fleet]\nworkers = true\n[[store]]\nname = "a"\nconfig = "a"', "fleet.workers: expected"),
        ('[fleet]\nshards = 2\n[[store]]\nname = "a"\nconfig = "a"', "fleet.shards: unknown key"),
        ('stores = []\n[[store]]\nname = "a"\nconfig = "a"', "stores: unknown key"),
        (
            '[[store]]\nname = "Cust"\nconfig = "a"\n[[store]]\nname = "cust"\nconfig = "b"',
            "store[1].name: 'cust' is also the name of store[0]",
        ),
        ("[[store]\n", "not valid TOML"),
    ],
)
def test_each_fleet_file_problem_is_one_line_naming_its_key(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    with pytest.raises(FleetFileError) as caught:
        load_fleet(path)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
    assert all("\n" not in p for p in caught.value.problems)
    result = CliRunner().invoke(main, ["fleet", "verify", "--fleet", str(path)])
    assert result.exit_code == 2
    assert problem in result.stderr and "Traceback" not in result.stderr


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(FleetFileError) as caught:
        parse_fleet({"store": [{"name": "a"}, {"name": "b c", "config": "x"}, 7]})
    assert len(caught.value.problems) == 3


def test_a_missing_fleet_file_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["fleet", "plan", "--fleet", str(tmp_path / "none.toml")])
    assert result.exit_code == 2
    assert "cannot read the fleet file" in result.stderr


# ----------------------------------------------------------------------------- templates


def _entry(tmp_path: Path, **vars: Any) -> StoreEntry:
    (tmp_path / "tmpl.toml").write_text(TEMPLATE)
    return StoreEntry(
        "cust-a", template=tmp_path / "tmpl.toml", vars=vars, declared_vars=frozenset(vars)
    )


def test_a_template_store_gets_its_variables_typed_and_its_name(tmp_path: Path) -> None:
    config = load_store_config(_entry(tmp_path, root="/srv/b", sample=25))
    assert config.store.url == "file:///srv/b/cust-a"
    assert config.verify.integrity_sample == 25.0  # "${sample}" alone took the integer's type
    assert config.drill.live_check == "test -d {dir} && echo $HOME ${literal}"
    assert config.path == f"{tmp_path / 'tmpl.toml'} (store cust-a)"
    other = load_store_config(_entry(tmp_path, root="/srv/c", sample=25))
    assert config.sha256 != other.sha256  # the variables are part of what the proof records


def test_a_value_cannot_inject_toml(tmp_path: Path) -> None:
    evil = '/x"\n[safety]\nmax_delete_fraction = 1.0\n#'
    config = load_store_config(_entry(tmp_path, root=evil, sample=5))
    assert config.store.url == f"file://{evil}/cust-a"  # one string, as given
    assert config.safety.max_delete_fraction == 0.5  # the default: no table was added


def test_an_undefined_or_unused_variable_is_that_stores_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_store_config(_entry(tmp_path, roots="/srv", sample=5))
    problems = caught.value.problems
    assert any(p.startswith("store.url: ${root} is not defined") for p in problems), problems
    assert "vars.roots: not used by the template" in problems[-1]


def test_render_template_reports_an_unclosed_placeholder() -> None:
    rendered, used, problems = render_template({"a": ["x ${y", "${z}"]}, {"z": True})
    assert rendered == {"a": ["x ${y", True]}
    assert used == {"z"}
    assert problems == ["a[0]: unclosed placeholder '${y' (expected ${var})"]


def test_booleans_inside_text_are_toml_spelled() -> None:
    rendered, _used, problems = render_template({"u": "x-${b}"}, {"b": False})
    assert rendered == {"u": "x-false"} and problems == []


# -------------------------------------------------------------------------------- shards

names = st.sets(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True), max_size=60)


@given(names=names, n=st.integers(1, 40))
def test_every_store_is_in_exactly_one_shard(names: set[str], n: int) -> None:
    shards = [Shard(k, n) for k in range(n)]
    for name in names:
        assert sum(s.holds(name) for s in shards) == 1
    covered = [name for s in shards for name in sorted(names) if s.holds(name)]
    assert sorted(covered) == sorted(names)


@given(names=names, new=st.text(min_size=1, max_size=20), n=st.integers(1, 40))
def test_adding_a_store_moves_no_other(names: set[str], new: str, n: int) -> None:
    before = {name: shard_of(name, n) for name in names}
    after = {name: shard_of(name, n) for name in names | {new}}
    assert all(after[name] == shard for name, shard in before.items())


def test_the_split_is_stable_across_versions_and_hosts() -> None:
    # golden values of sha256(name)[:8] (big-endian) mod N: a change here re-shards every fleet
    assert [shard_of(n, 4) for n in ("a", "b", "cust-a", "cust-b")] == [2, 2, 3, 2]
    assert [shard_of(f"cust-{i}", 3) for i in range(8)] == [0, 0, 1, 0, 1, 0, 0, 2]


@pytest.mark.parametrize(
    ("text", "env", "shard"),
    [
        ("0/3", {}, Shard(0, 3)),
        ("2/3", {}, Shard(2, 3)),
        ("auto/4", {"JOB_COMPLETION_INDEX": "3"}, Shard(3, 4)),
    ],
)
def test_parse_shard(text: str, env: dict[str, str], shard: Shard) -> None:
    assert parse_shard(text, env) == shard


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("3/3", {}, "K = 3 is not below N = 3"),
        ("1", {}, "is not a shard"),
        ("1/0", {}, "has N = 0"),
        ("-1/3", {}, "is not a shard"),
        ("a/3", {}, "is not a shard"),
        ("auto/3", {}, "$JOB_COMPLETION_INDEX is not set"),
        ("auto/3", {"JOB_COMPLETION_INDEX": "x"}, "is not a whole number"),
        ("auto/3", {"JOB_COMPLETION_INDEX": "5"}, "$JOB_COMPLETION_INDEX = 5 is not below N = 3"),
    ],
)
def test_bad_shards_are_usage_errors(text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("$", r"\$")):
        parse_shard(text, env)


# --------------------------------------------------------------------------- exit codes


def test_the_worst_exit_code_is_error_then_config_then_refusal_then_violation() -> None:
    assert worst([]) == 0
    assert worst([0, 3, 4]) == 4
    assert worst([3, 0]) == 3
    assert worst([4, 2, 3]) == 2
    assert worst([2, 1, 4, 3, 0]) == 1
    assert worst([0, 130]) == 130  # anything unknown counts as an error


@given(st.lists(st.sampled_from([0, 1, 2, 3, 4]), max_size=20))
def test_the_worst_is_one_of_them_whatever_the_order(codes: list[int]) -> None:
    assert worst(codes) == worst(list(reversed(codes)))
    assert worst(codes) in (codes or [0])


# ------------------------------------------------------------------------------ the pool


def test_the_pool_holds_at_most_workers_stores_and_one_failure_stops_none() -> None:
    pulled = finished = running = peak = 0
    lock = threading.Lock()

    def entries() -> Any:
        nonlocal pulled
        for i in range(40):
            with lock:
                pulled += 1
                assert pulled - finished <= 4  # never more than `workers` taken out at once
            yield StoreEntry(f"s{i}", config=Path("x"))

    def work(entry: StoreEntry) -> Outcome:
        nonlocal running, peak, finished
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.005)
        with lock:
            running -= 1
            finished += 1
        if entry.name == "s7":
            raise RuntimeError("boom")
        return Outcome(0, "ok")

    results = dict((e.name, o) for e, o in run_pool(entries(), work, workers=4))
    assert len(results) == 40 and peak <= 4
    assert results["s7"].exit == 1 and "RuntimeError: boom" in (results["s7"].error or "")
    assert sum(o.exit == 0 for o in results.values()) == 39


def test_a_store_whose_config_is_missing_is_its_own_error(tmp_path: Path) -> None:
    outcome = run_store(StoreEntry("a", config=tmp_path / "none.toml"), JobOptions("verify"))
    assert (outcome.exit, outcome.verdict, outcome.result) == (2, "config", None)
    assert "cannot read the config file" in (outcome.error or "")


def _file_fleet(tmp_path: Path, stores: int) -> Path:
    from zoneinfo import ZoneInfo

    ams = ZoneInfo("Europe/Amsterdam")
    (tmp_path / "tmpl.toml").write_text(
        'timezone = "Europe/Amsterdam"\n[store]\nurl = "file://${root}/${name}"\n'
        '[[policy]]\nname = "app"\nschedule = "0 2 * * *"\nkeep_daily = 30\n'
    )
    lines = ['[fleet]\ntemplate = "tmpl.toml"\n', f'vars = {{ root = "{tmp_path}" }}\n']
    for i in range(stores):
        seed_history(
            DirWriter(tmp_path / f"s{i}"),
            start=datetime(2026, 11, 1, tzinfo=ams),
            end=datetime(2026, 11, 10, tzinfo=ams),
            tz=ams,
            groups={"app": "0 2 * * *"},
            sizes={"app": (32,)},
        )
        lines.append(f'[[store]]\nname = "s{i}"\n')
    lines.append('[[store]]\nname = "gone"\n')  # its folder does not exist
    (tmp_path / "fleet.toml").write_text("".join(lines))
    return tmp_path / "fleet.toml"


def test_fleet_verify_of_file_stores_in_process(tmp_path: Path) -> None:
    fleet = _file_fleet(tmp_path, 4)
    env = {"BACKUPCTL_NOW": "2026-11-10T10:00:00+01:00"}
    result = CliRunner().invoke(main, ["fleet", "verify", "--fleet", str(fleet), "--json"], env=env)
    doc = json.loads(result.stdout)
    assert result.exit_code == 1
    assert sorted(doc["stores"]) == ["gone", "s0", "s1", "s2", "s3"]
    assert {n: e["exit"] for n, e in doc["stores"].items()} == {
        "gone": 1,
        "s0": 0,
        "s1": 0,
        "s2": 0,
        "s3": 0,
    }
    assert doc["stores"]["s0"]["counts"]["snapshots"] == 9  # Nov 1-9, 02:00
    assert doc["stores"]["s0"]["result"]["ok"] is True
    assert doc["summary"]["exit"] == 1 and doc["summary"]["by_exit"] == {"0": 4, "1": 1}
    table = CliRunner().invoke(main, ["fleet", "verify", "--fleet", str(fleet)], env=env)
    assert table.exit_code == 1
    assert "gone: file://" in table.stdout and "exit 1 (the worst)" in table.stdout


def test_fleet_prune_and_proof_of_file_stores(tmp_path: Path) -> None:
    fleet = _file_fleet(tmp_path, 2)
    (tmp_path / "gone").mkdir()  # every store exists now
    env = {"BACKUPCTL_NOW": "2026-12-20T10:00:00+01:00"}  # keep_daily = 30 keeps them all
    dry = CliRunner().invoke(
        main, ["fleet", "prune", "--fleet", str(fleet), "--dry-run", "--json"], env=env
    )
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["stores"]["s0"]["verdict"] == "dry-run"
    out = tmp_path / "proofs"
    proof = CliRunner().invoke(
        main,
        [
            "fleet",
            "proof",
            "--fleet",
            str(fleet),
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-10",
            "--out",
            str(out),
        ],
        env=env,
    )
    page = (out / "index.html").read_text()
    assert proof.exit_code == 3, proof.output  # "gone" is empty: its proof FAILs
    doc = json.loads((out / "fleet.json").read_text())
    assert {n: e["verdict"] for n, e in doc["stores"].items()} == {
        "gone": "FAIL",
        "s0": "PASS",
        "s1": "PASS",
    }
    assert 'class="FAIL">FAIL' in page
    for name in ("s0", "s1"):
        assert f'href="{name}/proof.html"' in page
        assert (out / name / "proof.html").is_file()
        checked = CliRunner().invoke(main, ["proof", "check", str(out / name)])
        assert checked.exit_code == 0, checked.output
    assert doc["summary"]["command"] == "proof"


# ---------------------------------------------------------------- JSON, index page, merge


def _summary(names: dict[str, int], shard: Shard | None, command: str = "verify") -> FleetSummary:
    s = FleetSummary(command, "fleet.toml", "f" * 64, shard, 8, datetime(2026, 1, 1, tzinfo=UTC))
    s.finished = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    for name, code in names.items():
        s.add(name, Outcome(code, "ok" if code == 0 else "violation", {"violations": code}))
    return s


def _document(path: Path, summary: FleetSummary) -> Path:
    out = io.StringIO()
    stream = JsonStream([out])
    for name, outcome in summary.rows:
        stream.store(name, outcome)
    stream.end(summary.to_json())
    path.write_text(out.getvalue())
    return path


def test_the_streamed_document_is_json_even_when_empty(tmp_path: Path) -> None:
    doc = json.loads(_document(tmp_path / "a.json", _summary({}, None)).read_text())
    assert doc["stores"] == {} and doc["summary"]["exit"] == 0
    doc = json.loads(_document(tmp_path / "b.json", _summary({"x": 3}, None)).read_text())
    assert doc["stores"]["x"]["exit"] == 3 and doc["summary"]["store_names"] == ["x"]


def _shards(tmp_path: Path, names: list[str], n: int) -> list[Path]:
    return [
        _document(
            tmp_path / f"shard-{k}.json",
            _summary({m: len(m) % 4 for m in names if shard_of(m, n) == k}, Shard(k, n)),
        )
        for k in range(n)
    ]


def test_merge_joins_the_shards_into_one_document(tmp_path: Path) -> None:
    names = [f"cust-{i}" for i in range(12)]
    paths = _shards(tmp_path, names, 3)
    summary, stores = merge_documents([read_document(str(p)) for p in paths])
    assert list(stores) == sorted(names)
    assert summary.to_json()["merged_from"] == ["0/3", "1/3", "2/3"]
    assert summary.exit == worst(len(m) % 4 for m in names)
    result = CliRunner().invoke(main, ["fleet", "merge", *map(str, reversed(paths))])
    assert result.exit_code == summary.exit
    assert sorted(json.loads(result.stdout)["stores"]) == sorted(names)


@pytest.mark.parametrize(
    ("pick", "message"),
    [
        (lambda p: [p[0], p[1]], "missing shard(s) 2/3"),
        (lambda p: [p[0], p[1], p[2], p[1]], "overlapping shards: 1/3 is in both"),
    ],
)
def test_merge_refuses_missing_and_overlapping_shards(
    tmp_path: Path, pick: Any, message: str
) -> None:
    paths = _shards(tmp_path, [f"c{i}" for i in range(9)], 3)
    result = CliRunner().invoke(main, ["fleet", "merge", *map(str, pick(paths))])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_merge_refuses_mixed_runs_and_misplaced_or_truncated_documents(tmp_path: Path) -> None:
    names = [f"c{i}" for i in range(9)]
    a = _shards(tmp_path, names, 2)
    other = _document(tmp_path / "plan.json", _summary({}, Shard(1, 2), command="plan"))
    with pytest.raises(UsageError, match="is of another command"):
        merge_documents([read_document(str(a[0])), read_document(str(other))])
    three = _document(tmp_path / "three.json", _summary({}, Shard(1, 3)))
    with pytest.raises(UsageError, match="split the fleet differently"):
        merge_documents([read_document(str(a[0])), read_document(str(three))])
    wrong = next(m for m in names if shard_of(m, 2) == 1)
    moved = _document(tmp_path / "moved.json", _summary({wrong: 0}, Shard(0, 2)))
    with pytest.raises(UsageError, match=f"store '{wrong}' is in .* but belongs to shard 1/2"):
        merge_documents([read_document(str(moved)), read_document(str(a[1]))])
    dup = _document(tmp_path / "dup.json", _summary({}, Shard(0, 2)))
    dup_doc = read_document(str(dup))
    with pytest.raises(UsageError, match="overlapping shards"):
        merge_documents([dup_doc, read_document(str(a[1])), read_document(str(a[0]))])
    cut = tmp_path / "cut.json"
    cut.write_text(a[0].read_text()[:-40])
    with pytest.raises(UsageError, match="not a complete fleet JSON document"):
        read_document(str(cut))
    unsharded = _document(tmp_path / "all.json", _summary({}, None))
    with pytest.raises(UsageError, match="run without --shard"):
        merge_documents([read_document(str(unsharded))])


def test_the_index_page_escapes_everything_and_gives_a_fleet_verdict() -> None:
    s = _summary({"a": 0, "b": 0}, None, command="proof")
    s.rows.append(("c", Outcome(1, "error", error='<script>alert("x")</script>')))
    page = render_index(s, {"a": "a", "b": "sub dir/b"}, {"a": {}, "b": {"sha256": "<h>"}})
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'href="a/proof.html"' in page and 'href="sub%20dir/b/proof.html"' in page
    assert "&lt;h&gt;" in page
    assert 'class="FAIL">FAIL' in page
    ok = render_index(_summary({"a": 0}, None, command="proof"), {"a": "a"}, {"a": {}})
    assert 'class="PASS">PASS' in ok
