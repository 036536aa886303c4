"""Config: one TOML file, validated against one schema that collects every problem.

The schema (:data:`SCHEMA`) is data: each key has a parser, a default and a description,
so the README's reference and ``backupctl init`` are generated from the same source.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backupctl import notify
from backupctl.errors import ConfigError
from backupctl.secrets import redact_url
from backupctl.stores import registry
from retention import (
    COUNT_RULES,
    PRESETS,
    WITHIN_RULES,
    Duration,
    DurationError,
    Policy,
    PolicyError,
)

__all__ = [
    "SCHEMA",
    "AuditConfig",
    "Config",
    "DrillConfig",
    "NotifyConfig",
    "PolicyConfig",
    "SafetyConfig",
    "StoreConfig",
    "VerifyConfig",
    "load_cli_config",
    "load_config",
    "parse_config",
    "resolve_config_path",
]


class _Bad(ValueError):
    """A value that does not fit its key; the message says what was expected."""


@dataclass(frozen=True)
class Key:
    """One config key: how to parse it, its default (None = optional, absent) and what it means."""

    parse: Callable[[Any], Any]
    default: Any
    help: str
    required: bool = False


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise _Bad(f"expected a non-empty string, got {v!r}")
    return v


def _listing(v: Any) -> str:
    if v not in ("objects", "folders"):
        raise _Bad(
            "expected 'objects' (list every key) or "
            "'folders' (list snapshot folders, trust manifests), "
            f"got {v!r}"
        )
    return str(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Bad(f"expected true or false, got {v!r}")
    return v


def _duration(v: Any) -> Duration:
    if not isinstance(v, str):
        raise _Bad(f"expected a duration string such as '2d' or '6h', got {v!r}")
    try:
        return Duration.parse(v)
    except DurationError as exc:
        raise _Bad(str(exc)) from None


def _fraction(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 1:
        raise _Bad(f"expected a number in (0, 1], got {v!r}")
    return float(v)


_INT_MAX = (
    1_000_000  # workers, sample counts: far beyond any real setting, and every one fits a float
)


def _positive_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= _INT_MAX:
        shown = repr(v) if len(repr(v)) <= 30 else f"a {len(repr(v))}-character value"
        raise _Bad(f"expected a positive integer of at most {_INT_MAX}, got {shown}")
    return v


_FLOAT_MAX = 1.7976931348623157e308  # an int beyond it has no float (10**400 was an OverflowError)


def _positive_number(v: Any) -> float:
    if (
        isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= _FLOAT_MAX
    ):  # refuses nan, inf too
        raise _Bad(f"expected a positive number, got {v!r:.40}")
    return float(v)


def _day_hours(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 24:  # refuses nan too
        raise _Bad(f"expected a number of hours in (0, 24], got {v!r:.40}")
    return float(v)


def _seconds(v: Any) -> float:
    if (
        isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= _FLOAT_MAX
    ):  # refuses nan, inf too
        raise _Bad(f"expected a number of seconds (0 or more), got {v!r:.40}")
    return float(v)


def _object_lock(v: Any) -> str:
    if v not in ("governance", "compliance"):
        raise _Bad(f"expected 'governance' or 'compliance', got {v!r:.40}")
    return str(v)


def endpoint_url_problem(v: Any) -> str | None:
    """Why ``v`` is no usable ``store.endpoint_url`` (an http:// or https:// URL with a host
    and a valid port), shown masked, or None."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(v) if isinstance(v, str) else None
        ok = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)
        if ok and parts is not None:
            parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        ok = False
    if ok:
        return None
    shown = redact_url(v) if isinstance(v, str) else v
    return f"expected an http:// or https:// URL such as http://127.0.0.1:9000, got {shown!r:.80}"


def _endpoint_url(v: Any) -> str:
    problem = endpoint_url_problem(v)
    if problem is not None:
        raise _Bad(problem)
    return str(v)


def _s3_url(v: Any) -> str:
    if not isinstance(v, str) or not v.startswith("s3://") or len(v) <= len("s3://"):
        raise _Bad(f"expected an s3://bucket/prefix URL, got {v!r:.80}")
    return v


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}


def _byte_size(v: Any) -> int:
    """A size: a positive int of bytes, or a string such as ``"256MiB"`` or ``"1 GB"``.

    Raises:
        ValueError: anything else (the message says what was expected).
    """
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return v
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", v) if isinstance(v, str) else None
    if m is None or m.group(2).lower() not in _SIZE_UNITS or float(m.group(1)) <= 0:
        raise _Bad(f'expected a size such as 268435456 or "256MiB", got {v!r:.40}')
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


parse_byte_size = _byte_size  # the same reading for command-line sizes


def _timezone(v: Any) -> ZoneInfo:
    try:
        return ZoneInfo(_str(v))
    except (ZoneInfoNotFoundError, ValueError):
        raise _Bad(f"expected an IANA timezone such as 'Europe/Amsterdam', got {v!r}") from None


def _store_url(v: Any) -> str:
    url = _str(v)
    problem = registry.url_problem(url)
    if problem is not None:
        raise _Bad(problem)
    return url


def _schedule(v: Any) -> str:
    # here: croniter's import runs `file` (platform.architecture) on every start
    from retention.schedule import ScheduleError, check_cron

    expr = _str(v)
    try:
        check_cron(expr)  # 5 fields or @daily …; no backwards range; fires at least once
    except ScheduleError as exc:
        raise _Bad(str(exc)) from None
    return expr


def _sample(v: Any) -> float:
    """``5`` = 5 snapshots per run; ``"10%"`` = a tenth of them."""
    if isinstance(v, str) and v.endswith("%"):
        try:
            pct = float(v[:-1])
        except ValueError:
            raise _Bad(f"expected a count or a percentage such as '10%', got {v!r}") from None
        if not 0 < pct <= 100:
            raise _Bad(f"expected a percentage in (0%, 100%], got {v!r}")
        return -pct / 100.0
    return float(_positive_int(v))


def _working_hours(v: Any) -> dict[str, str]:
    if not isinstance(v, Mapping) or not all(
        isinstance(k, str) and isinstance(x, str) for k, x in v.items()
    ):
        raise _Bad(
            f'expected a table such as {{ mon-thu = "09:00-17:00", fri = "09:00-16:00" }}, '
            f"got {v!r}"
        )
    return dict(v)


def _target(v: Any) -> str:
    text = _str(v)
    words = text.split()
    if len(words) != 3 or words[1] != "working" or words[2] not in ("day", "days", "hour", "hours"):
        raise _Bad(f"expected e.g. '1 working day' or '4 working hours', got {v!r}")
    try:
        amount = float(words[0])
    except ValueError:
        raise _Bad(f"expected a number first, e.g. '1 working day', got {v!r:.60}") from None
    hours = amount * (
        8 if words[2].startswith("day") else 1
    )  # the exact bound is checked with working_day_hours
    if not 0 < hours <= 10_000:
        raise _Bad(
            "expected a positive target of at most 10000 working hours "
            f"(1250 working days of 8 h), got {v!r:.60}"
        )
    return text


def _hook_url(v: Any, *, placeholder: bool = False) -> str:
    url = _str(v)
    problem = notify.http_url_problem(url, placeholder=placeholder)
    if problem is not None:
        raise _Bad(problem)
    return url


def _names(v: Any, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _Bad(f"expected a list of {what} names (any of: {', '.join(allowed)}), got {v!r:.60}")
    unknown = [x for x in v if x not in allowed]
    if unknown:
        raise _Bad(f"unknown {what} {unknown[0]!r:.40} (expected any of: {', '.join(allowed)})")
    return tuple(dict.fromkeys(v))


def _apprise_urls(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
        raise _Bad('expected a non-empty list of Apprise URLs such as ["mailto://…"]')
    if not notify.apprise_installed():
        raise _Bad(
            "needs the apprise library, which is not installed "
            "(pip install 'backupctl[notify]'), or remove the key"
        )
    problems = [(i, p) for i, u in enumerate(v) if (p := notify.apprise_problem(u)) is not None]
    if problems:
        i, problem = problems[0]
        raise _Bad(f"URL {i + 1} of {len(v)}: {problem}")
    return tuple(v)


def _notify_timeout(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= notify.MAX_TIMEOUT:
        raise _Bad(f"expected a number of seconds in (0, {notify.MAX_TIMEOUT:g}], got {v!r:.40}")
    return float(v)


_POLICY_RULE_HELP = "restic-style keep rule"
SCHEMA: dict[str, dict[str, Key]] = {
    "": {
        "timezone": Key(
            _timezone,
            ZoneInfo("Europe/Amsterdam"),
            "IANA zone for schedules, calendar buckets of UTC-keyed stores and working hours",
        ),
    },
    "store": {
        "url": Key(_store_url, None, registry.expected_urls(), required=True),
        "endpoint_url": Key(
            _endpoint_url, None, "S3-compatible endpoint (MinIO, moto, Ceph …); AWS when absent"
        ),
        "region": Key(_str, None, "S3 region (default from the AWS environment, else us-east-1)"),
        "profile": Key(_str, None, "AWS shared-credentials profile"),
        "key_template": Key(
            _str,
            "{group}/{time}/",
            "S3/file layout of a snapshot's folder; {group} and {time} (YYYYMMDDTHHMMSSZ, UTC) "
            "or {time:FORMAT} (%Y %m %d, optional %H %M %S, in name_timezone)",
        ),
        "name_timezone": Key(
            _timezone,
            None,
            "IANA zone a {time:FORMAT} name is read in (default: the top-level timezone); "
            "a DST fall-back name is read as its first occurrence and noted",
        ),
        "listing": Key(
            _listing,
            "objects",
            "S3: 'objects' lists every key (full inventory); 'folders' lists snapshot folders only "
            "and takes their contents from the manifests (far fewer requests on big stores)",
        ),
        "content_md5": Key(
            _bool, False, "send Content-MD5 on DeleteObjects (stores that require it)"
        ),
        "inventory": Key(
            _s3_url,
            None,
            "S3: plan from the newest S3 Inventory report under this s3:// URL instead of "
            "listing the bucket (docs/stores.md)",
        ),
        "inventory_max_age": Key(
            _duration,
            Duration(days=2),
            "refuse (exit 4) to plan from an S3 Inventory report older than this: a daily "
            'report needs "2d", a weekly one "8d"',
        ),
        "delete_versions": Key(
            _bool, True, "in versioned buckets, delete every version, not just add markers"
        ),
        "restic_password_file": Key(_str, None, "restic: file with the repository password"),
        "restic_password_env": Key(_str, None, "restic: environment variable holding the password"),
        "restic_binary": Key(_str, "restic", "restic: the binary to run"),
        "restic_lock_wait": Key(
            _seconds,
            0.0,
            "restic: seconds to keep retrying forget/prune while another "
            "restic process (a backup) holds the repository lock",
        ),
        "restic_group_by": Key(_str, "host,paths", "restic: grouping, as restic forget --group-by"),
    },
    "cache": {  # docs/stores.md "Manifest cache"; the cache itself: backupctl/stores/cache.py
        "enabled": Key(_bool, True, "keep read manifests in a local cache, keyed by ETag"),
        "dir": Key(_str, None, "cache folder (default: $XDG_CACHE_HOME/backupctl)"),
        "max_size": Key(
            _byte_size, 256 * 2**20, 'bound on the cache\'s size on disk, e.g. "256MiB"'
        ),
    },
    "safety": {
        "max_delete_fraction": Key(
            _fraction, 0.5, "refuse a run deleting more than this share of a group"
        ),
        "stale_after": Key(
            _duration,
            Duration(days=2),
            "refuse when a group's newest snapshot is older than this (backups stopped)",
        ),
        "clock_skew": Key(
            _duration, Duration(hours=1), "refuse snapshots dated further than this in the future"
        ),
        "lock_ttl": Key(
            _duration, Duration(hours=6), "how long a prune lock is valid before it counts as stale"
        ),
        "max_time_drift": Key(
            _duration,
            Duration(days=1),
            "flag a new snapshot whose claimed time is further than this from when its objects "
            "were written (trusted time)",
        ),
        "keep_last_verified": Key(
            _bool,
            True,
            "never delete the newest snapshot of a group that passed a drill (audit log's records)",
        ),
    },
    "verify": {
        "integrity_sample": Key(
            _sample, 5.0, "snapshots checked per run: a count (5) or a share ('10%')"
        ),
        "over_retention_grace": Key(
            _duration, Duration(days=1), "how long past its time a snapshot may linger"
        ),
    },
    "audit": {
        "url": Key(
            _store_url,
            None,
            "where the audit log lives (default: beside the backups, <prefix>/_backupctl/audit/)",
        ),
        "signing_key_file": Key(
            _str,
            None,
            "Ed25519 private key (`backupctl keygen`) that signs every audit record and proof",
        ),
        "public_key_file": Key(
            _str,
            None,
            "Ed25519 public key the log began with: `audit verify` and `proof check` then "
            "refuse unsigned or badly signed records (follows key.rotate records)",
        ),
        "signed_from": Key(
            _positive_int,
            1,
            "the first seq that must be signed (a log that began before signing was enabled)",
        ),
        "object_lock": Key(
            _object_lock,
            None,
            "S3 Object Lock mode for each audit record: 'governance' or 'compliance' "
            "(the bucket must have Object Lock enabled); needs object_lock_retain",
        ),
        "object_lock_retain": Key(
            _duration, None, "how long each audit record is locked, e.g. '7y'"
        ),
    },
    "drill": {
        "target": Key(
            _target, "1 working day", "the restore promise: '1 working day', '4 working hours'"
        ),
        "working_hours": Key(
            _working_hours,
            {"mon-thu": "09:00-17:00", "fri": "09:00-16:00"},
            "opening hours per weekday; other days are closed",
        ),
        "holidays": Key(_str, "NL", "country code for public holidays (python-holidays)"),
        "working_day_hours": Key(_day_hours, 8.0, "length of one working day in hours"),
        "live_check": Key(
            _str,
            None,
            "command that exits 0 once the restored system is usable ({dir} = restore dir)",
        ),
        "live_check_timeout": Key(
            _positive_number, 600.0, "seconds to wait for the live check to pass"
        ),
        "live_check_interval": Key(_positive_number, 2.0, "seconds between live check attempts"),
        "scratch_dir": Key(_str, None, "where restores go (default: a temporary directory)"),
        "workers": Key(_positive_int, 4, "parallel downloads during a restore"),
    },
    "notify": {  # docs/notifications.md; the hooks themselves: backupctl/notify.py
        "ping_url": Key(
            lambda v: _hook_url(v, placeholder=True),
            None,
            "healthchecks.io-style ping URL: `/start`, then the URL itself on success and `/fail` "
            "otherwise; `{command}` is replaced by prune, verify or drill",
        ),
        "ping_exit_codes": Key(
            _bool, False, "end pings go to `<ping_url>/<exit code>` instead of `<ping_url>[/fail]`"
        ),
        "webhook_url": Key(_hook_url, None, "URL that gets a JSON document per event (POST)"),
        "webhook_events": Key(
            lambda v: _names(v, notify.EVENTS, "event"),
            notify.EVENTS,
            "the events the webhook gets",
        ),
        "apprise_urls": Key(
            _apprise_urls,
            None,
            "Apprise URLs (mailto://, slack://, …; needs `pip install 'backupctl[notify]'`)",
        ),
        "apprise_events": Key(
            lambda v: _names(v, notify.EVENTS, "event"),
            notify.DEFAULT_APPRISE_EVENTS,
            "the events Apprise URLs get",
        ),
        "commands": Key(
            lambda v: _names(v, notify.COMMANDS, "command"),
            notify.COMMANDS,
            "the commands that notify (`prune --dry-run` and `drill deadline` never do)",
        ),
        "timeout": Key(
            _notify_timeout,
            5.0,
            "seconds each hook may take (all hooks of an event run at once); a slow or failing "
            "hook is a warning and never changes the exit code",
        ),
    },
}
POLICY_SCHEMA: dict[str, Key] = {
    "name": Key(_str, None, "policy name, shown in plans and proofs", required=True),
    "group": Key(
        _str, None, "the store's group (S3 prefix part) this policy governs; default: name"
    ),
    "preset": Key(_str, None, "start from a named preset: " + ", ".join(PRESETS)),
    "schedule": Key(_schedule, None, "cron expression: when backups are expected (in `timezone`)"),
    "tolerance": Key(
        _duration, None, "how late a backup may be and still count (default: until the next one)"
    ),
    **{name: Key(lambda v: v, None, _POLICY_RULE_HELP) for name in (*COUNT_RULES, *WITHIN_RULES)},
    "keep_tag": Key(lambda v: v, None, "keep snapshots carrying all tags of any listed 'a,b' list"),
    "keep_oldest": Key(
        lambda v: v, None, "restic 0.16: also keep the oldest while a count is left"
    ),
}


@dataclass(frozen=True)
class StoreConfig:
    url: str
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    key_template: str = "{group}/{time}/"
    name_timezone: ZoneInfo | None = None  # None: the top-level timezone
    listing: str = "objects"
    content_md5: bool = False
    inventory: str | None = None  # s3:// URL of S3 Inventory reports (stores/inventory.py)
    inventory_max_age: Duration = Duration(days=2)
    delete_versions: bool = True
    restic_password_file: str | None = None
    restic_password_env: str | None = None
    restic_binary: str = "restic"
    restic_lock_wait: float = 0.0
    restic_group_by: str = "host,paths"

    @property
    def kind(self) -> str:
        """The store kind's name (``"s3"``, ``"file"``, ``"restic"``: :data:`registry.KINDS`)."""
        kind = registry.kind_of(self.url)
        return kind.name if kind is not None else self.url.split(":", 1)[0]


@dataclass(frozen=True)
class CacheConfig:
    """``[cache]``: the local manifest cache (:mod:`backupctl.stores.cache`)."""

    enabled: bool = True
    dir: str | None = None  # None: $XDG_CACHE_HOME/backupctl (else ~/.cache/backupctl)
    max_size: int = 256 * 2**20


@dataclass(frozen=True)
class SafetyConfig:
    max_delete_fraction: float = 0.5
    stale_after: Duration = Duration(days=2)
    clock_skew: Duration = Duration(hours=1)
    lock_ttl: Duration = Duration(hours=6)
    keep_last_verified: bool = True
    max_time_drift: Duration = Duration(days=1)


@dataclass(frozen=True)
class VerifyConfig:
    integrity_sample: float = 5.0
    over_retention_grace: Duration = Duration(days=1)


@dataclass(frozen=True)
class AuditConfig:
    """``[audit]`` besides ``url`` (which is :attr:`Config.audit_url`): the signing keys."""

    signing_key_file: str | None = None
    public_key_file: str | None = None
    signed_from: int = 1
    object_lock: str | None = None  # "governance" | "compliance"
    object_lock_retain: Duration | None = None


@dataclass(frozen=True)
class DrillConfig:
    target: str = "1 working day"
    working_hours: dict[str, str] = field(
        default_factory=lambda: {"mon-thu": "09:00-17:00", "fri": "09:00-16:00"}
    )
    holidays: str = "NL"
    working_day_hours: float = 8.0
    live_check: str | None = None
    live_check_timeout: float = 600.0
    live_check_interval: float = 2.0
    scratch_dir: str | None = None
    workers: int = 4


@dataclass(frozen=True)
class NotifyConfig:
    """``[notify]``: the hooks of :mod:`backupctl.notify`; no URL = no notifications."""

    ping_url: str | None = None
    ping_exit_codes: bool = False
    webhook_url: str | None = None
    webhook_events: tuple[str, ...] = notify.EVENTS
    apprise_urls: tuple[str, ...] = ()
    apprise_events: tuple[str, ...] = notify.DEFAULT_APPRISE_EVENTS
    commands: tuple[str, ...] = notify.COMMANDS
    timeout: float = 5.0


@dataclass(frozen=True)
class PolicyConfig:
    name: str
    group: str
    policy: Policy
    schedule: str | None = None
    tolerance: Duration | None = None
    preset: str | None = None


@dataclass(frozen=True)
class Config:
    """A validated config. ``sha256`` is the hash of the file's bytes (for proofs)."""

    path: str
    timezone: ZoneInfo
    store: StoreConfig
    safety: SafetyConfig
    verify: VerifyConfig
    drill: DrillConfig
    policies: tuple[PolicyConfig, ...]
    audit_url: str | None = None
    sha256: str = ""
    audit: AuditConfig = AuditConfig()
    notify: NotifyConfig = NotifyConfig()
    cache: CacheConfig = CacheConfig()

    def with_cache_off(self) -> Config:
        """This config with ``[cache] enabled = false`` (``--no-cache``)."""
        return dataclasses.replace(self, cache=dataclasses.replace(self.cache, enabled=False))

    def policy_for_group(self, group: str) -> PolicyConfig | None:
        """The policy governing ``group``, or None (its snapshots are then left alone)."""
        return next((p for p in self.policies if p.group == group), None)


DEFAULT_CONFIG = "backupctl.toml"


def resolve_config_path(path: str | None) -> Path:
    """The config file a command uses: ``path``, else $BACKUPCTL_CONFIG, else ./backupctl.toml.

    Raises:
        ConfigError: the file does not exist (saying ``backupctl init`` writes one).
    """
    chosen = Path(path or os.environ.get("BACKUPCTL_CONFIG") or DEFAULT_CONFIG)
    if not chosen.exists():
        raise ConfigError(
            str(chosen),
            [
                f"config file not found: {chosen} "
                "(`backupctl init` writes a commented starter config)"
            ],
        )
    return chosen


def load_cli_config(path: str | None) -> Config:
    """Resolve (see :func:`resolve_config_path`) and load the config a command uses."""
    return load_config(resolve_config_path(path))


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config file.

    Raises:
        ConfigError: unreadable file, bad TOML, or any schema problem (all listed).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read the config file: {exc.strerror or exc}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (
        tomllib.TOMLDecodeError,
        UnicodeDecodeError,
        ValueError,
    ) as exc:  # ValueError: an int of 4301+ digits
        raise ConfigError(str(p), [f"not valid TOML: {exc}"]) from None
    return parse_config(data, path=str(p), sha256=hashlib.sha256(raw).hexdigest())


def parse_config(data: Mapping[str, Any], *, path: str = "<config>", sha256: str = "") -> Config:
    """Validate an already-parsed TOML mapping; see :func:`load_config`."""
    problems: list[str] = []
    sections: dict[str, dict[str, Any]] = {}
    for section, keys in SCHEMA.items():
        table = data if section == "" else data.get(section, {})
        if not isinstance(table, Mapping):
            problems.append(f"[{section}]: expected a table, got {table!r}")
            table = {}
        sections[section] = _section(table, keys, section, problems)
    known = {s for s in SCHEMA if s} | {"policy"} | set(SCHEMA[""])
    problems += [
        f"{k}: unknown key (expected one of: {', '.join(sorted(known))})"
        for k in data
        if k not in known
    ]
    if "store" not in data:
        problems.append(
            f"[store]: missing (expected a table with url = {registry.expected_urls()})"
        )
    policies = _policies(data.get("policy", []), problems)
    problems += _layout_problems(sections["store"], policies)
    problems += _inventory_problems(sections["store"])
    if ("object_lock" in sections["audit"]) != ("object_lock_retain" in sections["audit"]):
        problems.append(
            "audit.object_lock and audit.object_lock_retain: give both (the mode and how long, "
            'e.g. object_lock = "compliance", object_lock_retain = "7y") or neither'
        )
    if problems:
        raise ConfigError(path, problems)
    return Config(
        path=path,
        timezone=sections[""]["timezone"],
        store=StoreConfig(**sections["store"]),
        safety=SafetyConfig(**sections["safety"]),
        verify=VerifyConfig(**sections["verify"]),
        drill=DrillConfig(**sections["drill"]),
        policies=tuple(policies),
        audit_url=sections["audit"].get("url"),
        sha256=sha256,
        audit=AuditConfig(**{k: v for k, v in sections["audit"].items() if k != "url"}),
        notify=NotifyConfig(**sections["notify"]),
        cache=CacheConfig(**sections["cache"]),
    )


def _layout_problems(store: Mapping[str, Any], policies: list[PolicyConfig]) -> list[str]:
    """S3 and file stores: groups and key template must give every key at most one snapshot
    (see :func:`backupctl.stores.layout.layout_problems`); restic groups are not folders."""
    kind = registry.kind_of(str(store.get("url", "")))
    if kind is None or not kind.layout or not policies:
        return []
    from backupctl.stores.layout import layout_problems  # lazy: it imports retention

    template = store.get("key_template", "{group}/{time}/")
    return [
        f"store.key_template / policy group: {p}"
        for p in layout_problems(template, [p.group for p in policies])
    ]


def _inventory_problems(store: Mapping[str, Any]) -> list[str]:
    """``store.inventory`` needs an s3:// store listed key by key (a report lists keys)."""
    if "inventory" not in store:
        return []
    kind = registry.kind_of(str(store.get("url", "")))
    if kind is not None and kind.name != "s3":
        return [
            "store.inventory: plans from an S3 Inventory report, which needs an s3:// "
            f"store.url, got a {kind.name} store"
        ]
    if store.get("listing") == "folders":
        return [
            "store.inventory: plans from a report instead of a listing; "
            "store.listing = 'folders' cannot go with it (remove one)"
        ]
    return []


def _section(
    table: Mapping[str, Any], keys: dict[str, Key], section: str, problems: list[str]
) -> dict[str, Any]:
    prefix = f"{section}." if section else ""
    out: dict[str, Any] = {}
    for name, key in keys.items():
        if name in table:
            try:
                out[name] = key.parse(table[name])
            except _Bad as exc:
                problems.append(f"{prefix}{name}: {exc}")
        elif key.required and table:  # a missing [store] table is reported once, by the caller
            problems.append(f"{prefix}{name}: missing ({key.help})")
        elif key.default is not None:
            out[name] = key.default
    if section:
        unknown = [k for k in table if k not in keys]
        problems += [
            f"{prefix}{k}: unknown key (expected one of: {', '.join(keys)})" for k in unknown
        ]
    return out


def _policies(raw: Any, problems: list[str]) -> list[PolicyConfig]:
    if not isinstance(raw, list):
        problems.append("[[policy]]: expected an array of tables ([[policy]] … )")
        return []
    out: list[PolicyConfig] = []
    seen_groups: dict[str, str] = {}
    for i, table in enumerate(raw):
        where = f"policy[{i}]"
        if not isinstance(table, Mapping):
            problems.append(f"{where}: expected a table")
            continue
        where = f"policy[{i}] ({table.get('name', '?')})"
        pc = _policy(table, where, problems)
        if pc is None:
            continue
        if pc.group in seen_groups:
            owner = seen_groups[pc.group]
            problems.append(
                f"{where}.group: group {pc.group!r} is already governed by policy {owner!r}"
            )
        seen_groups[pc.group] = pc.name
        out.append(pc)
    if not raw:
        problems.append(
            "[[policy]]: no policy given "
            "(expected at least one [[policy]] with a name and keep_* rules)"
        )
    return out


def _policy(table: Mapping[str, Any], where: str, problems: list[str]) -> PolicyConfig | None:
    before = len(problems)
    values = _section(table, POLICY_SCHEMA, "", [])  # parsed below with the policy's own prefix
    for name, key in POLICY_SCHEMA.items():
        if name in table:
            try:
                key.parse(table[name])
            except _Bad as exc:
                problems.append(f"{where}.{name}: {exc}")
        elif key.required:
            problems.append(f"{where}.{name}: missing ({key.help})")
    problems += [
        f"{where}.{k}: unknown key (expected one of: {', '.join(POLICY_SCHEMA)})"
        for k in table
        if k not in POLICY_SCHEMA
    ]
    preset = values.get("preset")
    if preset is not None and preset not in PRESETS:
        problems.append(
            f"{where}.preset: unknown preset {preset!r} (expected one of: {', '.join(PRESETS)})"
        )
    try:
        policy = Policy.from_mapping(table, where=where)
    except PolicyError as exc:
        problems += exc.problems
        return None
    if preset in PRESETS and not _has_rules(table):
        policy = PRESETS[preset]
    elif policy.is_empty():
        problems.append(
            f"{where}: no keep_* rule and no preset (an empty policy is refused; "
            'set e.g. keep_within = "2m" or preset = "sla-app")'
        )
    if len(problems) > before or "name" not in values:
        return None
    return PolicyConfig(
        name=values["name"],
        group=values.get("group", values["name"]),
        policy=policy,
        schedule=values.get("schedule"),
        tolerance=values.get("tolerance"),
        preset=preset,
    )


def _has_rules(table: Mapping[str, Any]) -> bool:
    return any(k.startswith("keep_") for k in table)
