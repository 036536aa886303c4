"""verify and proof against real stores (file and moto S3).

A seeded, pruned SLA history with two missed backups (one on the DST night 2026-03-29), one
over-retained snapshot and one tampered audit record.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from backupctl.seed import DirWriter, S3Writer, seed_history, write_snapshot
from backupctl.stores.blobs import open_blobs

pytestmark = pytest.mark.e2e

AMS = ZoneInfo("Europe/Amsterdam")
PRUNED_AT = "2026-04-02T03:30:00+02:00"
VERIFY_AT = "2026-04-02T10:00:00+02:00"
MISSED = [
    datetime(2026, 3, 29, 3, 0, tzinfo=AMS),
    datetime(2026, 3, 15, 12, 0, tzinfo=AMS),
]  # DST night; app
STALE = datetime(2026, 1, 5, 6, 0, tzinfo=AMS)  # an app backup prune removed, put back afterwards
POLICIES = """
[safety]
max_delete_fraction = 1.0

[[policy]]
name = "app"
schedule = "0 0,6,12,18 * * *"
keep_within = "2m"

[[policy]]
name = "server"
schedule = "0 2 * * *"
keep_within_daily = "7d"
keep_within_weekly = "4w"
keep_within_monthly = "6m"
"""


def build_store(
    tmp: Path, store_toml: str, writer: Any, blob_url: str, endpoint: str | None
) -> Path:
    """Seed three months of the SLA and prune once.

    Then put one pruned snapshot back and edit one audit record.
    """
    cfg = tmp / "backupctl.toml"
    cfg.write_text(f'timezone = "Europe/Amsterdam"\n{store_toml}\n{POLICIES}')
    seed_history(
        writer,
        start=datetime(2026, 1, 1, tzinfo=AMS),
        end=datetime(2026, 4, 2, 3, 0, tzinfo=AMS),
        tz=AMS,
        missed=MISSED,
        sizes={"app": (64,), "server": (64,)},
    )
    pruned = CliRunner().invoke(
        main, ["prune", "--config", str(cfg), "--json"], env={"BACKUPCTL_NOW": PRUNED_AT}
    )
    assert pruned.exit_code == 0, pruned.output
    write_snapshot(writer, "app", STALE, {"db.sql.gz": b"x" * 64})
    blobs = open_blobs(blob_url, endpoint_url=endpoint)
    key = "_backupctl/audit/0000000001.json"
    record = json.loads(blobs.get(key))
    record["data"]["delete"][0]["reason"] = "nothing to see here"
    blobs.put(key, json.dumps(record, sort_keys=True, separators=(",", ":")).encode())
    return cfg


@pytest.fixture(scope="module")
def file_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("verify-file")
    root = tmp / "store"
    return build_store(
        tmp, f'[store]\nurl = "file://{root}"', DirWriter(root), f"file://{root}", None
    )


@pytest.fixture(scope="module")
def s3_store(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str) -> Iterator[Path]:
    from backupctl.stores.s3client import make_s3_client

    client = make_s3_client(endpoint_url=s3_endpoint, region="us-east-1")
    bucket = f"v-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    tmp = tmp_path_factory.mktemp("verify-s3")
    url = f"s3://{bucket}/backups"
    yield build_store(
        tmp,
        f'[store]\nurl = "{url}"\nendpoint_url = "{s3_endpoint}"',
        S3Writer(client, bucket, "backups"),
        url,
        s3_endpoint,
    )


def run_verify(cfg: Path) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["verify", "--config", str(cfg), "--at", VERIFY_AT, "--json"])
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("store", ["file_store", "s3_store"])
def test_verify_reports_exactly_the_planted_problems(
    store: str, request: pytest.FixtureRequest
) -> None:
    code, report = run_verify(request.getfixturevalue(store))
    assert code == 3
    assert report["ok"] is False
    kinds = sorted({v["kind"] for v in report["violations"]})
    assert kinds == ["audit", "missed", "over_retention"]
    missed = sorted(
        (v["group"], v["expected"]) for v in report["violations"] if v["kind"] == "missed"
    )
    assert missed == [("app", "2026-03-15T12:00:00+01:00"), ("server", "2026-03-29T03:00:00+02:00")]
    over = [(v["group"], v["id"]) for v in report["violations"] if v["kind"] == "over_retention"]
    assert over == [("app", "app/20260105T050000Z")]
    audit = [v for v in report["violations"] if v["kind"] == "audit"]
    assert audit and {v["seq"] for v in audit} <= {1, 2}
    assert report["notes"] == []
    checked = report["checked"]
    assert checked["audit"]["ok"] is False and checked["integrity"]["sampled"] == 5
    assert checked["groups"]["server"]["coverage"]["slots"] > 10


def test_verify_text_output_groups_by_kind_with_advice(file_store: Path) -> None:
    result = CliRunner().invoke(main, ["verify", "--config", str(file_store), "--at", VERIFY_AT])
    assert result.exit_code == 3
    assert "MISSED (2): what to do:" in result.stdout and "OVER_RETENTION (1)" in result.stdout
    assert "2026-03-29 03:00:00 CEST" in result.stdout  # the config's zone, for people


def test_verify_from_hides_earlier_misses(file_store: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "verify",
            "--config",
            str(file_store),
            "--at",
            VERIFY_AT,
            "--json",
            "--from",
            "2026-03-30",
        ],
    )
    missed = [v for v in json.loads(result.stdout)["violations"] if v["kind"] == "missed"]
    assert missed == []


def test_proof_of_the_tampered_store_fails_and_its_hash_checks(
    file_store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "proof"
    env = {"BACKUPCTL_NOW": VERIFY_AT}
    made = CliRunner().invoke(
        main,
        [
            "proof",
            "--config",
            str(file_store),
            "--from",
            "2026-01-01",
            "--to",
            "2026-04-03",
            "--out",
            str(out),
        ],
        env=env,
    )
    assert made.exit_code == 3, made.output
    proof = json.loads((out / "proof.json").read_text())
    assert proof["verdict"]["summary"] == "FAIL"
    assert proof["audit"]["ok"] is False
    server = proof["groups"]["server"]
    assert [s["expected"] for s in server["slots"] if s["status"] == "missed"] == [
        "2026-03-29T03:00:00+02:00"
    ]
    assert server["counts"]["deleted"] > 60 and server["counts"]["filled"] == 11
    assert all(s["manifest_sha256"] for s in proof["snapshots"])
    assert (
        len(proof["deletions"])
        == proof["groups"]["app"]["counts"]["deleted"] + server["counts"]["deleted"]
    )
    assert CliRunner().invoke(main, ["proof", "check", str(out)]).exit_code == 0
    (out / "proof.json").write_text((out / "proof.json").read_text().replace('"FAIL"', '"PASS"'))
    changed = CliRunner().invoke(main, ["proof", "check", str(out)])
    assert changed.exit_code == 3 and "changed" in changed.output
    (out / "proof.html").unlink()
    assert CliRunner().invoke(main, ["proof", "check", str(out)]).exit_code == 3


def test_proof_needs_its_options() -> None:
    result = CliRunner().invoke(main, ["proof", "--from", "2026-01-01"])
    assert result.exit_code == 2 and "--to is missing" in result.output
    assert len(result.output.strip().splitlines()) == 1  # one line (no period: last month)
