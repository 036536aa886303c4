"""backupctl.evidence.checks: the typed findings' JSON.

And CHECKS as the one home of what a kind means.
"""

from __future__ import annotations

import ast
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import backupctl.evidence.verify
from backupctl.commands.verify import render_report
from backupctl.evidence.checks import CHECKS, Check, Finding, Note, Violation, lookup
from backupctl.evidence.verify import VerifyReport

UTC = ZoneInfo("UTC")
NOW = datetime(2026, 4, 2, 10, tzinfo=UTC)


def produced_kinds() -> dict[str, set[str]]:
    """The kinds backupctl/evidence/verify.py constructs, by type.

    Every ``Violation("kind", …)`` and ``Note("kind", …)``.
    """
    tree = ast.parse(Path(backupctl.evidence.verify.__file__).read_text())
    out: dict[str, set[str]] = {"Violation": set(), "Note": set()}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in out:
            first = node.args[0]
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), ast.dump(node)
            out[node.func.id].add(first.value)
    return out


def test_every_kind_verify_produces_has_an_entry() -> None:
    kinds = produced_kinds()
    assert kinds["Violation"] == {
        "missed",
        "coverage",
        "over_retention",
        "integrity",
        "audit",
        "no_snapshots",
        "time_drift",
    }
    assert kinds["Note"] == {
        "incomplete",
        "unknown_key",
        "name_time",
        "no_integrity_reference",
        "unconfigured_group",
        "future",
        "audit_unavailable",
        "trusted_time",
    }
    for kind in kinds["Violation"]:
        assert CHECKS[kind].advice and not CHECKS[kind].note, kind
    for kind in kinds["Note"]:
        assert CHECKS[kind].note, kind
    assert set(CHECKS) == kinds["Violation"] | kinds["Note"]  # no entry without a producer
    assert all(kind == c.kind for kind, c in CHECKS.items())


@pytest.mark.parametrize(
    ("finding", "keys"),
    [
        (
            Violation("missed", "server", {"policy": "server", "expected": "e", "deadline": "d"}),
            ["kind", "group", "policy", "expected", "deadline"],
        ),
        (
            Violation(
                "coverage",
                "server",
                {
                    "policy": "server",
                    "rule": "within_weekly",
                    "bucket": "2026-W12",
                    "expected": None,
                },
            ),
            ["kind", "group", "policy", "rule", "bucket", "expected"],
        ),
        (
            Violation("audit", "_backupctl", {"seq": 1, "key": "k", "problem": "p"}),
            ["kind", "group", "seq", "key", "problem"],
        ),
        (Note("unconfigured_group", "misc"), ["kind", "group"]),
    ],
)
def test_to_json_is_the_contract_key_for_key(finding: Finding, keys: list[str]) -> None:
    data = finding.to_json()
    assert list(data) == keys
    assert data["kind"] == finding.kind and data["group"] == finding.group
    data["kind"] = "changed"
    assert finding.to_json()["kind"] == finding.kind  # a fresh dict each time


def test_over_retention_json_is_retentions_own_shape() -> None:
    """verify builds the violation itself.

    Its JSON is what ``{**as_violation(), group, policy}`` gave.
    """
    from backupctl.config import parse_config
    from backupctl.evidence.verify import check_group
    from retention import Snapshot
    from retention.overretention import over_retained

    config = parse_config(
        {
            "timezone": "UTC",
            "store": {"url": "file:///nowhere"},
            "policy": [{"name": "app", "keep_last": 1}],
        }
    )
    policy = config.policies[0]
    snaps = [Snapshot(f"app/{d}", NOW - timedelta(days=d), "app") for d in range(5)]
    found = [
        v.to_json()
        for v in check_group(
            policy, snaps, at=NOW, zone=UTC, grace=config.verify.over_retention_grace
        ).violations
        if v.kind == "over_retention"
    ]
    old = [
        {**o.as_violation(), "group": "app", "policy": "app"}
        for o in over_retained(
            snaps, policy.policy, now=NOW, grace=config.verify.over_retention_grace
        )
    ]
    assert (
        found == old and len(found) == 2
    )  # app/4 and app/3 lost their last reason more than a day ago
    assert [list(f) for f in found] == [list(o) for o in old]


def proof_verdict(report: VerifyReport) -> dict[str, Any]:
    from backupctl.config import Config, DrillConfig, SafetyConfig, StoreConfig, VerifyConfig
    from backupctl.evidence.proof_model import ProofInputs, build_proof
    from backupctl.stores.base import Listing

    config = Config(
        path="/etc/backupctl.toml",
        timezone=UTC,
        store=StoreConfig(url="file:///nowhere"),
        safety=SafetyConfig(),
        verify=VerifyConfig(),
        drill=DrillConfig(),
        policies=(),
    )
    inputs = ProofInputs(
        config=config,
        listing=Listing(snapshots=[]),
        records=[],
        audit={"ok": True, "records": 0, "head": "0" * 64, "problems": []},
        verify=report,
        start=NOW - timedelta(days=30),
        end=NOW,
        now=NOW,
    )
    proof = build_proof(inputs)
    assert proof["verify"]["violations"] == [v.to_json() for v in report.violations]
    verdict: dict[str, Any] = proof["verdict"]
    return verdict


@pytest.mark.parametrize("in_proof_verdict", [True, False])
def test_a_new_kind_is_one_entry(monkeypatch: pytest.MonkeyPatch, in_proof_verdict: bool) -> None:
    """Registering a kind is all it takes.

    The verify command then advises on and describes it, and the proof's verdict counts it (or
    leaves it to a finding of its own).
    """
    monkeypatch.setitem(
        CHECKS,
        "toy",
        Check(
            "toy",
            "wind the toy up again",
            lambda f: f"toy {f.details['n']} stopped",
            in_proof_verdict=in_proof_verdict,
        ),
    )
    report = VerifyReport(
        at=NOW,
        checked={"at": NOW.isoformat()},
        violations=[Violation("toy", "g", {"n": 1}), Violation("toy", "g", {"n": 2})],
    )
    lines = list(render_report(report))
    assert "TOY (2): what to do: wind the toy up again" in lines
    assert lines[-3:] == ["  g:", "    - toy 1 stopped", "    - toy 2 stopped"]
    verdict = proof_verdict(report)
    if in_proof_verdict:
        assert verdict["findings"] == ["verify at the period's end: 2 violation(s) (toy)"]
    else:
        assert verdict["ok"] and verdict["findings"] == []


def test_an_unregistered_kind_is_investigated_and_counted() -> None:
    assert "mystery" not in CHECKS and lookup("mystery").advice == "investigate"
    report = VerifyReport(
        at=NOW,
        checked={"at": NOW.isoformat()},
        violations=[Violation("mystery", "g", {"a": 1, "b": None})],
        notes=[Note("future", "g", {"id": "g/1", "time": "t"})],
    )
    lines = list(render_report(report))
    assert "MYSTERY (1): what to do: investigate" in lines and "    - mystery: a=1, b=None" in lines
    assert lines[-2:] == [
        "  1 snapshot(s) dated in the future (g 1)",
        "    - g/1 dated t, after the check's time",  # not an ISO time: shown as it is
    ]
    assert proof_verdict(report)["findings"] == [
        "verify at the period's end: 1 violation(s) (mystery)"
    ]
