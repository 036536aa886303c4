"""A fleet of moto S3 stores (one template, a bucket each) and file stores (a config each), one
with a missed backup and one whose endpoint is unreachable: every other store still runs, the
exit code is the worst, the JSON holds every store; three shard processes merged give the
unsharded run's stores; sharded proofs merge into one index page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.fleet.report import worst
from backupctl.fleet.shard import shard_of
from backupctl.seed import DirWriter, S3Writer, seed_history

pytestmark = pytest.mark.e2e

AMS = ZoneInfo("Europe/Amsterdam")
AT = "2026-11-10T10:00:00+01:00"
MISSED = datetime(2026, 11, 5, 2, 0, tzinfo=AMS)
S3_STORES = [f"cust-{i:02d}" for i in range(8)]
FILE_STORES = ["local-a", "local-b", "local-c"]
POLICY = """
[[policy]]
name = "app"
schedule = "0 2 * * *"
keep_daily = 30
"""


def _seed(writer: Any, missed: bool = False) -> None:
    seed_history(
        writer,
        start=datetime(2026, 11, 1, tzinfo=AMS),
        end=datetime(2026, 11, 10, tzinfo=AMS),
        tz=AMS,
        groups={"app": "0 2 * * *"},
        sizes={"app": (32,)},
        missed=[MISSED] if missed else [],
        workers=4,
    )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str) -> Path:
    from backupctl.stores.s3client import make_s3_client

    tmp = tmp_path_factory.mktemp("fleet")
    client = make_s3_client(endpoint_url=s3_endpoint, region="us-east-1")
    run = uuid.uuid4().hex[:8]
    (tmp / "s3.tmpl.toml").write_text(
        'timezone = "Europe/Amsterdam"\n[store]\nurl = "s3://${bucket}/backups"\n'
        'endpoint_url = "${endpoint}"\n' + POLICY
    )
    lines = [f'[fleet]\ntemplate = "s3.tmpl.toml"\nvars = {{ endpoint = "{s3_endpoint}" }}\n']
    for i, name in enumerate(S3_STORES):
        bucket = f"fleet-{run}-{i}"
        client.create_bucket(Bucket=bucket)
        _seed(S3Writer(client, bucket, "backups"), missed=(i == 3))
        lines.append(f'[[store]]\nname = "{name}"\nvars = {{ bucket = "{bucket}" }}\n')
    for name in FILE_STORES:
        root = tmp / "stores" / name
        _seed(DirWriter(root))
        (tmp / f"{name}.toml").write_text(
            f'timezone = "Europe/Amsterdam"\n[store]\nurl = "file://{root}"\n' + POLICY
        )
        lines.append(f'[[store]]\nname = "{name}"\nconfig = "{name}.toml"\n')
    (tmp / "broken.toml").write_text(  # nothing listens on port 9 (discard) of loopback
        'timezone = "Europe/Amsterdam"\n[store]\nurl = "s3://nowhere/backups"\n'
        'endpoint_url = "http://127.0.0.1:9"\n' + POLICY
    )
    lines.append('[[store]]\nname = "broken"\nconfig = "broken.toml"\n')
    (tmp / "fleet.toml").write_text("".join(lines))
    return tmp / "fleet.toml"


@pytest.fixture(scope="module")
def unsharded(fleet: Path) -> dict[str, Any]:
    result = CliRunner().invoke(
        main, ["fleet", "verify", "--fleet", str(fleet), "--at", AT, "--json", "--workers", "4"]
    )
    doc: dict[str, Any] = json.loads(result.stdout)
    doc["exit_code"] = result.exit_code
    return doc


def test_a_broken_store_stops_none_and_the_exit_is_the_worst(unsharded: dict[str, Any]) -> None:
    stores = unsharded["stores"]
    assert sorted(stores) == sorted([*S3_STORES, *FILE_STORES, "broken"])
    assert unsharded["exit_code"] == 1  # the unreachable endpoint (1) is worse than a miss (3)
    assert stores["broken"]["exit"] == 1 and stores["broken"]["verdict"] == "error"
    assert "127.0.0.1:9" in stores["broken"]["error"] and stores["broken"]["result"] is None
    assert stores["cust-03"]["exit"] == 3
    assert [v["kind"] for v in stores["cust-03"]["result"]["violations"]] == ["missed"]
    for name in [*S3_STORES, *FILE_STORES]:
        if name != "cust-03":
            assert stores[name]["exit"] == 0, (name, stores[name])
            assert stores[name]["counts"]["snapshots"] == 9
    summary = unsharded["summary"]
    assert summary["exit"] == 1 and summary["by_exit"] == {"0": 10, "1": 1, "3": 1}
    assert summary["stores"] == 12 and summary["shard"] is None


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "backupctl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BACKUPCTL_NOW": AT},
        cwd=Path(__file__).parents[2],
    )


def _without_timing(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "seconds"}


def test_three_shard_processes_merge_into_the_unsharded_run(
    fleet: Path, unsharded: dict[str, Any], tmp_path: Path
) -> None:
    procs = [
        _cli("fleet", "verify", "--fleet", str(fleet), "--at", AT, "--json", "--shard", f"{k}/3")
        for k in range(3)
    ]
    paths = []
    for k, proc in enumerate(procs):
        out, err = proc.communicate(timeout=300)
        doc = json.loads(out)
        assert doc["summary"]["shard"] == {"index": k, "count": 3}, err
        assert all(shard_of(name, 3) == k for name in doc["stores"])
        path = tmp_path / f"shard-{k}.json"
        path.write_text(out)
        paths.append(path)
    names = [n for p in paths for n in json.loads(p.read_text())["stores"]]
    assert sorted(names) == sorted(unsharded["stores"])  # every store in exactly one shard
    merged = _cli("fleet", "merge", *map(str, paths))
    out, err = merged.communicate(timeout=120)
    assert merged.returncode == unsharded["exit_code"] == 1, err
    doc = json.loads(out)
    assert {n: _without_timing(e) for n, e in doc["stores"].items()} == {
        n: _without_timing(e) for n, e in unsharded["stores"].items()
    }
    assert doc["summary"]["merged_from"] == ["0/3", "1/3", "2/3"]
    assert doc["summary"]["by_exit"] == unsharded["summary"]["by_exit"]
    missing = _cli("fleet", "merge", str(paths[0]), str(paths[2]))
    _out, err = missing.communicate(timeout=120)
    assert missing.returncode == 2 and "missing shard(s) 1/3" in err


def test_sharded_proofs_merge_into_one_index_page(fleet: Path, tmp_path: Path) -> None:
    folders = []
    for k in range(2):
        folder = tmp_path / f"proof-{k}"
        result = CliRunner().invoke(
            main,
            [
                "fleet",
                "proof",
                "--fleet",
                str(fleet),
                "--shard",
                f"{k}/2",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-10",
                "--out",
                str(folder),
            ],
            env={"BACKUPCTL_NOW": AT},
        )
        expected = worst(
            {"broken": 1, "cust-03": 3}.get(n, 0)
            for n in [*S3_STORES, *FILE_STORES, "broken"]
            if shard_of(n, 2) == k
        )
        assert result.exit_code == expected, result.output
        folders.append(folder)
    page = tmp_path / "index.html"
    merged = CliRunner().invoke(
        main,
        [
            "fleet",
            "merge",
            "--html",
            str(page),
            "--out",
            str(tmp_path / "all.json"),
            *map(str, folders),
        ],
    )
    assert merged.exit_code == 1, merged.output
    html = page.read_text()
    for name in [*S3_STORES, *FILE_STORES]:
        folder = folders[shard_of(name, 2)].name
        assert f'href="{folder}/{name}/proof.html"' in html
        assert (tmp_path / folder / name / "proof.html").is_file()
    assert 'class="FAIL">FAIL' in html  # cust-03 missed a backup, broken has no proof
    doc = json.loads((tmp_path / "all.json").read_text())
    assert (
        doc["stores"]["cust-03"]["verdict"] == "FAIL"
        and doc["stores"]["local-a"]["verdict"] == "PASS"
    )
