"""Issue 11, "Show": hypothesis fuzz of the real CLI (``backupctl.cli.main`` through click's
CliRunner) over configs, manifests, deletion journals, locks, audit records and heads,
symlinks, and restic JSON, against a real file store in a temporary directory (and a few
examples against the moto S3 server).

Every example asserts: no traceback, an exit code in {0, 1, 2, 3, 4}, no exception other than
SystemExit. Every command that may delete is preceded by ``plan --json`` on the same store,
and afterwards: every file or folder that disappeared lies inside the folder of a snapshot the
plan listed under "forget" or "resume" (or is backupctl's own journal/lock state), no snapshot
byte changed, no earlier audit record changed, the newest snapshot of each group is still
there, and a sentinel tree beside the store's root is byte for byte what it was.

Examples: ``BACKUPCTL_FUZZ_EXAMPLES`` (default 300) spread over the tests by weight;
``make soak`` runs the same tests with many more. The counts are printed at the end of the
run (tests/fuzz/conftest.py).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backupctl.cli import main
from backupctl.evidence.audit import AuditLog
from backupctl.seed import DirWriter, S3Writer, write_snapshot
from backupctl.stores.blobs import FileBlobs
from backupctl.stores.layout import JOURNAL_PREFIX, KeyTemplate, encode_journal
from tests.fuzz import COUNTS, DELETIONS, EXITS, SECONDS

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ENV = {"BACKUPCTL_NOW": NOW.isoformat()}
EXIT_CODES = {0, 1, 2, 3, 4}
GROUPS = ("app", "db")
DAYS = 5

TOTAL = int(os.environ.get("BACKUPCTL_FUZZ_EXAMPLES", "300"))
WEIGHTS = {
    "config": 0.24,
    "manifest": 0.18,
    "journal": 0.16,
    "lock_audit": 0.14,
    "symlink": 0.1,
    "restic": 0.3,
    "s3": 0.02,
}
_HEALTH = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.function_scoped_fixture,
]
settings.register_profile(
    "fuzz-ci", deadline=None, suppress_health_check=_HEALTH, print_blob=True, max_examples=TOTAL
)
settings.register_profile(
    "fuzz-soak",
    deadline=None,
    suppress_health_check=_HEALTH,
    print_blob=True,
    max_examples=TOTAL,
    database=None,
)
PROFILE = settings.get_profile("fuzz-soak" if TOTAL > 1000 else "fuzz-ci")


CAPS = {"s3": 40}  # moto over HTTP takes 1-3 s an example: the soak keeps it to a few minutes


def examples(name: str, minimum: int = 3) -> settings:
    """Hypothesis settings for one fuzz test: its share of TOTAL examples."""
    return settings(
        PROFILE, max_examples=min(CAPS.get(name, TOTAL), max(minimum, round(TOTAL * WEIGHTS[name])))
    )


def counted(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Counts the examples a test ran, and their time (printed by tests/fuzz/conftest.py)."""

    def wrap(fn: Callable[..., None]) -> Callable[..., None]:
        @wraps(fn)
        def run(*args: Any, **kwargs: Any) -> None:
            start = time.monotonic()
            try:
                fn(*args, **kwargs)
            finally:
                COUNTS[name] += 1
                SECONDS[name] += time.monotonic() - start

        return run

    return wrap


# ------------------------------------------------------------ running the CLI

_COMMAND_WORDS = {
    "plan",
    "prune",
    "verify",
    "drill",
    "deadline",
    "audit",
    "unlock",
    "--json",
    "--dry-run",
    "--force",
    "--from-restic",
}


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(main, args, env={**ENV, **(env or {})})
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in text, f"{args}: traceback\n{text}"
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), f"{args}: {exc!r}\n{text}"
    assert result.exit_code in EXIT_CODES, f"{args}: exit {result.exit_code}\n{text}"
    words = [a for a in args if a in _COMMAND_WORDS]
    EXITS[" ".join(words[:2]), result.exit_code] += 1
    return result


def plan_json(config: Path) -> dict[str, Any] | None:
    result = invoke(["plan", "--config", str(config), "--json"])
    try:
        doc = json.loads(result.stdout)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


# ------------------------------------------------------------ trees

Tree = dict[str, tuple[str, bytes | str]]


def tree(base: Path) -> Tree:
    """Every entry under ``base`` (not following symlinks): rel path -> kind and content."""
    out: Tree = {}
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(base).as_posix()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", "")
            elif p.is_file():
                out[rel] = ("file", p.read_bytes())
            else:
                out[rel] = ("other", "")
    return out


def _inside(rel: str, prefixes: set[str]) -> bool:
    return any(
        rel == p.rstrip("/") or rel.startswith(p if p.endswith("/") else p + "/") or rel == p
        for p in prefixes
    )


@dataclass
class Store:
    tmp: Path
    root: Path
    sentinel: Path
    ids: dict[str, list[str]] = field(default_factory=dict)  # group -> ids, oldest first
    config: Path | None = None

    def rel_root(self) -> str:
        return self.root.relative_to(self.tmp).as_posix()


def make_store(tmp: Path, days: int = DAYS, other_group: bool = True) -> Store:
    root = tmp / "store"
    store = Store(tmp, root, tmp / "sentinel")
    writer = DirWriter(root)
    for g in GROUPS:
        store.ids[g] = [
            write_snapshot(
                writer, g, NOW - timedelta(days=d, hours=i), {"data.bin": f"{g} {d}".encode()}
            )
            for i, d in enumerate(range(days, 0, -1))
        ]
    if other_group:  # a group no policy governs: never touched
        write_snapshot(writer, "other", NOW - timedelta(days=9), {"upload.part": b"in progress"})
    s = store.sentinel
    write_snapshot(
        DirWriter(s), "app", datetime(2026, 11, 1, tzinfo=UTC), {"precious.bin": b"not backupctl's"}
    )
    (s / "deleting").mkdir(parents=True)
    (s / "deleting" / "20261101T000000Z-x.json").write_bytes(
        encode_journal(["app/20261101T000000Z"], "x", NOW)
    )
    (s / "lock.json").write_bytes(b'{"owner": "someone else"}')
    (s / "precious.bin").write_bytes(b"\x00precious\xff")
    (s / "20261101T000000Z").mkdir()
    (s / "20261101T000000Z" / "manifest.json").write_bytes(
        json.dumps(
            {"version": 1, "group": "sentinel", "time": "2026-11-01T00:00:00+00:00", "objects": []}
        ).encode()
    )
    return store


def base_config(store: Store, extra: str = "", keep: dict[str, int] | None = None) -> Path:
    keep = keep or {"app": 2, "db": 1}
    text = (
        f'timezone = "UTC"\n[store]\nurl = "file://{store.root}"\n'
        "[safety]\nmax_delete_fraction = 1.0\n"
    )
    text += "".join(f'[[policy]]\nname = "{g}"\nkeep_last = {n}\n' for g, n in keep.items()) + extra
    path = store.tmp / "backupctl.toml"
    path.write_text(text)
    store.config = path
    return path


@contextmanager
def tmpdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bfuzz-") as d:
        yield Path(d).resolve()


def planned_folders(
    plan: dict[str, Any] | None, template: str = "{group}/{time}/"
) -> tuple[set[str], dict[str, str]]:
    """Folders (relative to the store root) the plan may delete.

    And the newest id per group -> its folder.
    """
    if plan is None:
        return set(), {}
    compiled = KeyTemplate.compile(template)
    decisions = [d for d in plan.get("decisions", []) if isinstance(d, dict)]

    def folder(d: dict[str, Any]) -> str:
        return compiled.folder(d["group"], datetime.fromisoformat(d["time"]).astimezone(UTC))

    allowed = {folder(d) for d in decisions if d.get("action") == "forget"}
    for sid in plan.get("resume", []):  # a resumed id is <group>/<time>
        group, _, stamp = sid.rpartition("/")
        allowed.add(
            compiled.folder(group, datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC))
        )
    newest: dict[str, dict[str, Any]] = {}
    for d in decisions:
        g = d["group"]
        if g not in newest or (d["time"], d["id"]) > (newest[g]["time"], newest[g]["id"]):
            newest[g] = d
    return allowed, {g: folder(d) for g, d in newest.items()}


def check_changes(
    store: Store,
    before: Tree,
    after: Tree,
    *,
    plan: dict[str, Any] | None,
    args: list[str],
    root: Path | None = None,
    template: str = "{group}/{time}/",
    newest_intact: dict[str, str] | None = None,
) -> None:
    """The deletion contract, for one command run between ``before`` and ``after``.

    Both are trees of store.tmp.
    """
    root = root or store.root
    rr = root.relative_to(store.tmp).as_posix()
    may_delete = "prune" in args and "--dry-run" not in args
    allowed, newest = planned_folders(plan, template) if may_delete else (set(), {})
    allowed_abs = {f"{rr}/{f}" for f in allowed}
    internal = f"{rr}/_backupctl"
    own_state = {f"{internal}/deleting", f"{internal}/lock.json"}
    if may_delete:
        own_state |= {f"{internal}/prune.lock"}
    removed = set(before) - set(after)
    if may_delete and removed:
        DELETIONS["prunes"] += 1
        DELETIONS["entries"] += len(removed)
    for rel in sorted(removed):
        if _inside(rel, allowed_abs):
            continue
        if rel.startswith(f"{internal}/deleting/") and before[rel][0] == "file":
            continue  # a journal file (backupctl's own, or a planted one once spent)
        if rel == f"{internal}/deleting" and before[rel][0] == "dir" and may_delete:
            continue  # the journal folder, removed once its last journal is spent
        if rel == f"{internal}/lock.json" and ("unlock" in args or may_delete):
            continue
        if before[rel][0] == "dir" and any(_inside(rel + "/x", {a}) for a in allowed_abs):
            continue
        if before[rel][0] == "dir" and _inside(
            rel, {p.rstrip("/").rsplit("/", 1)[0] for p in allowed_abs}
        ):
            continue  # a group folder emptied by the prune
        raise AssertionError(
            f"{args}: {rel!r} ({before[rel][0]}) disappeared, not in the plan {sorted(allowed)}"
        )
    for rel, (kind, content) in before.items():
        if rel not in after or after[rel] == (kind, content):
            continue
        if rel.startswith(f"{internal}/") and not rel.startswith(f"{internal}/audit/"):
            continue  # the audit head, the lock
        if rel.startswith(f"{internal}/audit/") and kind == "dir":
            continue
        raise AssertionError(f"{args}: {rel!r} changed")
    for rel in set(after) - set(before):
        assert rel == internal or rel.startswith(f"{internal}/"), f"{args}: {rel!r} appeared"
    sentinel = {k: v for k, v in before.items() if k.startswith("sentinel/") or k == "sentinel"}
    assert sentinel == {
        k: v for k, v in after.items() if k.startswith("sentinel/") or k == "sentinel"
    }, f"{args}: the sentinel tree beside the root changed"
    for g, folder in newest.items():
        key = f"{rr}/{folder}".rstrip("/")
        if key in before:
            assert key in after, f"{args}: the newest snapshot of {g!r} ({folder}) was deleted"
    for g, folder in (newest_intact or {}).items():
        key = f"{rr}/{folder}".rstrip("/")
        assert key not in before or key in after, (
            f"{args}: the newest complete snapshot of {g!r} was deleted"
        )


def run_checked(store: Store, args: list[str], config: Path, **kw: Any) -> Result:
    """``plan --json`` then ``args`` on the same store; check the deletion contract."""
    plan = plan_json(config) if "prune" in args else None
    before = tree(store.tmp)
    result = invoke(args)
    check_changes(store, before, tree(store.tmp), plan=plan, args=args, **kw)
    return result


def newest_folders(store: Store, skip: set[str] = frozenset()) -> dict[str, str]:  # type: ignore[assignment]
    """The newest seeded snapshot of each group not in ``skip``.

    Only when it is newer than every skipped one.
    """
    out = {}
    for g, ids in store.ids.items():
        touched = [i for i in ids if i in skip]
        good = [i for i in ids if i not in skip]
        if good and (not touched or good[-1] > max(touched)):
            out[g] = good[-1] + "/"
    return out


# ------------------------------------------------------------ strategies

CONTROL = st.sampled_from(
    ["\x00", "\x01", "\x1f", "\x7f", "\n", "\r", "\t", "\u2028", "\ud7ff", "\ufeff"]
)
WEIRD_TEXT = st.one_of(
    st.text(max_size=20),
    st.builds(lambda a, c, b: a + c + b, st.text(max_size=5), CONTROL, st.text(max_size=5)),
    st.sampled_from(
        [
            "",
            "..",
            "../sentinel",
            "/",
            "//",
            "a/../..",
            "_backupctl",
            "app/db",
            "app/",
            "/app",
            "{group}",
            "{time}",
            "20261120T000000Z",
            "app/20261120T000000Z",
            "%s",
            "\\",
            "*",
        ]
    ),
)
HUGE = st.sampled_from(
    [
        2**31,
        2**31 - 1,
        2**53 + 1,
        2**63,
        2**64,
        10**19,
        10**20,
        -(2**63) - 1,
        1_000_000,
        1_000_001,
        10**400,
    ]
)
NUMBER_TEXT = st.one_of(
    st.integers(-5, 10**6).map(str),
    HUGE.map(str),
    st.just("9" * 5000),
    st.sampled_from(["1.5", "0", "-1", "1e9", "١٢", "0x10", "+3", " 3", "nan", "inf", ""]),
)
UNITS = st.sampled_from(
    [
        "s",
        "m",
        "h",
        "d",
        "w",
        "y",
        "mo",
        "M",
        "",
        "x",
        "working days",
        "working hours",
        " d",
        "D",
        "days",
        "hours",
        "1d",
        "y1d1m",
        "µs",
    ]
)
DURATION = st.builds(
    lambda n, u, more: n + u + more,
    NUMBER_TEXT,
    UNITS,
    st.one_of(st.just(""), st.builds(lambda n, u: n + u, NUMBER_TEXT, UNITS)),
)
CRON_FIELD = st.sampled_from(
    ["*", "0", "*/5", "1-0", "59", "60", "30", "2", "0,6,12", "mon", "L", "?", "-1", "9" * 30]
)
CRON = st.one_of(
    st.sampled_from(
        [
            "0 0 30 2 *",
            "@daily",
            "@yearly",
            "@hourly",
            "@reboot",
            "* * * * * * *",
            "1-0 * * * *",
            "* * * * *",
            "0 2 * * *",
            "",
            "0 0 31 4 *",
            "0 0 29 2 *",
            "@annually",
            "@midnight",
        ]
    ),
    st.lists(CRON_FIELD, min_size=1, max_size=7).map(" ".join),
)
TIMEZONE = st.sampled_from(
    [
        "UTC",
        "Europe/Amsterdam",
        "Pacific/Kiritimati",
        "Etc/GMT+12",
        "America/St_Johns",
        "Nope/Nowhere",
        "",
        "../../etc/passwd",
        "utc",
        "Europe/Amsterdam\x00",
        "+01:00",
    ]
)
TEMPLATE = st.one_of(
    st.sampled_from(
        [
            "{group}/{time}/",
            "{time}-{group}/",
            "{group}/{time:%Y-%m-%dT%H%M}.sql.gz",
            "{group}/{time:%Y%m%d}/",
            "{group}/{time:%Y-%m-%d %H:%M:%S%z}/",
            "{time}/{group}/",
            "_backupctl/{group}/{time}/",
            "../{group}/{time}/",
            "/{group}/{time}/",
            "{group}/x/{time}/",
            "{group}{time}/",
            "{group}/{time:%Y}/",
            "{group}/{time:%%}/",
            "{group}/{time:%Q}/",
            "{}",
            "{group}/{time}/{time}/",
            "{group}/{time}",
        ]
    ),
    st.text(alphabet="{}/gimeroup:%YmdHMSz-_.", max_size=30),
)
GROUP = st.one_of(st.sampled_from(["app", "db", "other", "app/db", "app/../db"]), WEIRD_TEXT)
SCALAR = st.one_of(
    st.booleans(),
    st.integers(),
    HUGE,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    DURATION,
)
COUNT = st.one_of(
    st.integers(-3, 12),
    HUGE,
    st.floats(allow_nan=True),
    st.sampled_from(["3", "", "-1", True, False]),
)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return (
            "nan"
            if v != v
            else ("inf" if v == float("inf") else ("-inf" if v == float("-inf") else repr(v)))
        )
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return (
            "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
        )
    raise TypeError(v)


STORE_KEYS = {
    "key_template": TEMPLATE,
    "listing": st.sampled_from(["objects", "folders", "both", ""]),
    "content_md5": st.one_of(st.booleans(), SCALAR),
    "delete_versions": st.one_of(st.booleans(), SCALAR),
    "region": WEIRD_TEXT,
    "restic_lock_wait": SCALAR,
    "restic_group_by": WEIRD_TEXT,
}
SAFETY_KEYS = {
    "max_delete_fraction": st.one_of(st.floats(allow_nan=True, allow_infinity=True), SCALAR),
    "stale_after": DURATION,
    "clock_skew": DURATION,
    "lock_ttl": DURATION,
}
VERIFY_KEYS = {
    "integrity_sample": st.one_of(
        COUNT, st.sampled_from(["10%", "0%", "101%", "nan%", "%", "1e3%"])
    ),
    "over_retention_grace": DURATION,
}
DRILL_KEYS = {
    "target": st.one_of(
        st.builds(
            lambda n, u: f"{n} {u}",
            NUMBER_TEXT,
            st.sampled_from(
                ["working days", "working hours", "working day", "days", "hours", "weeks"]
            ),
        ),
        WEIRD_TEXT,
    ),
    "working_day_hours": st.one_of(st.floats(allow_nan=True, allow_infinity=True), SCALAR),
    "holidays": st.sampled_from(["NL", "US", "XX", "", "nl", "NL\x00"]),
    "working_hours": st.one_of(
        st.just({"mon-thu": "09:00-17:00", "fri": "09:00-16:00"}),
        st.dictionaries(
            st.sampled_from(["mon", "tue", "sun", "mon-fri", "x", "fri-mon"]),
            st.sampled_from(
                ["09:00-17:00", "17:00-09:00", "00:00-24:00", "25:00-26:00", "", "9-5"]
            ),
            max_size=3,
        ),
        SCALAR,
    ),
    "workers": COUNT,
    "live_check_timeout": SCALAR,
    "live_check_interval": SCALAR,
}
POLICY_KEYS = {
    "schedule": CRON,
    "tolerance": DURATION,
    "keep_last": COUNT,
    "keep_hourly": COUNT,
    "keep_daily": COUNT,
    "keep_weekly": COUNT,
    "keep_monthly": COUNT,
    "keep_yearly": COUNT,
    "keep_within": DURATION,
    "keep_within_daily": DURATION,
    "keep_within_weekly": DURATION,
    "keep_tag": st.one_of(WEIRD_TEXT, st.lists(WEIRD_TEXT, max_size=2)),
    "keep_oldest": st.one_of(st.booleans(), SCALAR),
    "preset": st.sampled_from(["sla-app", "sla-server", "nope", ""]),
}


def section(
    keys: dict[str, st.SearchStrategy[Any]], max_size: int = 4
) -> st.SearchStrategy[dict[str, Any]]:
    fixed = st.fixed_dictionaries({}, optional=keys)
    junk = st.dictionaries(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12), SCALAR, max_size=1
    )
    return st.builds(lambda a, b: {**dict(list(a.items())[:max_size]), **b}, fixed, junk)


def _toml(
    doc: dict[str, Any], sections: dict[str, dict[str, Any]], policies: list[dict[str, Any]]
) -> str:
    text = "".join(f"{k} = {toml_value(v)}\n" for k, v in doc.items())
    for name, sec in sections.items():
        text += f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in sec.items())
    for pol in policies:
        text += "[[policy]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in pol.items())
    return text


SECTION_KEYS = {
    "store": STORE_KEYS,
    "safety": SAFETY_KEYS,
    "verify": VERIFY_KEYS,
    "drill": DRILL_KEYS,
}
GOOD_DURATION = st.builds(lambda n, u: f"{n}{u}", st.integers(1, 2000), st.sampled_from("hdwmy"))
GOOD_CRON = st.sampled_from(
    ["0 10 * * *", "0 */6 * * *", "*/5 * * * *", "0 2 * * 1", "0 0 1 * *", "@daily"]
)
GOOD_TEMPLATE = st.sampled_from(
    [
        "{group}/{time}/",
        "{group}/{time:%Y-%m-%dT%H%M}.sql.gz",
        "{group}/{time:%Y%m%d}/",
        "{group}/daily/{time}/",
    ]
)


def plausible(key: str, hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``hostile`` or, as often, a value of the right shape (so the run gets past the config)."""
    if (
        key in ("stale_after", "clock_skew", "lock_ttl", "tolerance", "over_retention_grace")
        or "within" in key
    ):
        good: st.SearchStrategy[Any] = GOOD_DURATION
    elif key.startswith("keep_") and key != "keep_tag":
        good = st.integers(-1, 30)
    elif key == "schedule":
        good = GOOD_CRON
    elif key == "key_template":
        good = GOOD_TEMPLATE
    elif key == "max_delete_fraction":
        good = st.floats(0.01, 1.0)
    else:
        return hostile
    return st.one_of(good, hostile)


@st.composite
def config_text(draw: st.DrawFn, store: Store) -> bytes:
    """Two times in three a valid config with one or two odd values (so the run goes on to plan and
    prune), else a hostile one (any keys, junk keys, garbage bytes)."""
    if draw(st.integers(0, 2)) > 0:
        sections: dict[str, dict[str, Any]] = {
            "store": {"url": f"file://{store.root}"},
            "safety": {"max_delete_fraction": 1.0},
        }
        policies: list[dict[str, Any]] = [
            {"name": "app", "keep_last": 2},
            {"name": "db", "keep_daily": 3, "schedule": "0 10 * * *"},
        ]
        doc: dict[str, Any] = {"timezone": "UTC"}
        for _ in range(draw(st.integers(1, 2))):
            where = draw(
                st.sampled_from(
                    ["timezone", "store", "safety", "verify", "drill", "policy", "new policy"]
                )
            )
            if where == "timezone":
                doc["timezone"] = draw(TIMEZONE)
            elif where == "policy":
                key = draw(st.sampled_from([*sorted(POLICY_KEYS), "group", "name"]))
                value = (
                    draw(GROUP)
                    if key in ("group", "name")
                    else draw(plausible(key, POLICY_KEYS[key]))
                )
                draw(st.sampled_from(policies))[key] = value
            elif where == "new policy":
                group = draw(GROUP)
                policies.append(
                    {
                        "name": draw(st.one_of(st.just(group), WEIRD_TEXT)),
                        "group": group,
                        "keep_last": draw(plausible("keep_last", COUNT)),
                    }
                )
            else:
                key = draw(st.sampled_from(sorted(SECTION_KEYS[where])))
                sections.setdefault(where, {})[key] = draw(plausible(key, SECTION_KEYS[where][key]))
        return _toml(doc, sections, policies).encode("utf-8", "surrogatepass")
    url = draw(
        st.sampled_from(
            [
                f"file://{store.root}",
                f"file://{store.root}",
                f"file://{store.root}",
                f"file://{store.root}/",
                f"file://{store.root}/app",
                f"file://{store.tmp}/nothing",
                f"file://{store.root}/../store",
                "file://",
                "s3://",
                "ftp://x",
                f"restic:{store.tmp}/no-repo",
                None,
                7,
            ]
        )
    )
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["timezone"] = draw(TIMEZONE)
    store_sec = draw(section(STORE_KEYS, 2)) if draw(st.integers(0, 3)) == 0 else {}
    if url is not None:
        store_sec["url"] = url
    text = "".join(f"{k} = {toml_value(v)}\n" for k, v in doc.items())
    text += "[store]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in store_sec.items())
    safety = {"max_delete_fraction": 1.0, **draw(section(SAFETY_KEYS, 2))}
    text += "[safety]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in safety.items())
    for name, keys in (("verify", VERIFY_KEYS), ("drill", DRILL_KEYS)):
        if draw(st.booleans()):
            text += f"[{name}]\n" + "".join(
                f"{k} = {toml_value(v)}\n" for k, v in draw(section(keys, 3)).items()
            )
    for _ in range(draw(st.integers(0, 3))):
        group = draw(GROUP)
        pol: dict[str, Any] = {"name": draw(st.one_of(st.just(group), WEIRD_TEXT))}
        if draw(st.booleans()):
            pol["group"] = group
        pol.update(draw(section(POLICY_KEYS, 3)))
        if not any(k.startswith("keep_") or k == "preset" for k in pol) and draw(st.booleans()):
            pol["keep_last"] = draw(COUNT)
        text += "[[policy]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in pol.items())
    raw = text.encode("utf-8", "surrogatepass")
    mutation = draw(st.integers(0, 9))
    if mutation == 0:
        return draw(st.binary(max_size=200))
    if mutation == 1:
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    if mutation == 2:
        return raw[: draw(st.integers(0, len(raw)))]
    if mutation == 3:
        return b"\xef\xbb\xbf" + raw
    return raw


ISO_TIME = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.sampled_from([UTC, None]),
    ).map(lambda t: t.isoformat()),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+00:00",
            "0001-01-01T00:00:00+14:00",
            "0001-01-02T00:00:00+00:00",
            "9999-12-30T23:59:59+00:00",
            "0001-01-02T00:00:00-12:00",
            "9999-12-31T23:59:59-12:00",
            "9999-12-31T23:59:59.999999+00:00",
            "2026-12-24T16:30:00+01:00",
            "2026-11-23",
            "now",
            "",
            "2026-02-30T00:00:00+00:00",
            "2026-12-24T16:30:00+24:00",
            "2026-12-24T16:30:00Z",
            "+002026-12-24T16:30:00+01:00",
        ]
    ),
)

CONFIG_COMMANDS = [
    ["plan"],
    ["plan", "--json"],
    ["prune", "--dry-run"],
    ["prune"],
    ["prune", "--json"],
    ["verify", "--json"],
    ["drill", "deadline"],
    ["audit", "verify"],
    ["unlock"],
    ["unlock", "--force"],
]


def config_layout(store: Store, config: Path) -> tuple[str, Path]:
    """The key template and store root a config names (what the CLI will use), else the defaults."""
    from backupctl.config import load_config

    try:
        cfg = load_config(config)
    except Exception:  # the CLI refuses such a config too; plan then lists nothing
        return "{group}/{time}/", store.root
    url = cfg.store.url
    root = store.root
    if url.startswith("file://") and url[7:]:
        candidate = Path(url[7:]).resolve()
        if candidate.is_relative_to(store.tmp) and candidate != store.tmp:
            root = candidate
    return cfg.store.key_template, root


@examples("config")
@given(data=st.data(), command=st.sampled_from(CONFIG_COMMANDS))
@counted("config")
def test_fuzz_configs_and_commands(data: st.DataObject, command: list[str]) -> None:
    with tmpdir() as tmp:
        store = make_store(tmp)
        config = tmp / "backupctl.toml"
        config.write_bytes(data.draw(config_text(store), label="config"))
        args = [*command, "--config", str(config)]
        if command == ["drill", "deadline"]:
            args += ["--from", data.draw(ISO_TIME, label="from")]
        template, root = config_layout(store, config)
        run_checked(store, args, config, template=template, root=root)


# ------------------------------------------------------------ manifests

OBJECT_KEY = st.one_of(
    st.sampled_from(
        [
            "data.bin",
            "../../sentinel/precious.bin",
            "../../../sentinel/precious.bin",
            "../20261120T050000Z/data.bin",
            "/etc/passwd",
            "a\x00b",
            "manifest.json",
            "",
            ".",
            "sub/../../x",
            "x/",
            "\x01",
            "..",
            "_backupctl/lock.json",
        ]
    ),
    WEIRD_TEXT,
)
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    WEIRD_TEXT,
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=8,
)
ENTRY = st.fixed_dictionaries(
    {},
    optional={
        "key": st.one_of(OBJECT_KEY, JSON_LEAF),
        "size": st.one_of(st.integers(-2, 20), HUGE, JSON_LEAF),
        "sha256": st.one_of(
            st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), JSON_LEAF
        ),
    },
)
MANIFEST_FIELD = {
    "version": st.one_of(
        st.sampled_from([True, 1.0, "1", 2, 0, None, 1, -1, 2**64, [1], {"v": 1}]), JSON_LEAF
    ),
    "group": st.one_of(
        st.sampled_from(["app", "db", "other", "..", "../sentinel", "app/db"]),
        WEIRD_TEXT,
        JSON_LEAF,
    ),
    "time": st.one_of(ISO_TIME, JSON_LEAF),
    "objects": st.one_of(
        st.lists(st.one_of(ENTRY, JSON_LEAF), max_size=4),
        JSON_LEAF,
        st.just([{"key": "data.bin", "size": 10**30, "sha256": "0" * 64}]),
    ),
    "extra..": JSON_VALUE,
    "k\x01": JSON_VALUE,
}


@st.composite
def planted_json(
    draw: st.DrawFn, valid: dict[str, Any], fields: dict[str, st.SearchStrategy[Any]]
) -> bytes:
    """A JSON object for the store.

    ``valid`` with fields mutated, or deep, huge, NaN, truncated or raw garbage.
    """
    kind = draw(st.integers(0, 9))
    text = json.dumps(valid, indent=1)
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        depth = draw(st.sampled_from([10, 63, 64, 65, 200, 5000, 100_000]))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        inner = opener * depth + "1" + closer * depth
        return (
            (text[:-1] + f', "deep": {inner}}}').encode() if draw(st.booleans()) else inner.encode()
        )
    if kind == 2:
        value = draw(
            st.sampled_from(
                [
                    "9" * 5000,
                    "1e999999",
                    "NaN",
                    "Infinity",
                    "-Infinity",
                    "-" + "9" * 21,
                    "1" + "0" * 20,
                    "0." + "0" * 5000 + "1",
                    "123456789012345678901",
                ]
            )
        )
        name = draw(st.sampled_from(sorted(valid)))
        return json.dumps({**valid, name: "@@"}).replace('"@@"', value).encode()
    if kind == 3:
        return text.encode()[: draw(st.integers(0, len(text) - 1))]
    if kind == 4:
        return draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"", b" "])) + (
            text.encode("utf-16") if draw(st.booleans()) else text.encode()
        )
    if kind == 5:
        return json.dumps(draw(JSON_VALUE), allow_nan=True).encode()
    doc = dict(valid)
    for name in draw(
        st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3, unique=True)
    ):
        if draw(st.integers(0, 5)) == 0:
            doc.pop(name, None)
        else:
            doc[name] = draw(fields[name])
    return json.dumps(doc, allow_nan=True, ensure_ascii=draw(st.booleans())).encode(
        "utf-8", "surrogatepass"
    )


def manifest_of(store: Store, sid: str) -> dict[str, Any]:
    return dict(json.loads((store.root / sid / "manifest.json").read_bytes()))


PRUNE_COMMANDS = [
    ["plan", "--json"],
    ["prune", "--dry-run"],
    ["prune"],
    ["prune", "--json"],
    ["verify", "--json"],
]
NEW_FOLDERS = [
    "app/20261122T120000Z",
    "app/20271122T120000Z",
    "app/20261101T000000Z",
    "db/99991231T235959Z",
    "app/00010101T000000Z",
    "app/2026-11-22",
    "app/20261399T000000Z",
    "other/20261122T000000Z",
]


@examples("manifest")
@given(data=st.data(), command=st.sampled_from(PRUNE_COMMANDS), keep=st.sampled_from([1, 2, 100]))
@counted("manifest")
def test_fuzz_manifests(data: st.DataObject, command: list[str], keep: int) -> None:
    with tmpdir() as tmp:
        store = make_store(tmp)
        config = base_config(store, keep={"app": keep, "db": 1})
        touched: set[str] = set()
        valid_of = {g: manifest_of(store, store.ids[g][0]) for g in GROUPS}
        for _ in range(data.draw(st.integers(1, 3), label="plants")):
            group = data.draw(st.sampled_from(GROUPS))
            sid = data.draw(
                st.one_of(st.sampled_from(store.ids[group]), st.sampled_from(NEW_FOLDERS)),
                label="folder",
            )
            raw = data.draw(planted_json(valid_of[group], MANIFEST_FIELD), label="manifest")
            (store.root / sid).mkdir(parents=True, exist_ok=True)
            (store.root / sid / "manifest.json").write_bytes(raw)
            if data.draw(st.booleans()):
                (store.root / sid / "data.bin").unlink(missing_ok=True)
            touched.add(sid)
        run_checked(
            store,
            [*command, "--config", str(config)],
            config,
            newest_intact=newest_folders(store, touched),
        )


# ------------------------------------------------------------ journals and intents


def journal_ids(store: Store) -> st.SearchStrategy[list[str]]:
    real = [i for ids in store.ids.values() for i in ids]
    return st.lists(
        st.one_of(
            st.sampled_from(real),
            st.sampled_from([ids[-1] for ids in store.ids.values()]),
            st.sampled_from(
                [
                    "app/../../sentinel/20261101T000000Z",
                    "../sentinel/20261101T000000Z",
                    "sentinel/20261101T000000Z",
                    "other/20261114T100000Z",
                    "app/20261101T000000Z",
                    "app/20261120T050000Z/../../../sentinel",
                    "/app/20261120T050000Z",
                    "app//20261120T050000Z",
                    "app/20261120T050000Z/",
                    "app",
                    "",
                    "_backupctl/20261101T000000Z",
                    "app/db/20261120T050000Z",
                    "app/\x01/20261101T000000Z",
                ]
            ),
            WEIRD_TEXT,
        ),
        max_size=5,
    )


JOURNAL_NAMES = st.sampled_from(
    [
        "20261101T000000Z-evil.json",
        "20261123T095000Z-run.json",
        "..json",
        ".json",
        "x",
        "a\x01.json",
        "20261101T000000Z-évil.json",
        "9" * 200 + ".json",
    ]
)


@examples("journal")
@given(
    data=st.data(), command=st.sampled_from(PRUNE_COMMANDS[:4]), keep=st.sampled_from([1, 2, 100])
)
@counted("journal")
def test_fuzz_journals_and_intents(data: st.DataObject, command: list[str], keep: int) -> None:
    with tmpdir() as tmp:
        store = make_store(tmp)
        config = base_config(store, keep={"app": keep, "db": keep})
        real = [i for ids in store.ids.values() for i in ids]
        incomplete = set(data.draw(st.lists(st.sampled_from(real), max_size=3), label="incomplete"))
        for sid in incomplete:
            (store.root / sid / "manifest.json").unlink()
        intents = data.draw(st.lists(journal_ids(store), max_size=2), label="intents")
        log = AuditLog(FileBlobs(str(store.root)))
        for ids in intents:
            log.append("prune.intent", {"delete": [{"id": i} for i in ids]})
        deleting = store.root / JOURNAL_PREFIX
        if data.draw(st.integers(0, 4)) == 0:
            deleting.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(store.sentinel / "deleting", deleting)
        else:
            deleting.mkdir(parents=True, exist_ok=True)
            for _ in range(data.draw(st.integers(0, 3))):
                name = data.draw(JOURNAL_NAMES, label="journal name")
                ids = data.draw(journal_ids(store), label="journal ids")
                valid = json.loads(encode_journal(ids, name, NOW))
                raw = (
                    encode_journal(ids, name, NOW)
                    if data.draw(st.booleans())
                    else data.draw(
                        planted_json(
                            valid,
                            {
                                "version": JSON_LEAF,
                                "ids": st.one_of(JSON_VALUE, journal_ids(store)),
                                "run": JSON_LEAF,
                                "time": st.one_of(ISO_TIME, JSON_LEAF),
                            },
                        )
                    )
                )
                with suppress(OSError, ValueError):
                    (deleting / name).write_bytes(raw)
        complete = {g: [i for i in ids if i not in incomplete] for g, ids in store.ids.items()}
        newest = {g: ids[-1] + "/" for g, ids in complete.items() if ids}
        run_checked(store, [*command, "--config", str(config)], config, newest_intact=newest)
        if (
            "prune" in command and "--dry-run" not in command
        ):  # a planted journal alone never resumes anything
            named = {i for ids in intents for i in ids}
            for sid in incomplete - named:
                assert (store.root / sid / "data.bin").exists(), (
                    f"{sid}: resumed without a prune.intent"
                )


# ------------------------------------------------------------ locks and audit records

LOCK_FIELD = {
    "owner": st.one_of(WEIRD_TEXT, JSON_LEAF),
    "host": st.one_of(WEIRD_TEXT, JSON_LEAF),
    "pid": st.one_of(st.integers(), HUGE, JSON_LEAF),
    "run_id": JSON_LEAF,
    "token": JSON_LEAF,
    "version": st.sampled_from([1, True, 1.0, "1", 2]),
    "acquired": st.one_of(ISO_TIME, JSON_LEAF),
    "expires": st.one_of(ISO_TIME, JSON_LEAF),
}
VALID_LOCK = {
    "owner": "ops",
    "host": "h1",
    "pid": 42,
    "run_id": "r",
    "token": "t",
    "version": 1,
    "acquired": (NOW - timedelta(hours=1)).isoformat(),
    "expires": (NOW + timedelta(hours=5)).isoformat(),
}
AUDIT_FIELD = {
    "seq": st.one_of(st.integers(-1, 5), HUGE, JSON_LEAF),
    "time": st.one_of(ISO_TIME, JSON_LEAF),
    "actor": JSON_LEAF,
    "action": st.sampled_from(["prune.intent", "prune.result", "drill", "x", ""]),
    "data": JSON_VALUE,
    "prev": st.one_of(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), JSON_LEAF),
    "sha256": JSON_LEAF,
}
LOCK_COMMANDS = [
    ["plan", "--json"],
    ["prune"],
    ["prune", "--json"],
    ["unlock"],
    ["unlock", "--force"],
    ["audit", "verify"],
    ["verify", "--json"],
]


@examples("lock_audit")
@given(data=st.data(), command=st.sampled_from(LOCK_COMMANDS))
@counted("lock_audit")
def test_fuzz_locks_and_audit_records(data: st.DataObject, command: list[str]) -> None:
    with tmpdir() as tmp:
        store = make_store(tmp)
        config = base_config(store)
        log = AuditLog(FileBlobs(str(store.root)))
        for _ in range(data.draw(st.integers(0, 2), label="records")):
            log.append("drill", {"ok": True})
        internal = store.root / "_backupctl"
        internal.mkdir(exist_ok=True)
        lock = internal / "lock.json"
        what = data.draw(st.integers(0, 6), label="lock")
        if what <= 3:
            lock.write_bytes(data.draw(planted_json(VALID_LOCK, LOCK_FIELD), label="lock bytes"))
        elif what == 4:
            os.symlink(store.sentinel / "lock.json", lock)
        elif what == 5:
            (lock / "inside").mkdir(parents=True)
        audit = internal / "audit"
        audit.mkdir(exist_ok=True)
        records = sorted(audit.glob("*.json"))
        valid = (
            json.loads(records[-1].read_bytes())
            if records
            else {"seq": 1, "time": NOW.isoformat(), "action": "drill", "data": {}, "prev": None}
        )
        for _ in range(data.draw(st.integers(0, 2), label="planted records")):
            name = data.draw(
                st.sampled_from(
                    [
                        "0000000001.json",
                        "0000000002.json",
                        "0000000003.json",
                        "0000000000.json",
                        "9999999999.json",
                        "00001.json",
                        "x.json",
                        "0000000004.json.tmp",
                    ]
                ),
                label="record name",
            )
            (audit / name).write_bytes(data.draw(planted_json(valid, AUDIT_FIELD), label="record"))
        if data.draw(st.booleans()):
            head = {"seq": len(records), "sha256": "0" * 64}
            (internal / "audit-head.json").write_bytes(
                data.draw(
                    planted_json(
                        head,
                        {
                            "seq": st.one_of(st.integers(-1, 5), HUGE, JSON_LEAF),
                            "sha256": JSON_LEAF,
                        },
                    ),
                    label="head",
                )
            )
        run_checked(
            store, [*command, "--config", str(config)], config, newest_intact=newest_folders(store)
        )


# ------------------------------------------------------------ symlinks


def _plant_links(store: Store, which: list[str], victim: str) -> str:
    """Plant symlinks; returns extra config (a policy for a symlinked group)."""
    s, r = store.sentinel, store.root
    extra = ""
    for w in which:
        if w == "data":
            (r / victim / "data.bin").unlink()
            os.symlink(s / "precious.bin", r / victim / "data.bin")
        elif w == "folder":
            for p in (r / victim).iterdir():
                p.unlink()
            (r / victim).rmdir()
            os.symlink(s / "app" / "20261101T000000Z", r / victim)
        elif w == "old_folder" and not (r / "app" / "20261101T000000Z").exists():
            os.symlink(s / "app" / "20261101T000000Z", r / "app" / "20261101T000000Z")
        elif w == "group" and not (r / "ext").exists():
            os.symlink(s / "app", r / "ext")
            extra = '[[policy]]\nname = "ext"\nkeep_last = 1\n'
        elif w in ("deleting", "lock", "audit", "internal"):
            internal = r / "_backupctl"
            if internal.is_symlink():
                continue
            if w == "internal":
                if not internal.exists():
                    os.symlink(s, internal)
                continue
            internal.mkdir(exist_ok=True)
            target = {"deleting": s / "deleting", "lock": s / "lock.json", "audit": s / "app"}[w]
            link = internal / {"deleting": "deleting", "lock": "lock.json", "audit": "audit"}[w]
            if not link.exists() and not link.is_symlink():
                os.symlink(target, link)
        elif (
            w == "manifest"
            and (r / victim / "manifest.json").is_file()
            and not (r / victim).is_symlink()
        ):
            (r / victim / "manifest.json").unlink()
            os.symlink(
                s / "app" / "20261101T000000Z" / "manifest.json", r / victim / "manifest.json"
            )
        elif w == "dangling" and (r / victim).is_dir() and not (r / victim).is_symlink():
            os.symlink(store.tmp / "gone", r / victim / "gone.bin")
        elif w == "loop" and not (r / "app" / "loop").exists():
            os.symlink(r / "app", r / "app" / "loop")
        elif w == "journal" and not (r / JOURNAL_PREFIX).is_symlink():
            (r / JOURNAL_PREFIX).mkdir(parents=True, exist_ok=True)
            (r / JOURNAL_PREFIX / "20261101T000000Z-evil.json").write_bytes(
                encode_journal(
                    [victim, "app/20261101T000000Z", "ext/20261101T000000Z"], "evil", NOW
                )
            )
    return extra


LINKS = [
    "data",
    "folder",
    "old_folder",
    "group",
    "deleting",
    "lock",
    "audit",
    "internal",
    "manifest",
    "dangling",
    "loop",
    "journal",
]


@examples("symlink")
@given(
    which=st.lists(st.sampled_from(LINKS), min_size=1, max_size=4, unique=True),
    victim=st.integers(0, DAYS - 1),
    command=st.sampled_from(
        [
            ["plan", "--json"],
            ["prune"],
            ["prune", "--json"],
            ["unlock", "--force"],
            ["verify", "--json"],
            ["audit", "verify"],
        ]
    ),
)
@counted("symlink")
def test_fuzz_symlinks(which: list[str], victim: int, command: list[str]) -> None:
    if "folder" in which:  # the other plants need the victim to be a real folder
        which = ["folder"] + [
            w for w in which if w not in ("data", "manifest", "dangling", "folder")
        ]
    with tmpdir() as tmp:
        store = make_store(tmp)
        sid = store.ids["app"][victim]
        extra = _plant_links(store, which, sid)
        config = base_config(store, extra=extra, keep={"app": 1, "db": 1})
        run_checked(
            store,
            [*command, "--config", str(config)],
            config,
            newest_intact=newest_folders(store, {sid}),
        )
        assert tree(store.sentinel) == tree(store.sentinel)  # still readable, not a loop


# ------------------------------------------------------------ restic JSON

RESTIC_TIME = st.one_of(
    ISO_TIME,
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59.999999999-12:00",
            "2026-11-22T10:00:00.123456789+01:00",
            "2026-11-22T10:00:00.1234567891234Z",
            "2026-11-22T10:00:00",
            "2026-11-22 10:00:00Z",
            "10000-01-01T00:00:00Z",
            "2026-11-22T25:00:00Z",
        ]
    ),
    JSON_LEAF,
)
RESTIC_FIELD = {
    "time": RESTIC_TIME,
    "id": st.one_of(st.text(alphabet="0123456789abcdef", min_size=8, max_size=64), JSON_LEAF),
    "short_id": JSON_LEAF,
    "hostname": st.one_of(WEIRD_TEXT, JSON_LEAF),
    "paths": st.one_of(st.lists(WEIRD_TEXT, max_size=3), JSON_LEAF),
    "tags": st.one_of(st.lists(WEIRD_TEXT, max_size=3), JSON_LEAF),
    "tree": JSON_LEAF,
    "parent": JSON_LEAF,
    "username": JSON_LEAF,
    "uid": st.one_of(HUGE, JSON_LEAF),
}


@st.composite
def restic_json(draw: st.DrawFn) -> bytes:
    snaps = []
    for i in range(draw(st.integers(0, 6))):
        t = (NOW - timedelta(days=i, hours=draw(st.integers(0, 30)))).isoformat()
        snap: dict[str, Any] = {
            "time": t,
            "id": f"{i:02d}" + "ab" * 31,
            "short_id": f"{i:02d}ababab",
            "hostname": "h",
            "paths": ["/srv"],
            "tags": ["daily"],
            "tree": "t",
        }
        if draw(st.integers(0, 2)) == 0:
            for name in draw(
                st.lists(st.sampled_from(sorted(RESTIC_FIELD)), max_size=2, unique=True)
            ):
                snap[name] = draw(RESTIC_FIELD[name])
        snaps.append(snap)
    kind = draw(st.integers(0, 11))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return draw(planted_json({"snapshots": snaps, "x": 1}, {"snapshots": JSON_VALUE}))
    if kind == 2 and snaps:
        return draw(planted_json(snaps[0], RESTIC_FIELD)).join([b"[", b"]"])
    if kind == 3:
        return json.dumps(draw(JSON_VALUE), allow_nan=True).encode()
    return json.dumps(snaps, allow_nan=True).encode("utf-8", "surrogatepass")


RESTIC_DURATION = st.one_of(
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from("ymwdh")), min_size=1, max_size=3).map(
        lambda parts: "".join(f"{n}{u}" for n, u in parts)
    ),
    DURATION,
    st.sampled_from(
        [
            "1y1d1m",
            "1d1y",
            "2562047h",
            "2562048h",
            "0d",
            "1h1h",
            "9223372036854775807h",
            "-1d",
            "1y2m3d4h",
            "d",
            "",
        ]
    ),
)
SMALL_COUNT = st.integers(-1, 10)
KEEP_COUNT = st.one_of(
    st.integers(1, 10), SMALL_COUNT, SMALL_COUNT, HUGE, st.sampled_from(["x", "", "1.5", "-0"])
).map(str)


@examples("restic")
@given(
    raw=restic_json(),
    keep_last=KEEP_COUNT,
    extra=st.lists(
        st.one_of(
            st.tuples(
                st.sampled_from(
                    ["--keep-daily", "--keep-weekly", "--keep-hourly", "--keep-yearly"]
                ),
                KEEP_COUNT,
            ),
            st.tuples(
                st.sampled_from(["--keep-within", "--keep-within-daily", "--keep-within-yearly"]),
                RESTIC_DURATION,
            ),
            st.tuples(
                st.just("--group-by"),
                st.sampled_from(["", "host", "host,paths", "tags", "x", "host,host"]),
            ),
            st.tuples(st.just("--restic-tz"), TIMEZONE),
            st.tuples(st.just("--keep-tag"), WEIRD_TEXT),
            st.tuples(st.just("--now"), ISO_TIME),
            st.tuples(st.just("--keep-oldest")),
        ),
        max_size=2,
    )
    | st.just([]),
    as_json=st.booleans(),
)
@counted("restic")
def test_fuzz_restic_json(
    raw: bytes, keep_last: str, extra: list[tuple[str, ...]], as_json: bool
) -> None:
    with tmpdir() as tmp:
        path = tmp / "snapshots.json"
        path.write_bytes(raw)
        args = [
            "plan",
            "--from-restic",
            str(path),
            "--keep-last",
            keep_last,
            *[a for t in extra for a in t],
        ]
        if "\x00" in "".join(args):
            args = [a.replace("\x00", "") for a in args]
        invoke(args + (["--json"] if as_json else []))


# ------------------------------------------------------------ S3 (moto server over HTTP)


def s3_keys(client: Any, bucket: str) -> dict[str, tuple[int, str]]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = (o["Size"], o["ETag"])
    return out


S3_PLANTS = ["manifest", "journal", "lock", "poison", "nothing"]


@pytest.mark.e2e
@examples("s3", minimum=4)
@given(
    data=st.data(),
    plants=st.lists(st.sampled_from(S3_PLANTS), min_size=1, max_size=3),
    command=st.sampled_from(
        [["prune"], ["prune", "--json"], ["unlock", "--force"], ["verify", "--json"]]
    ),
)
@counted("s3")
def test_fuzz_s3_store(
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    data: st.DataObject,
    plants: list[str],
    command: list[str],
) -> None:
    prefix = f"p-{uuid.uuid4().hex[:10]}"
    writer = S3Writer(s3_client, bucket, prefix)
    sentinel = S3Writer(s3_client, bucket, prefix + "-sentinel")
    ids = {
        g: [
            write_snapshot(
                writer, g, NOW - timedelta(days=d, hours=i), {"data.bin": f"{g}{d}".encode()}
            )
            for i, d in enumerate(range(4, 0, -1))
        ]
        for g in GROUPS
    }
    write_snapshot(
        sentinel, "app", datetime(2026, 11, 1, tzinfo=UTC), {"precious.bin": b"not backupctl's"}
    )
    touched: set[str] = set()
    for plant in plants:
        if plant == "manifest":
            sid = data.draw(st.sampled_from(ids["app"] + ids["db"]), label="folder")
            valid = {
                "version": 1,
                "group": sid.split("/")[0],
                "time": NOW.isoformat(),
                "objects": [],
            }
            writer.put(
                f"{sid}/manifest.json",
                data.draw(planted_json(valid, MANIFEST_FIELD), label="manifest"),
            )
            touched.add(sid)
        elif plant == "journal":
            pool = (
                ids["app"]
                + ids["db"]
                + [
                    "../" + prefix + "-sentinel/app/20261101T000000Z",
                    "app/20261101T000000Z",
                    "other/20261101T000000Z",
                ]
            )
            chosen = data.draw(st.lists(st.sampled_from(pool), max_size=4), label="journal ids")
            writer.put(
                JOURNAL_PREFIX + "20261101T000000Z-evil.json", encode_journal(chosen, "evil", NOW)
            )
            for sid in data.draw(
                st.lists(st.sampled_from(ids["app"][:-1]), max_size=2), label="hidden"
            ):
                s3_client.delete_object(Bucket=bucket, Key=f"{prefix}/{sid}/manifest.json")
                touched.add(sid)
        elif plant == "lock":
            writer.put(
                "_backupctl/lock.json",
                data.draw(planted_json(VALID_LOCK, LOCK_FIELD), label="lock"),
            )
        elif plant == "poison":
            sid = ids["app"][0]
            writer.put(f"{sid}/odd\x01\x7f\u2028name", b"poison")
    config = Path(tempfile.mkdtemp(prefix="bfuzz-s3-")) / "backupctl.toml"
    config.write_text(
        f'timezone = "UTC"\n[store]\nurl = "s3://{bucket}/{prefix}"\n'
        f'endpoint_url = "{s3_endpoint}"\n'
        '[safety]\nmax_delete_fraction = 1.0\n[[policy]]\nname = "app"\nkeep_last = 1\n'
        '[[policy]]\nname = "db"\nkeep_last = 2\n'
    )
    args = [*command, "--config", str(config)]
    plan = plan_json(config) if "prune" in args else None
    before = s3_keys(s3_client, bucket)
    invoke(args)
    after = s3_keys(s3_client, bucket)
    if set(before) - set(after):
        DELETIONS["prunes"] += 1
        DELETIONS["entries"] += len(set(before) - set(after))
    allowed, newest = planned_folders(plan) if "prune" in args else (set(), {})
    for key in sorted(set(before) - set(after)):
        rel = key[len(prefix) + 1 :] if key.startswith(prefix + "/") else None
        assert rel is not None, f"{args}: {key!r} outside the store's prefix was deleted"
        assert (
            _inside(rel, allowed) or rel.startswith(JOURNAL_PREFIX) or rel == "_backupctl/lock.json"
        ), f"{args}: {key!r} deleted, not in the plan {sorted(allowed)}"
    for key in set(after) - set(before):
        assert key.startswith(prefix + "/_backupctl/"), f"{args}: {key!r} appeared"
    for key, value in before.items():
        if key in after and not key.startswith(prefix + "/_backupctl/"):
            assert after[key] == value, f"{args}: {key!r} changed"
    for folder in newest.values():
        assert (
            f"{prefix}/{folder}manifest.json" not in before
            or f"{prefix}/{folder}manifest.json" in after
        )
    for g, folder in newest_folders(Store(Path("/"), Path("/"), Path("/"), ids), touched).items():
        assert f"{prefix}/{folder}manifest.json" in after, (
            f"{args}: the newest snapshot of {g!r} was deleted"
        )


# ------------------------------------------------------------ regressions found by the fuzz


@pytest.mark.parametrize(
    "command",
    [["prune"], ["unlock", "--force"], ["unlock"], ["audit", "verify"], ["plan", "--json"]],
)
@pytest.mark.parametrize("link", ["_backupctl/audit", "_backupctl"])
def test_a_symlinked_backupctl_folder_is_never_followed(
    tmp_path: Path, link: str, command: list[str]
) -> None:
    """Found by test_fuzz_symlinks: a symlinked ``_backupctl`` was followed outside the store.

    With ``_backupctl`` (or ``_backupctl/audit``) a symlink to a folder outside the root, prune
    and unlock --force appended audit records there, and unlock --force deleted the
    ``lock.json`` it found there: outside the store. FileBlobs now refuses a key reached
    through a symlinked folder (exit 1, nothing changed).
    """
    store = make_store(tmp_path.resolve())
    (store.root / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(
        store.sentinel if link == "_backupctl" else store.sentinel / "app", store.root / link
    )
    config = base_config(store, keep={"app": 1, "db": 1})
    before = tree(store.sentinel)
    result = invoke([*command, "--config", str(config)])
    assert tree(store.sentinel) == before, result.output
    if command[0] == "prune" or (
        command[0] == "unlock" and link == "_backupctl"
    ):  # the lock is under the link
        assert result.exit_code == 1 and "is a symlink" in result.stderr, result.output


@pytest.mark.parametrize(
    "now", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00Z"]
)
@pytest.mark.parametrize("source", ["restic", "config"])
def test_plan_now_at_the_ends_of_the_calendar_is_refused(
    tmp_path: Path, now: str, source: str
) -> None:
    """Found by test_fuzz_restic_json: ``plan --from-restic F --keep-last 1 --now
    0001-01-01T00:00:00+14:00`` raised OverflowError (a traceback) in the planner."""
    if source == "restic":
        snaps = tmp_path / "snapshots.json"
        snaps.write_text(
            json.dumps(
                [{"time": NOW.isoformat(), "id": "ab" * 32, "hostname": "h", "paths": ["/"]}]
            )
        )
        args = ["plan", "--from-restic", str(snaps), "--keep-last", "1"]
    else:
        store = make_store(tmp_path.resolve())
        args = ["plan", "--config", str(base_config(store))]
    result = invoke([*args, "--now", now])
    assert (
        result.exit_code == 2 and "--at" in result.stderr
    )  # --now is the alias of --at, result.output


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '[{"time": 1' + "0" * 5000 + "}]",
        '[{"time": NaN}]',
        "[" * 65 + "]" * 65,
    ],
)
def test_restic_json_nested_deep_or_with_huge_numbers_is_refused(tmp_path: Path, text: str) -> None:
    """Found by test_fuzz_restic_json: ``plan --from-restic`` parsed restic's JSON unbounded, so a
    100000-deep array was a RecursionError and a 5000-digit number a ValueError (tracebacks)."""
    snaps = tmp_path / "snapshots.json"
    snaps.write_text(text)
    result = invoke(["plan", "--from-restic", str(snaps), "--keep-last", "1"])
    assert result.exit_code == 2 and "restic snapshots --json" in result.stderr, result.output


@pytest.mark.parametrize("value", ["9" * 400, "-" + "9" * 5000, "9" * 5000, "1e400"])
@pytest.mark.parametrize(
    "key", ["store.restic_lock_wait", "drill.live_check_timeout", "policy.keep_last"]
)
def test_a_config_number_beyond_float_or_int_limits_is_refused(
    tmp_path: Path, key: str, value: str
) -> None:
    """Found by test_fuzz_configs_and_commands: huge config numbers were tracebacks.

    ``restic_lock_wait = <400 digits>`` was an OverflowError (int too large to convert to
    float), and a TOML integer of 5000 digits a ValueError from tomllib.
    """
    store = make_store(tmp_path.resolve())
    section, name = key.split(".")
    config = base_config(
        store,
        keep={"db": 1},
        extra=f'[[policy]]\nname = "app"\n{name} = {value}\n'
        if section == "policy"
        else f"[{section}]\n{name} = {value}\n",
    )
    if section == "store":  # [store] is already there: put the key into it
        text = config.read_text().replace(f"[{section}]\n{name} = {value}\n", "")
        config.write_text(text.replace("[store]\n", f"[store]\n{name} = {value}\n"))
    result = invoke(["plan", "--config", str(config)])
    assert result.exit_code == 2 and "backupctl: error:" in result.stderr, result.output
