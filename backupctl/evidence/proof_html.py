"""proof.html: the proof document as one self-contained page.

Inline CSS and SVG, no scripts, no external resources: it opens offline and prints well.

The page records proof.json's SHA-256 in ``<meta name="proof-json-sha256">`` (and shows it in
the key facts and the footer); :func:`recorded_digest` reads it back for ``proof check``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backupctl import humanize
from backupctl.evidence.proof_model import FAILED_DRILLS, parse_time

__all__ = ["recorded_digest", "render", "render_html"]

_ZONE: ContextVar[Any] = ContextVar("proof_zone", default=None)  # the proof's config zone
HASH_META = re.compile(r'<meta name="proof-json-sha256" content="([0-9a-f]{64})">')

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;\
color:#1d232b;margin:0;background:#f4f6f8}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:20px;margin:32px 0 10px;border-bottom:2px solid #d5dbe1;padding-bottom:4px}
h3{font-size:16px;margin:20px 0 6px}.sub{color:#5b6773;margin:0 0 18px}
.verdict{border-radius:10px;padding:16px 22px;margin:14px 0 20px;color:#fff}
.verdict.pass{background:#2e7d32}.verdict.fail{background:#b71c1c}
.verdict b{font-size:28px;letter-spacing:.04em;margin-right:14px}\
.verdict ul{margin:8px 0 0 18px;padding:0}
.card{background:#fff;border:1px solid #d5dbe1;border-radius:8px;padding:14px 18px;margin:12px 0}
table{border-collapse:collapse;width:100%;font-size:13.5px;background:#fff}
th,td{border-bottom:1px solid #e3e7eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;word-break:break-all}
.kv th{width:210px;background:#f7f9fa}.ok{color:#2e7d32;font-weight:600}\
.bad{color:#b71c1c;font-weight:600}
.legend span{display:inline-block;margin-right:16px;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;\
vertical-align:-1px}
details summary{cursor:pointer;font-weight:600;margin:6px 0}\
svg{display:block;max-width:100%;height:auto}
footer{color:#5b6773;font-size:13px;margin-top:36px}
.promise{font-size:17px;background:#fff;border-left:5px solid #1565c0;padding:10px 16px}
@media print{
@page{size:A4;margin:14mm 12mm}
body{background:#fff;font-size:11pt}main{max-width:none;padding:0}
.verdict{-webkit-print-color-adjust:exact;print-color-adjust:exact}
.card,table,svg{break-inside:auto}tr,svg,.verdict,.promise{break-inside:avoid}
thead{display:table-header-group}h2,h3{break-after:avoid}
details>summary{list-style:none}details>summary::-webkit-details-marker{display:none}
details:not([open])>*:not(summary){display:revert}
code,.mono{font-size:8.5pt}
}
"""
_COLORS = {
    "filled": "#2e7d32",
    "deleted": "#9aa5b1",
    "held": "#1565c0",
    "missed": "#d32f2f",
    "pending": "#e3e7eb",
}
_LABELS = {
    "filled": "backup present",
    "deleted": "backup made, later deleted by a recorded prune",
    "held": "held (Object Lock / legal hold)",
    "missed": "MISSED: no backup",
    "pending": "not yet due",
}


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def _t(value: object) -> str:
    """An ISO time from the proof as people read it, in the proof's zone (humanize's), inside a
    ``<time datetime>`` that keeps the exact ISO value; anything else escaped as it is."""
    t = parse_time(str(value)) if value is not None else None
    if t is None:
        return _e(value)
    return f'<time datetime="{_e(value)}">{_e(humanize.when(t, _ZONE.get() or t.tzinfo))}</time>'


def _live(configured: object) -> str:
    if configured is None:
        return "not recorded"
    return "yes" if configured else "none configured"


def _dur(seconds: object, iso: object = None) -> str:
    """A duration in seconds as people say it (``28 ms``, ``3 h 12 min``); else the ISO text."""
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        return _e(humanize.duration(float(seconds)))
    return _e(iso)


def render_html(proof: dict[str, Any], digest: str) -> str:
    """The auditor's page for ``proof`` (whose proof.json has SHA-256 ``digest``)."""
    try:
        _ZONE.set(ZoneInfo(str(proof.get("config", {}).get("timezone"))))
    except (ZoneInfoNotFoundError, ValueError):
        _ZONE.set(None)  # hostile or unknown: the times' own offsets
    v = proof["verdict"]
    period = proof["period"]
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f'<meta name="proof-json-sha256" content="{digest}">',
        f"<title>Backup retention proof {_e(period['from'][:10])} "
        f"to {_e(period['to'][:10])}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        "<h1>Backup retention proof</h1>"
        f'<p class="sub">Period {_t(period["from"])} to {_t(period["to"])} '
        f"(end exclusive) &middot; generated {_t(proof['generated_at'])}</p>",
        _verdict_html(v),
        _promise_html(proof),
        _facts_html(proof, digest),
        _evidence_html(proof),
        _tiers_html(proof),
        "<h2>Timeline per group</h2>",
        _legend_html(),
    ]
    start, end = datetime.fromisoformat(period["from"]), datetime.fromisoformat(period["to"])
    for name, g in proof["groups"].items():
        parts.append(_group_html(name, g, proof, start, end))
    parts += [
        _forced_html(proof.get("forced") or []),
        _deletions_html(proof["deletions"], proof.get("deletion_counts")),
        _protected_html(proof.get("protected") or []),
        _drills_html(proof["drills"]),
        _verify_html(proof["verify"]),
        _audit_html(proof["audit"]),
        _snapshots_html(proof["snapshots"]),
        _controls_html(proof),
        _footer_html(digest),
        "</main></body></html>",
    ]
    return "\n".join(parts)


def _verdict_html(v: dict[str, Any]) -> str:
    cls = "pass" if v["ok"] else "fail"
    text = (
        "Every scheduled backup in the period exists or was deleted by a recorded prune "
        "with its reason; the history covers the whole period; the audit log is intact; "
        "no drill failed; verify found nothing kept too long."
        if v["ok"]
        else "The promise did not hold in this period:"
    )
    items = "".join(f"<li>{_e(f)}</li>" for f in v["findings"])
    return (
        f'<div class="verdict {cls}"><b>{_e(v["summary"])}</b>{_e(text)}'
        f"{f'<ul>{items}</ul>' if items else ''}</div>"
    )


def _facts_html(proof: dict[str, Any], digest: str) -> str:
    audit, cfg = proof["audit"], proof["config"]
    status = (
        '<span class="ok">intact</span>'
        if audit.get("ok")
        else f'<span class="bad">{len(audit.get("problems", []))} problem(s)</span>'
    )
    rows = [
        ("Store", _e(cfg["store"])),
        ("Config", f"{_e(cfg['path'])}<br><code>sha256 {_e(cfg['sha256'])}</code>"),
        ("Timezone", _e(cfg["timezone"])),
        (
            "Audit log",
            f"{status}, {_e(audit.get('records'))} records, "
            f"head <code>{_e(audit.get('head'))}</code>",
        ),
        ("proof.json SHA-256", f"<code>{digest}</code>"),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{val}</td></tr>" for k, val in rows)
    return f'<table class="kv card">{body}</table>'


def _legend_html() -> str:
    items = "".join(
        f'<span><i style="background:{_COLORS[k]}"></i>{_e(_LABELS[k])}</span>' for k in _COLORS
    )
    return (
        f'<p class="legend">{items}'
        '<span><i style="background:#6a1b9a;border-radius:6px"></i>restore drill</span></p>'
    )


def _x(t: datetime | None, start: datetime, end: datetime, left: float, width: float) -> float:
    if t is None:
        return left
    span = max(end.timestamp() - start.timestamp(), 1.0)
    return left + width * min(max((t.timestamp() - start.timestamp()) / span, 0.0), 1.0)


def _timeline_svg(
    name: str, g: dict[str, Any], proof: dict[str, Any], start: datetime, end: datetime
) -> str:
    w, left, right = 1120.0, 110.0, 16.0
    inner = w - left - right
    lanes = [("scheduled", 18), ("present", 50), ("deleted", 72), ("drills", 94)]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} 140" '
        f'width="{w:.0f}" height="140" '
        f'role="img" aria-label="timeline of {_e(name)}" class="timeline" data-group="{_e(name)}">',
        f'<rect x="{left}" y="10" width="{inner}" height="100" fill="#fbfcfd" stroke="#d5dbe1"/>',
    ]
    for label, y in lanes:
        out.append(
            f'<text x="{left - 8}" y="{y + 12}" text-anchor="end" font-size="12" '
            f'fill="#5b6773">{label}</text>'
        )
    for tick_t, tick_label in _ticks(start, end):
        x = _x(tick_t, start, end, left, inner)
        out.append(
            f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="114" stroke="#e3e7eb"/>'
            f'<text x="{x:.1f}" y="128" font-size="11" fill="#5b6773" text-anchor="middle">'
            f"{tick_label}</text>"
        )
    for slot in g["slots"]:
        x0 = _x(parse_time(slot["expected"]), start, end, left, inner)
        x1 = _x(parse_time(slot["deadline"]), start, end, left, inner)
        color, tall = _COLORS[slot["status"]], slot["status"] == "missed"
        if tall:  # a marker above the lane, so a single missed slot stands out in a long period
            mid = (x0 + x1) / 2
            out.append(
                f'<path d="M{mid - 6:.1f},2 L{mid + 6:.1f},2 L{mid:.1f},12 Z" fill="{color}"/>'
            )
        out.append(
            f'<rect x="{x0:.2f}" y="{14 if tall else 18}" width="{max(x1 - x0 - 0.4, 1.0):.2f}" '
            f'height="{24 if tall else 18}" fill="{color}"><title>{_e(slot["expected"])}: '
            f"{_e(_LABELS[slot['status']])} {_e(slot['snapshot'] or '')}</title></rect>"
        )
    for s in proof["snapshots"]:
        if s["group"] == name:
            x = _x(parse_time(s["time"]), start, end, left, inner)
            out.append(f'<rect x="{x:.2f}" y="50" width="1.2" height="16" fill="#2e7d32"/>')
    for d in proof["deletions"]:
        if d["group"] == name:
            x = _x(parse_time(str(d["deleted_at"])), start, end, left, inner)
            out.append(f'<rect x="{x:.2f}" y="72" width="1.2" height="16" fill="#78909c"/>')
    for d in proof["drills"]:
        if d["group"] == name:
            x = _x(parse_time(str(d["time"])), start, end, left, inner)
            fill = "#6a1b9a" if d["verdict"] not in FAILED_DRILLS else "#d32f2f"
            out.append(
                f'<circle cx="{x:.1f}" cy="102" r="6" fill="{fill}"><title>drill {_e(d["time"])}: '
                f"{_e(d['verdict'])}</title></circle>"
            )
    out.append("</svg>")
    return "".join(out)


def _ticks(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """Month starts, weekly or daily ticks inside the period, in its zone.

    Month starts for long periods, weekly or daily ticks for short ones.
    """
    days = (end.timestamp() - start.timestamp()) / 86400
    step = 1 if days <= 16 else 7 if days <= 60 else 0
    out: list[tuple[datetime, str]] = []
    t = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while t.timestamp() <= end.timestamp() and len(out) < 60:
        if t.timestamp() >= start.timestamp() and (step or t.day == 1):
            out.append((t, t.strftime("%d %b") if step else t.strftime("%b %Y")))
        t = (t + timedelta(days=step or 1)).replace(hour=0)
    return out


def _group_html(
    name: str, g: dict[str, Any], proof: dict[str, Any], start: datetime, end: datetime
) -> str:
    c = g["counts"]
    total = sum(c.values())
    cells = "".join(
        f'<td class="num" style="color:{_COLORS[k] if k != "pending" else "#5b6773"}">{c[k]}</td>'
        for k in ("filled", "deleted", "held", "missed", "pending")
    )
    missed = [s for s in g["slots"] if s["status"] == "missed"]
    missed_html = (
        '<p class="ok">No scheduled backup was missed.</p>'
        if not missed
        else '<p class="bad">Missed backups '
        "(no snapshot was ever made for these scheduled times):</p><ul>"
        + "".join(f"<li>{_t(s['expected'])} (deadline {_t(s['deadline'])})</li>" for s in missed)
        + "</ul>"
    )
    return (
        f'<div class="card"><h3>{_e(name)} '
        f'<span class="sub">policy {_e(g["policy"])}: {_e(g["rules"])}; '
        f"schedule <code>{_e(g['schedule'])}</code>; "
        f"history since {_t(g['history_began']) if g['history_began'] else 'never'}</span></h3>"
        f"{_uncovered_html(g.get('uncovered'))}"
        f"{_timeline_svg(name, g, proof, start, end)}"
        '<table><tr><th class="num">scheduled slots</th><th class="num">present</th>'
        '<th class="num">made, later deleted</th><th class="num">held</th>'
        '<th class="num">missed</th><th class="num">not yet due</th></tr>'
        f'<tr><td class="num">{total}</td>{cells}</tr></table>'
        f"{missed_html}</div>"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _details(title: str, inner: str, count: int, open_below: int = 40) -> str:
    return (
        "<details open>"  # open, so print and PDF carry every table (a reader may fold it)
        f"<summary>{title}</summary>{inner}</details>"
    )


def _deletions_html(items: list[dict[str, Any]], counts: dict[str, Any] | None) -> str:
    rows = [
        [
            _t(d["deleted_at"]),
            f"<code>{_e(d['id'])}</code>",
            _t(d["time"]) + (" <b>(before the period)</b>" if d.get("before_period") else ""),
            "<br>".join(_e(w) for w in d.get("why") or [d.get("reason")]),
            "yes (see Forced prunes)" if d.get("forced") else "no",
            _e(d.get("actor")),
            _e(d.get("seq")),
        ]
        for d in items
    ]
    inner = (
        _table(
            [
                "deleted at",
                "snapshot",
                "snapshot taken",
                "why: the rules it fell outside (cut-offs)",
                "forced",
                "by",
                "audit seq",
            ],
            rows,
        )
        if rows
        else "<p>No deletions in the period.</p>"
    )
    return (
        f"<h2>Deletions in the period ({len(items)})</h2>"
        "<p>Every deletion a prune recorded in the audit log in the period (by when it was "
        "deleted), with the rules the snapshot fell outside and their cut-offs. A deletion "
        "recorded before backupctl recorded that detail says “not kept by policy”.</p>"
        + _deletion_counts_html(counts)
        + _details(f"{len(items)} deletion(s)", inner, len(items))
    )


def _deletion_counts_html(counts: dict[str, Any] | None) -> str:
    if not counts:
        return ""
    rows = [
        [_e(g), _num(c["total"]), _num(c["before_period"]), _num(c["in_period"])]
        for g, c in counts.get("groups", {}).items()
    ]
    rows.append(
        [
            "<b>all groups</b>",
            _num(counts["total"]),
            _num(counts["before_period"]),
            _num(counts["in_period"]),
        ]
    )
    return _table(
        ["group", "deleted in the period", "of snapshots taken before it", "of snapshots in it"],
        rows,
        cls="counts",
    )


def _num(n: object) -> str:
    return f'<span class="num">{_e(n)}</span>'


def _forced_html(items: list[dict[str, Any]]) -> str:
    if not items:
        return (
            "<h2>Forced prunes (0)</h2><p>No prune in the period was forced past a safety "
            "refusal.</p>"
        )
    rows = [
        [
            _t(f["time"]),
            _e(f.get("actor")),
            f"<b>{_e(f.get('reason'))}</b>",
            "<br>".join(
                f"{_e(r.get('group'))}: <code>{_e(r.get('rule'))}</code> {_e(r.get('message'))}"
                for r in f.get("refusals") or []
            )
            or "none",
            _e(f.get("seq")),
        ]
        for f in items
    ]
    return (
        f"<h2>Forced prunes ({len(items)})</h2><p>Prunes run with <code>--force --reason</code>"
        " past a safety refusal: who forced, when, the refusals overridden and the reason given"
        " (the audit log's <code>prune.forced</code> records).</p>"
        + _table(["when", "by", "reason given", "refusals overridden", "audit seq"], rows)
    )


def _protected_html(items: list[dict[str, Any]]) -> str:
    if not items:
        return ""
    rows = [
        [
            f"<code>{_e(p['id'])}</code>",
            _t(p.get("time")),
            _e("; ".join(p.get("reasons") or [])),
            _t(p.get("at")),
        ]
        for p in items
    ]
    return (
        f"<h2>Kept by a safety rule ({len(items)})</h2><p>Snapshots no retention rule kept, "
        "kept by a safety rule instead (the newest of a group, the last verified).</p>"
        + _details(
            f"{len(items)} snapshot(s)",
            _table(["snapshot", "taken", "kept: why", "by the prune at"], rows),
            len(items),
        )
    )


def _uncovered_html(gap: dict[str, Any] | None) -> str:
    if not gap:
        return ""
    return (
        f'<p class="bad">Not covered: {_e(gap["days"])} day(s), {_e(gap["first_day"])} to '
        f"{_e(gap['last_day'])}, before the history began ({_e(gap['scheduled'])} scheduled "
        "backup(s) in them have no evidence).</p>"
    )


def _promise_html(proof: dict[str, Any]) -> str:
    promise = proof.get("promise") or {}
    if not promise.get("text"):
        return ""
    return (
        '<h2>The promise</h2><p class="promise">'
        f"{_e(promise['text'])}.</p>"
        '<p class="sub">Generated from the config\'s policies, schedules and drill target '
        f"(config sha256 <code>{_e(proof['config'].get('sha256'))}</code>).</p>"
    )


def _tiers_html(proof: dict[str, Any]) -> str:
    rows = []
    for name, g in proof["groups"].items():
        for t in g.get("tiers") or []:
            ok = t["had"] >= t["needed"]
            empty = ", ".join(str(b) for b in t.get("empty") or [])
            rows.append(
                [
                    _e(name),
                    f"<code>{_e(t['rule'])}</code>",
                    _num(t["needed"]),
                    f'<span class="num {"ok" if ok and t["needed"] else "bad" if not ok else ""}">'
                    f"{_e(t['had'])}</span>",
                    _e(empty) or ("-" if ok else ""),
                ]
            )
    at = proof["verify"]["checked"].get("at")
    inner = (
        _table(["group", "tier (rule)", "slots needed", "slots had", "empty slots"], rows)
        if rows
        else "<p>No tier promised any slot (no history).</p>"
    )
    return (
        "<h2>Retention tiers</h2><p>Per rule of each policy, the slots the promise needed at "
        f"{_t(at)} (the period's end, or now) and how many a snapshot filled. "
        "<code>within</code> counts every scheduled backup in its window.</p>" + inner
    )


def _evidence_html(proof: dict[str, Any]) -> str:
    ev = proof.get("evidence")
    if not ev:
        return ""
    v, lines = proof["verdict"], []
    missed = sum(g["counts"]["missed"] for g in proof["groups"].values())
    lines.append(
        ("bad", f"{missed} scheduled backup(s) missed in the period")
        if missed
        else ("ok", "No scheduled backup was missed in the period")
    )
    gaps = [n for n, g in proof["groups"].items() if g.get("uncovered")]
    if gaps:
        lines.append(("bad", "History does not cover the whole period: " + ", ".join(gaps)))
    lines.append(
        ("bad", f"{ev['over_retention']} snapshot(s) kept longer than the policy allows")
        if ev["over_retention"]
        else ("ok", "No over-retention: verify found no snapshot kept past its last rule")
    )
    i = ev["integrity"]
    if i["failed"]:
        lines.append(("bad", f"Integrity: {i['failed']} of {i['sampled']} sampled failed"))
    elif i["sampled"]:
        lines.append(
            (
                "ok",
                f"Integrity: {i['sampled']} sampled snapshot(s) of {i['of']} re-read, "
                "every one matched its manifest's SHA-256",
            )
        )
    else:
        lines.append(("", "Integrity: no snapshot was sampled"))
    d = ev["drills"]
    if not d["count"]:
        lines.append(("bad", "Restore drills: none recorded in the period"))
    else:
        rto = d.get("longest_working_seconds")
        target = d.get("target_seconds")
        measured = (
            f"; longest time to live {humanize.duration(rto)} of working time"
            + (f" against a target of {humanize.duration(target)}" if target else "")
            if rto is not None
            else ""
        )
        cls = "ok" if d["passed"] == d["count"] else "bad"
        lines.append((cls, f"Restore drills: {d['passed']} of {d['count']} passed{measured}"))
        if d.get("without_live_check"):
            lines.append(
                (
                    "",
                    f"{d['without_live_check']} drill(s) had no live check configured: they "
                    "prove the restore, not that the service runs",
                )
            )
    lines.append(
        ("ok", "Audit log intact: every record hash-chained")
        if proof["audit"].get("ok")
        else ("bad", "Audit log: problems found (see below)")
    )
    forced = proof.get("forced") or []
    lines.append(
        ("", f"{len(forced)} prune(s) forced past a safety refusal: see Forced prunes")
        if forced
        else ("", "No prune was forced past a safety refusal")
    )
    items = "".join(
        f'<li class="{cls}">{"&#10003; " if cls == "ok" else "&#10007; " if cls == "bad" else ""}'
        f"{_e(text)}</li>"
        for cls, text in lines
    )
    return f'<h2>Evidence ({_e(v["summary"])})</h2><ul class="evidence">{items}</ul>'


def _controls_html(proof: dict[str, Any]) -> str:
    rows = [
        (
            "ISO/IEC 27001:2022 A.8.13 Information backup",
            "The promise (schedule and retention); Retention tiers; Timeline per group "
            "(every scheduled backup: present, deleted, missed); Restore drills (RTO against "
            "the target); Verification (integrity sample)",
        ),
        (
            "ISO/IEC 27001:2022 A.8.10 Information deletion",
            "Deletions in the period (each with the rules it fell outside and their "
            "cut-offs); Forced prunes; Kept by a safety rule",
        ),
        (
            "ISO/IEC 27001:2022 A.8.15 Logging",
            "Audit log (record count, head hash, chain verification); every deletion, "
            "forced prune and drill names its audit seq",
        ),
        (
            "ISO/IEC 27001:2022 A.5.33 Protection of records",
            "proof.json SHA-256 (in this page and its footer), proof.json.sig when signed, "
            "the audit head hash; Snapshots present (manifest SHA-256 each)",
        ),
        (
            "NIS2 Implementing Regulation (EU) 2024/2690, Annex §4.2 Backup and redundancy "
            "management",
            "Backup plan with recovery times: The promise and Restore drills; integrity "
            "checks: Evidence (integrity sample) and Verification; documented recovery "
            "tests: Restore drills with their audit seq",
        ),
    ]
    return (
        "<h2>Control mapping</h2><p>Which section of this page is the evidence for which "
        "control. The mapping says where to look; whether a control is met is the "
        "auditor's judgement.</p>"
        + _table(["control", "evidence on this page"], [[_e(c), _e(w)] for c, w in rows])
    )


def _drills_html(items: list[dict[str, Any]]) -> str:
    rows = [
        [
            _t(d["time"]),
            f"<code>{_e(d['snapshot'])}</code>",
            f'<span class="{"bad" if d["verdict"] in FAILED_DRILLS else "ok"}">'
            f"{_e(d['verdict'])}</span>",
            _dur(d.get("working_time_seconds"), d.get("working_time")),
            _e(d.get("target")),
            _live(d.get("live_check")),
            _e(d.get("message")),
        ]
        for d in items
    ]
    inner = (
        _table(
            [
                "when",
                "snapshot",
                "verdict",
                "working time to live (RTO)",
                "target",
                "live check",
                "message",
            ],
            rows,
        )
        if rows
        else "<p>No restore drill was recorded in the period.</p>"
    )
    return f"<h2>Restore drills ({len(items)})</h2>{inner}"


def _verify_html(report: dict[str, Any]) -> str:
    viol = report["violations"]
    rows = [
        [
            _e(v["kind"]),
            _e(v.get("group")),
            _e(", ".join(f"{k}={x}" for k, x in v.items() if k not in ("kind", "group"))),
        ]
        for v in viol
    ]
    inner = (
        _table(["kind", "group", "details"], rows) if rows else '<p class="ok">No violations.</p>'
    )
    return (
        "<h2>Verification at the end of the period</h2><p>Missed backups, coverage of the "
        "retention promise, over-retention, sampled integrity and the audit chain, "
        "as <code>backupctl verify</code> "
        f"reports them at {_e(report['checked'].get('at'))}.</p>{inner}"
    )


def _audit_html(audit: dict[str, Any]) -> str:
    problems = audit.get("problems", [])
    rows = [[_e(p.get("seq")), _e(p.get("key")), _e(p.get("problem"))] for p in problems]
    inner = (
        _table(["seq", "object", "problem"], rows)
        if rows
        else '<p class="ok">Every record is well-formed, hash-chained to its predecessor, '
        "and the chain is complete.</p>"
    )
    return (
        f"<h2>Audit log</h2><p>{_e(audit.get('records'))} records; "
        "head (hash of the newest record) "
        f"<code>{_e(audit.get('head'))}</code>.</p>{inner}"
    )


def _snapshots_html(items: list[dict[str, Any]]) -> str:
    rows = [
        [
            f"<code>{_e(s['id'])}</code>",
            _t(s["time"]),
            _e(s["status"]),
            f'<span class="num">{_e(s["size"])}</span>',
            f"<code>{_e(s['manifest_sha256'])}</code>",
        ]
        for s in items
    ]
    inner = _table(["snapshot", "time", "status", "bytes", "manifest SHA-256"], rows)
    return f"<h2>Snapshots present ({len(items)})</h2>" + _details(
        f"{len(items)} snapshot(s) in the period, with the SHA-256 of each manifest",
        inner,
        len(items),
        0,
    )


def _footer_html(digest: str) -> str:
    return (
        "<footer><p><b>How to check this proof.</b> "
        "This page records the SHA-256 of <code>proof.json</code>: "
        f"<code>{digest}</code>. Recompute it with <code>sha256sum proof.json</code> or "
        "<code>backupctl proof check DIR</code> (exit 0: unchanged). "
        "The audit log's head hash above can be "
        "compared with a later <code>backupctl audit verify</code>: "
        "a log that was rewritten no longer contains it.</p><p>Made by backupctl.</p></footer>"
    )


def render(proof: dict[str, Any], digest: str) -> bytes:
    """proof.html's bytes (UTF-8) for ``proof``, whose proof.json has SHA-256 ``digest``."""
    return render_html(proof, digest).encode("utf-8")


def recorded_digest(page: bytes) -> str | None:
    """The proof.json SHA-256 that proof.html's bytes record, or None if they carry none."""
    match = HASH_META.search(page.decode("utf-8", errors="replace"))
    return match.group(1) if match else None
