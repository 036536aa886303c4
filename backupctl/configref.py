"""Documentation generated from the config schema: the starter config and the README reference.

Both come from :data:`backupctl.config.SCHEMA`, so a key added there shows up here, and a
test fails when README.md's reference falls behind.
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from backupctl.config import POLICY_SCHEMA, SCHEMA, Key
from backupctl.stores import registry
from retention import Duration

HEADER = """\
# backupctl configuration — written by `backupctl init`.
# Every key is documented in README.md ("Config reference"); `backupctl plan` shows what
# this config would do without changing anything.

# Timezone for schedules, calendar buckets (day, ISO week, month) and working hours.
timezone = {timezone}
"""

SAFETY = """\
[safety]
max_delete_fraction = 0.5   # refuse a run that would delete more than half of a group
stale_after = "2d"          # refuse when a group's newest backup is older: backups have stopped
clock_skew = "1h"           # refuse snapshots dated further in the future than this
lock_ttl = "6h"             # a prune lock older than this is reported as stale
"""

SLA_POLICIES = """\
# The SLA: application backups 4x a day, each kept 2 months.
[[policy]]
name = "app"
group = "app"
schedule = "0 0,6,12,18 * * *"
keep_within = "2m"

# The SLA: a daily server backup at 02:00, kept 7 days; one a week for 4 weeks;
# one a month for 6 months.
[[policy]]
name = "server"
group = "server"
schedule = "0 2 * * *"
keep_within_daily = "7d"
keep_within_weekly = "4w"
keep_within_monthly = "6m"
"""

TAIL = """\
[verify]
integrity_sample = 5          # snapshots re-hashed per `backupctl verify` (or a share: "10%")
over_retention_grace = "1d"   # how long past its time a backup may linger before it is a violation

[drill]
target = "1 working day"
working_hours = {{ mon-thu = "09:00-17:00", fri = "09:00-16:00" }}
holidays = "NL"
working_day_hours = 8
{live_check_line}
live_check_timeout = {live_check_timeout}
{audit}
# Tell a monitor or a person how prune, verify and drill went (docs/notifications.md).
# [notify]
# ping_url = "https://hc-ping.com/YOUR-PING-KEY/backupctl-{{command}}"  # /start, then ok or /fail
# webhook_url = "https://hooks.example.com/backupctl"                 # a JSON POST per event
"""

_KEY_TEMPLATE_HINT = (
    '# key_template = "{group}/{time}/"       # a snapshot folder (docs/stores.md);\n'
    '#                                        # one object: "{group}/{time:%Y-%m-%dT%H%M}.sql.gz"'
)
DEFAULT_AUDIT_URL = "file:///var/lib/backupctl/audit"


def _q(value: str) -> str:
    """A TOML basic string (quotes, backslashes and control characters escaped)."""
    from backupctl.discover import toml_string

    return toml_string(value)


def _store_lines(
    kind: str,
    url: str,
    *,
    endpoint_url: str | None,
    layout: str | None,
    restic_password_file: str | None,
    restic_password_env: str | None,
) -> list[str]:
    """The ``[store]`` keys that apply to ``kind`` ("s3", "file", "restic"), with comments."""
    where = {
        "s3": "an S3 bucket and prefix (AWS or any S3-compatible service)",
        "file": "a local directory, in the same layout as on S3",
        "restic": "a restic repository (anything restic accepts after -r; docs/restic.md)",
    }
    lines = [
        "[store]",
        f"# Where the backups live: {where.get(kind, registry.expected_urls())}.",
        f"url = {_q(url)}",
    ]
    if kind == "s3":
        lines.append(
            f"endpoint_url = {_q(endpoint_url)}"
            if endpoint_url
            else '# endpoint_url = "http://127.0.0.1:9000"   '
            "# any S3-compatible service (MinIO, Ceph); AWS when absent"
        )
        lines += [
            '# region = "eu-west-1"',
            '# profile = "backup"                      # an AWS shared-credentials profile',
            layout or _KEY_TEMPLATE_HINT,
            '# listing = "folders"                     # list snapshot folders, trust manifests: '
            "far fewer requests",
            "# content_md5 = false                     # some S3-compatible stores require "
            "Content-MD5 on DeleteObjects",
        ]
    elif kind == "file":
        lines.append(layout or _KEY_TEMPLATE_HINT)
    elif kind == "restic":
        if restic_password_file:
            lines.append(f"restic_password_file = {_q(restic_password_file)}")
        elif restic_password_env:
            lines.append(
                f"restic_password_env = {_q(restic_password_env)}   # the variable holding it"
            )
        else:
            lines += [
                "# The repository password: a file, or a variable; without either, restic's own",
                "# RESTIC_PASSWORD, RESTIC_PASSWORD_FILE or RESTIC_PASSWORD_COMMAND must be set.",
                '# restic_password_file = "/etc/backupctl/restic.pw"',
                '# restic_password_env = "APP_RESTIC_PASSWORD"',
            ]
        lines.append(
            layout or '# restic_group_by = "host,paths"         # as `restic forget --group-by`'
        )
        lines.append(
            "# restic_lock_wait = 600                 # seconds to wait for a running backup's lock"
        )
        if endpoint_url:
            lines.append(
                f"endpoint_url = {_q(endpoint_url)}   # for an S3 [audit] url; restic's own "
                "endpoint is in its URL"
            )
    return lines


def _audit_block(kind: str, url: str, audit_url: str | None) -> str:
    """``[audit]`` for restic: a repository has no room for backupctl's lock and audit log."""
    if kind != "restic":
        return ""
    if audit_url is None and url.removeprefix("restic:").startswith("s3:"):
        return (
            "\n# backupctl's lock and audit log: in the repository's bucket (_backupctl/ beside "
            "restic's\n# files); to keep them elsewhere:\n"
            '# [audit]\n# url = "s3://bucket/backupctl"\n'
        )
    return (
        "\n# A restic repository has no room for backupctl's lock and audit log: they live here\n"
        '# (an "s3://bucket/prefix" or "file:///path"; docs/restic.md).\n'
        f"[audit]\nurl = {_q(audit_url or DEFAULT_AUDIT_URL)}\n"
    )


def starter_config(
    url: str = "file:///var/backups/backupctl",
    *,
    endpoint_url: str | None = None,
    live_check: str | None = None,
    live_check_timeout: int = 600,
    timezone: str = "Europe/Amsterdam",
    audit_url: str | None = None,
    restic_password_file: str | None = None,
    restic_password_env: str | None = None,
    layout: str | None = None,
    policies: str | None = None,
) -> str:
    """The commented starter config that ``backupctl init`` writes (and the demo uses), with
    only the keys that apply to the URL's kind of store (s3, file or restic).

    Args:
        url: the store URL.
        endpoint_url: an S3-compatible endpoint (s3; restic: for an S3 ``[audit] url``);
            absent = a commented example line for s3, nothing for the others.
        live_check: the drill's live check command; absent = a commented example line.
        live_check_timeout: seconds the drill waits for the live check.
        timezone: the top-level ``timezone`` (an IANA name).
        audit_url: restic: ``[audit] url``; absent = the repository's bucket for
            ``restic:s3:…``, else :data:`DEFAULT_AUDIT_URL`.
        restic_password_file, restic_password_env: restic: how the password is found.
        layout: ``[store]`` lines replacing the key template hint (``key_template`` …, or
            ``restic_group_by`` for restic), e.g. from ``--discover``.
        policies: the ``[[policy]]`` blocks; absent = the SLA's two policies.

    Returns:
        The TOML text (not validated here: ``backupctl init`` validates it before writing).
    """
    kind_row = registry.kind_of(url)
    kind = kind_row.name if kind_row is not None else ""
    live_check_line = (
        f"live_check = {_q(live_check)}"
        if live_check
        else (
            '# live_check = "test -s {dir}/server/etc/hostname"   '
            "# exits 0 once the restored system is usable"
        )
    )
    store = _store_lines(
        kind,
        url,
        endpoint_url=endpoint_url,
        layout=layout,
        restic_password_file=restic_password_file,
        restic_password_env=restic_password_env,
    )
    return "\n".join(
        [
            HEADER.format(timezone=_q(timezone)),
            "\n".join(store) + "\n",
            SAFETY,
            (policies.rstrip() + "\n") if policies else SLA_POLICIES,
            TAIL.format(
                live_check_line=live_check_line,
                live_check_timeout=live_check_timeout,
                audit=_audit_block(kind, url, audit_url),
            ),
        ]
    )


def _default(key: Key) -> str:
    value: Any = key.default
    if value is None:
        return "—"
    if isinstance(value, ZoneInfo):
        return f'`"{value.key}"`'
    if isinstance(value, Duration | str):
        return f'`"{value}"`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, dict):
        inner = ", ".join(f'{k} = "{v}"' for k, v in value.items())
        return f"`{{ {inner} }}`"
    if isinstance(value, tuple | list):
        return "`[" + ", ".join(json.dumps(v) for v in value) + "]`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def reference_markdown() -> str:
    """The README's config reference: one table per section, generated from the schema."""
    out: list[str] = []
    for section, keys in [*SCHEMA.items(), ("[policy]", POLICY_SCHEMA)]:
        title = (
            "top level"
            if section == ""
            else (f"[{section}]" if not section.startswith("[") else "[[policy]]")
        )
        out.append(f"**{title}**\n")
        out.append("| key | default | meaning |")
        out.append("| --- | --- | --- |")
        for name, key in keys.items():
            default = "required" if key.required else _default(key)
            out.append(f"| `{name}` | {default} | {key.help} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def update_readme(text: str) -> str:
    """Replace the block between the config-reference markers with the generated reference.

    Raises:
        ValueError: the markers are missing.
    """
    head, sep, rest = text.partition(START)
    _, sep2, tail = rest.partition(END)
    if not (sep and sep2):
        raise ValueError(f"README has no {START} … {END} block")
    return f"{head}{START}\n{reference_markdown()}{END}{tail}"


if __name__ == "__main__":  # pragma: no cover
    import sys
    from pathlib import Path

    if sys.argv[1:2] == ["--write"]:
        target = Path(sys.argv[2] if len(sys.argv) > 2 else "README.md")
        target.write_text(update_readme(target.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(reference_markdown(), end="")
