"""``backupctl proof``: an auditor's evidence for a period, as proof.json and one self-contained proof.html.

The proof reconstructs the period from what the store holds now and what the audit log says
was deleted: every scheduled slot is ``filled`` (a snapshot present now), ``deleted`` (its
snapshot was removed by a recorded prune, with the reasons), ``missed`` (no snapshot ever
filled it) or ``pending`` (its deadline is after the period or after now). It lists every
snapshot present with its manifest's SHA-256, every deletion and every drill in the period,
the audit log's head hash and verification, a verify run at the period's end, and a verdict.
proof.html embeds the SHA-256 of proof.json; ``backupctl proof check DIR`` recomputes it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from backupctl.checks import lookup
from backupctl.config import Config
from backupctl.errors import ViolationFound
from backupctl.secrets import redact_data
from backupctl.stores.base import Listing
from backupctl.verify import VerifyReport, schedule_of
from retention import Snapshot
from retention.schedule import match_snapshots

__all__ = ["FAILED_DRILLS", "ProofInputs", "build_proof", "check_proof", "proof_sha256", "write_proof"]

FAILED_DRILLS = ("failed", "over_target", "error")
HASH_META = re.compile(r'<meta name="proof-json-sha256" content="([0-9a-f]{64})">')


@dataclass(frozen=True)
class ProofInputs:
    """What a proof is built from (all read before building; building does no I/O)."""

    config: Config
    listing: Listing
    records: Sequence[dict[str, Any]]
    audit: dict[str, Any]  # {"ok", "records", "head", "problems"}
    verify: VerifyReport
    start: datetime
    end: datetime
    now: datetime


def _in(t: datetime, start: datetime, end: datetime) -> bool:
    return start.timestamp() <= t.timestamp() < end.timestamp()


def _parse(t: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(t)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else None


def deletions(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every snapshot a recorded prune deleted: id, group, snapshot time, when, by whom, why.

    A deletion is an id in a ``prune.result``'s ``deleted`` list; its time and reasons come
    from the ``prune.intent`` before it.
    """
    intent: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for r in records:
        data = r.get("data") or {}
        if r.get("action") == "prune.intent":
            for d in data.get("delete", []):
                if isinstance(d, dict) and "id" in d:
                    intent[str(d["id"])] = {**d, "forced": data.get("forced")}
        elif r.get("action") == "prune.result":
            for sid in data.get("deleted", []):
                why = intent.get(str(sid), {})
                out.append({"id": str(sid), "group": why.get("group", str(sid).split("/")[0]),
                            "time": why.get("time"), "deleted_at": r.get("time"), "actor": r.get("actor"),
                            "seq": r.get("seq"), "reason": why.get("reason", "not recorded in a prune.intent"),
                            "kept_reasons": why.get("kept_reasons", []), "forced": why.get("forced")})
    return out


def drills(records: Sequence[dict[str, Any]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every drill record in ``[start, end)``: when, snapshot, verdict, working time, message."""
    out = []
    for r in records:
        t = _parse(str(r.get("time")))
        if r.get("action") != "drill" or t is None or not _in(t, start, end):
            continue
        data = r.get("data") or {}
        raw = data.get("snapshot")
        snap: dict[str, Any] = raw if isinstance(raw, dict) else {}
        out.append({"time": r.get("time"), "seq": r.get("seq"), "snapshot": snap.get("id"),
                    "group": snap.get("group"), "verdict": data.get("verdict"),
                    "working_time": data.get("working_time"), "message": data.get("message")})
    return out


def _group_slots(inputs: ProofInputs, deleted: list[dict[str, Any]]) -> dict[str, Any]:
    cfg = inputs.config
    out: dict[str, Any] = {}
    present = [s for s in inputs.listing.snapshots]
    held_ids = {str(k) for r in inputs.records if r.get("action") == "prune.result"
                for k in (r.get("data") or {}).get("held", {}) or {}}
    for policy in cfg.policies:
        mine = [s.snapshot for s in present if s.snapshot.group == policy.group]
        gone = [Snapshot(d["id"], t, policy.group) for d in deleted
                if d["group"] == policy.group and (t := _parse(str(d["time"]))) is not None]
        known = mine + gone
        began = min((s.time for s in known), key=lambda t: t.timestamp(), default=None)
        sched = schedule_of(policy, cfg.timezone)
        slots: list[dict[str, Any]] = []
        if sched is not None and began is not None:
            start = max(inputs.start, began, key=lambda t: t.timestamp())
            gone_ids = {s.id for s in gone}
            horizon = min(inputs.end, inputs.now, key=lambda t: t.timestamp())
            for m in match_snapshots(sched.slots(start, inputs.end), known, now=horizon):
                status: str = m.status
                if m.snapshot is not None and m.snapshot.id in gone_ids:
                    status = "deleted"
                elif m.snapshot is not None and m.snapshot.id in held_ids:
                    status = "held"
                slots.append({"expected": m.slot.expected.isoformat(), "deadline": m.slot.deadline.isoformat(),
                              "status": status, "snapshot": m.snapshot.id if m.snapshot else None})
        counts = {k: sum(s["status"] == k for s in slots) for k in ("filled", "deleted", "held", "missed", "pending")}
        out[policy.group] = {"policy": policy.name, "schedule": policy.schedule, "rules": policy.policy.describe(),
                             "history_began": began.isoformat() if began else None, "counts": counts, "slots": slots}
    return out


def build_proof(inputs: ProofInputs) -> dict[str, Any]:
    """The proof document (proof.json's content) for ``inputs``; pure. Every string in it is
    redacted (:func:`backupctl.secrets.redact_data`): a password in the store URL shows as ``***``."""
    start, end = inputs.start, inputs.end
    deleted = deletions(inputs.records)
    groups = _group_slots(inputs, deleted)
    snaps = [{"id": s.snapshot.id, "group": s.snapshot.group, "time": s.snapshot.time.isoformat(),
              "status": s.status, "size": s.size, "manifest_sha256": s.manifest_sha256}
             for s in sorted(inputs.listing.snapshots, key=lambda s: (s.snapshot.group, s.snapshot.time.timestamp()))
             if _in(s.snapshot.time, start, end)]
    in_period = [d for d in deleted if (t := _parse(str(d["deleted_at"]))) is not None and _in(t, start, end)]
    drill_list = drills(inputs.records, start, end)
    verdict = _verdict(groups, inputs.audit, drill_list, inputs.verify)
    doc: dict[str, Any] = redact_data({  # the store URL, error texts …: none reaches proof.json or proof.html
        "version": 1,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "generated_at": inputs.now.isoformat(),
        "config": {"path": inputs.config.path, "sha256": inputs.config.sha256, "timezone": str(inputs.config.timezone),
                   "store": inputs.config.store.url},
        "verdict": verdict,
        "groups": groups,
        "snapshots": snaps,
        "deletions": in_period,
        "drills": drill_list,
        "audit": inputs.audit,
        "verify": inputs.verify.to_json(),
    })
    return doc


def _verdict(groups: dict[str, Any], audit: dict[str, Any], drill_list: list[dict[str, Any]],
             verify: VerifyReport) -> dict[str, Any]:
    findings: list[str] = []
    for name, g in groups.items():
        if g["counts"]["missed"]:
            findings.append(f"{name}: {g['counts']['missed']} scheduled backup(s) missed in the period")
    if not audit.get("ok"):
        findings.append(f"audit log: {len(audit.get('problems', []))} problem(s): the log was tampered with or damaged")
    failed = [d for d in drill_list if d["verdict"] in FAILED_DRILLS]
    if failed:
        findings.append(f"drills: {len(failed)} of {len(drill_list)} failed or over target")
    other = [v for v in verify.violations if lookup(v.kind).in_proof_verdict]  # missed, audit: found above
    kinds = sorted({v.kind for v in other})
    if other:
        findings.append(f"verify at the period's end: {len(other)} violation(s) ({', '.join(kinds)})")
    return {"ok": not findings, "summary": "PASS" if not findings else "FAIL", "findings": findings}


def proof_sha256(data: bytes) -> str:
    """SHA-256 hex of proof.json's bytes."""
    return hashlib.sha256(data).hexdigest()


def write_proof(out_dir: Path, proof: dict[str, Any]) -> tuple[Path, Path, str]:
    """Write proof.json and proof.html into ``out_dir`` (created); returns both paths and the hash.

    Raises:
        OSError: the directory or files cannot be written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(proof, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    digest = proof_sha256(data)
    json_path, html_path = out_dir / "proof.json", out_dir / "proof.html"
    json_path.write_bytes(data)
    html_path.write_text(render_html(proof, digest), encoding="utf-8")
    return json_path, html_path, digest


def check_proof(out_dir: Path) -> str:
    """Recompute proof.json's SHA-256 and compare it with the one embedded in proof.html.

    Returns:
        The matching hash.

    Raises:
        ViolationFound: a file is missing, the page carries no hash, or the hashes differ.
    """
    json_path, html_path = out_dir / "proof.json", out_dir / "proof.html"
    for p in (json_path, html_path):
        if not p.is_file():
            raise ViolationFound(f"proof check: {p} is missing")
    actual = proof_sha256(json_path.read_bytes())
    match = HASH_META.search(html_path.read_text(encoding="utf-8", errors="replace"))
    if match is None:
        raise ViolationFound(f"proof check: {html_path} carries no proof-json-sha256")
    if match.group(1) != actual:
        raise ViolationFound(f"proof check: proof.json has SHA-256 {actual}, but proof.html records "
                             f"{match.group(1)}: proof.json was changed after the proof was made")
    return actual


# --- proof.html: one self-contained page (inline CSS and SVG, no scripts, no external resources) ----------------

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232b;margin:0;background:#f4f6f8}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:20px;margin:32px 0 10px;border-bottom:2px solid #d5dbe1;padding-bottom:4px}
h3{font-size:16px;margin:20px 0 6px}.sub{color:#5b6773;margin:0 0 18px}
.verdict{border-radius:10px;padding:16px 22px;margin:14px 0 20px;color:#fff}
.verdict.pass{background:#2e7d32}.verdict.fail{background:#b71c1c}
.verdict b{font-size:28px;letter-spacing:.04em;margin-right:14px}.verdict ul{margin:8px 0 0 18px;padding:0}
.card{background:#fff;border:1px solid #d5dbe1;border-radius:8px;padding:14px 18px;margin:12px 0}
table{border-collapse:collapse;width:100%;font-size:13.5px;background:#fff}
th,td{border-bottom:1px solid #e3e7eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;word-break:break-all}
.kv th{width:210px;background:#f7f9fa}.ok{color:#2e7d32;font-weight:600}.bad{color:#b71c1c;font-weight:600}
.legend span{display:inline-block;margin-right:16px;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px}
details summary{cursor:pointer;font-weight:600;margin:6px 0}svg{display:block;max-width:100%;height:auto}
footer{color:#5b6773;font-size:13px;margin-top:36px}
"""
_COLORS = {"filled": "#2e7d32", "deleted": "#9aa5b1", "held": "#1565c0", "missed": "#d32f2f", "pending": "#e3e7eb"}
_LABELS = {"filled": "backup present", "deleted": "backup made, later deleted by a recorded prune",
           "held": "held (Object Lock / legal hold)", "missed": "MISSED: no backup", "pending": "not yet due"}


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def render_html(proof: dict[str, Any], digest: str) -> str:
    """The auditor's page for ``proof`` (whose proof.json has SHA-256 ``digest``)."""
    v = proof["verdict"]
    period = proof["period"]
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta name="proof-json-sha256" content="{digest}">',
        f"<title>Backup retention proof {_e(period['from'][:10])} to {_e(period['to'][:10])}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>Backup retention proof</h1><p class=\"sub\">Period {_e(period['from'])} to {_e(period['to'])} "
        f"(end exclusive) &middot; generated {_e(proof['generated_at'])}</p>",
        _verdict_html(v),
        _facts_html(proof, digest),
        "<h2>Timeline per group</h2>", _legend_html(),
    ]
    start, end = datetime.fromisoformat(period["from"]), datetime.fromisoformat(period["to"])
    for name, g in proof["groups"].items():
        parts.append(_group_html(name, g, proof, start, end))
    parts += [_deletions_html(proof["deletions"]), _drills_html(proof["drills"]), _verify_html(proof["verify"]),
              _audit_html(proof["audit"]), _snapshots_html(proof["snapshots"]), _footer_html(digest),
              "</main></body></html>"]
    return "\n".join(parts)


def _verdict_html(v: dict[str, Any]) -> str:
    cls = "pass" if v["ok"] else "fail"
    text = ("Every scheduled backup in the period exists or was deleted by a recorded, justified prune; "
            "the audit log is intact; every drill passed; nothing is kept too long."
            if v["ok"] else "The promise did not hold in this period:")
    items = "".join(f"<li>{_e(f)}</li>" for f in v["findings"])
    return f'<div class="verdict {cls}"><b>{_e(v["summary"])}</b>{_e(text)}{f"<ul>{items}</ul>" if items else ""}</div>'


def _facts_html(proof: dict[str, Any], digest: str) -> str:
    audit, cfg = proof["audit"], proof["config"]
    status = ('<span class="ok">intact</span>' if audit.get("ok")
              else f'<span class="bad">{len(audit.get("problems", []))} problem(s)</span>')
    rows = [("Store", _e(cfg["store"])), ("Config", f"{_e(cfg['path'])}<br><code>sha256 {_e(cfg['sha256'])}</code>"),
            ("Timezone", _e(cfg["timezone"])),
            ("Audit log", f"{status}, {_e(audit.get('records'))} records, head <code>{_e(audit.get('head'))}</code>"),
            ("proof.json SHA-256", f"<code>{digest}</code>")]
    body = "".join(f"<tr><th>{k}</th><td>{val}</td></tr>" for k, val in rows)
    return f'<table class="kv card">{body}</table>'


def _legend_html() -> str:
    items = "".join(f'<span><i style="background:{_COLORS[k]}"></i>{_e(_LABELS[k])}</span>' for k in _COLORS)
    return (f'<p class="legend">{items}<span><i style="background:#6a1b9a;border-radius:6px"></i>restore drill'
            "</span></p>")


def _x(t: datetime | None, start: datetime, end: datetime, left: float, width: float) -> float:
    if t is None:
        return left
    span = max(end.timestamp() - start.timestamp(), 1.0)
    return left + width * min(max((t.timestamp() - start.timestamp()) / span, 0.0), 1.0)


def _timeline_svg(name: str, g: dict[str, Any], proof: dict[str, Any], start: datetime, end: datetime) -> str:
    w, left, right = 1120.0, 110.0, 16.0
    inner = w - left - right
    lanes = [("scheduled", 18), ("present", 50), ("deleted", 72), ("drills", 94)]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} 140" width="{w:.0f}" height="140" '
           f'role="img" aria-label="timeline of {_e(name)}" class="timeline" data-group="{_e(name)}">',
           f'<rect x="{left}" y="10" width="{inner}" height="100" fill="#fbfcfd" stroke="#d5dbe1"/>']
    for label, y in lanes:
        out.append(f'<text x="{left - 8}" y="{y + 12}" text-anchor="end" font-size="12" fill="#5b6773">{label}</text>')
    for tick_t, tick_label in _ticks(start, end):
        x = _x(tick_t, start, end, left, inner)
        out.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="114" stroke="#e3e7eb"/>'
                   f'<text x="{x:.1f}" y="128" font-size="11" fill="#5b6773" text-anchor="middle">{tick_label}</text>')
    for slot in g["slots"]:
        x0 = _x(_parse(slot["expected"]), start, end, left, inner)
        x1 = _x(_parse(slot["deadline"]), start, end, left, inner)
        color, tall = _COLORS[slot["status"]], slot["status"] == "missed"
        if tall:  # a marker above the lane, so a single missed slot stands out in a long period
            mid = (x0 + x1) / 2
            out.append(f'<path d="M{mid - 6:.1f},2 L{mid + 6:.1f},2 L{mid:.1f},12 Z" fill="{color}"/>')
        out.append(f'<rect x="{x0:.2f}" y="{14 if tall else 18}" width="{max(x1 - x0 - 0.4, 1.0):.2f}" '
                   f'height="{24 if tall else 18}" fill="{color}"><title>{_e(slot["expected"])}: '
                   f'{_e(_LABELS[slot["status"]])} {_e(slot["snapshot"] or "")}</title></rect>')
    for s in proof["snapshots"]:
        if s["group"] == name:
            x = _x(_parse(s["time"]), start, end, left, inner)
            out.append(f'<rect x="{x:.2f}" y="50" width="1.2" height="16" fill="#2e7d32"/>')
    for d in proof["deletions"]:
        if d["group"] == name:
            x = _x(_parse(str(d["deleted_at"])), start, end, left, inner)
            out.append(f'<rect x="{x:.2f}" y="72" width="1.2" height="16" fill="#78909c"/>')
    for d in proof["drills"]:
        if d["group"] == name:
            x = _x(_parse(str(d["time"])), start, end, left, inner)
            fill = "#6a1b9a" if d["verdict"] not in FAILED_DRILLS else "#d32f2f"
            out.append(f'<circle cx="{x:.1f}" cy="102" r="6" fill="{fill}"><title>drill {_e(d["time"])}: '
                       f'{_e(d["verdict"])}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def _ticks(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """Month starts (long periods), weekly or daily ticks (short periods) inside the period, in its zone."""
    days = (end.timestamp() - start.timestamp()) / 86400
    step = 1 if days <= 16 else 7 if days <= 60 else 0
    out: list[tuple[datetime, str]] = []
    t = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while t.timestamp() <= end.timestamp() and len(out) < 60:
        if t.timestamp() >= start.timestamp() and (step or t.day == 1):
            out.append((t, t.strftime("%d %b") if step else t.strftime("%b %Y")))
        t = (t + timedelta(days=step or 1)).replace(hour=0)
    return out


def _group_html(name: str, g: dict[str, Any], proof: dict[str, Any], start: datetime, end: datetime) -> str:
    c = g["counts"]
    total = sum(c.values())
    cells = "".join(f'<td class="num" style="color:{_COLORS[k] if k != "pending" else "#5b6773"}">{c[k]}</td>'
                    for k in ("filled", "deleted", "held", "missed", "pending"))
    missed = [s for s in g["slots"] if s["status"] == "missed"]
    missed_html = ("<p class=\"ok\">No scheduled backup was missed.</p>" if not missed else
                   "<p class=\"bad\">Missed backups (no snapshot was ever made for these scheduled times):</p><ul>"
                   + "".join(f"<li><code>{_e(s['expected'])}</code></li>" for s in missed) + "</ul>")
    return (f'<div class="card"><h3>{_e(name)} <span class="sub">policy {_e(g["policy"])}: {_e(g["rules"])}; '
            f'schedule <code>{_e(g["schedule"])}</code>; history since {_e(g["history_began"])}</span></h3>'
            f"{_timeline_svg(name, g, proof, start, end)}"
            '<table><tr><th class="num">scheduled slots</th><th class="num">present</th>'
            '<th class="num">deleted (justified)</th><th class="num">held</th>'
            '<th class="num">missed</th><th class="num">not yet due</th></tr>'
            f'<tr><td class="num">{total}</td>{cells}</tr></table>'
            f"{missed_html}</div>")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _details(title: str, inner: str, count: int, open_below: int = 40) -> str:
    return f'<details{" open" if count <= open_below else ""}><summary>{title}</summary>{inner}</details>'


def _deletions_html(items: list[dict[str, Any]]) -> str:
    rows = [[_e(d["deleted_at"]), f"<code>{_e(d['id'])}</code>", _e(d["time"]), _e(d["reason"]),
             _e(", ".join(d.get("kept_reasons") or []) or "none"), _e(d.get("actor")), _e(d.get("seq"))]
            for d in items]
    inner = (_table(["deleted at", "snapshot", "snapshot time", "why", "rules still keeping it", "by", "audit seq"],
                    rows) if rows else "<p>No deletions in the period.</p>")
    return (f"<h2>Deletions in the period ({len(items)})</h2><p>Every deletion recorded by a prune in the audit log, "
            "with the policy's reason.</p>" + _details(f"{len(items)} deletion(s)", inner, len(items)))


def _drills_html(items: list[dict[str, Any]]) -> str:
    rows = [[_e(d["time"]), f"<code>{_e(d['snapshot'])}</code>",
             f'<span class="{"bad" if d["verdict"] in FAILED_DRILLS else "ok"}">{_e(d["verdict"])}</span>',
             _e(d.get("working_time")), _e(d.get("message"))] for d in items]
    inner = _table(["when", "snapshot", "verdict", "working time to live", "message"], rows) if rows else \
        "<p>No restore drill was recorded in the period.</p>"
    return f"<h2>Restore drills ({len(items)})</h2>{inner}"


def _verify_html(report: dict[str, Any]) -> str:
    viol = report["violations"]
    rows = [[_e(v["kind"]), _e(v.get("group")), _e(", ".join(f"{k}={x}" for k, x in v.items()
                                                              if k not in ("kind", "group")))] for v in viol]
    inner = _table(["kind", "group", "details"], rows) if rows else '<p class="ok">No violations.</p>'
    return (f"<h2>Verification at the end of the period</h2><p>Missed backups, coverage of the retention "
            f"promise, over-retention, sampled integrity and the audit chain, as <code>backupctl verify</code> "
            f"reports them at {_e(report['checked'].get('at'))}.</p>{inner}")


def _audit_html(audit: dict[str, Any]) -> str:
    problems = audit.get("problems", [])
    rows = [[_e(p.get("seq")), _e(p.get("key")), _e(p.get("problem"))] for p in problems]
    inner = _table(["seq", "object", "problem"], rows) if rows else \
        '<p class="ok">Every record is well-formed, hash-chained to its predecessor, and the chain is complete.</p>'
    return (f"<h2>Audit log</h2><p>{_e(audit.get('records'))} records; head (hash of the newest record) "
            f"<code>{_e(audit.get('head'))}</code>.</p>{inner}")


def _snapshots_html(items: list[dict[str, Any]]) -> str:
    rows = [[f"<code>{_e(s['id'])}</code>", _e(s["time"]), _e(s["status"]), f'<span class="num">{_e(s["size"])}</span>',
             f"<code>{_e(s['manifest_sha256'])}</code>"] for s in items]
    inner = _table(["snapshot", "time", "status", "bytes", "manifest SHA-256"], rows)
    return (f"<h2>Snapshots present ({len(items)})</h2>"
            + _details(f"{len(items)} snapshot(s) in the period, with the SHA-256 of each manifest", inner,
                       len(items), 0))


def _footer_html(digest: str) -> str:
    return ("<footer><p><b>How to check this proof.</b> This page records the SHA-256 of <code>proof.json</code>: "
            f"<code>{digest}</code>. Recompute it with <code>sha256sum proof.json</code> or "
            "<code>backupctl proof check DIR</code> (exit 0: unchanged). The audit log's head hash above can be "
            "compared with a later <code>backupctl audit verify</code>: a log that was rewritten no longer "
            "contains it.</p><p>Made by backupctl.</p></footer>")
