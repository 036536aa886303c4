"""Documentation generated from the config schema: the starter config and the README reference.

Both come from :data:`backupctl.config.SCHEMA`, so a key added there shows up here, and a
test fails when README.md's reference falls behind.
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from backupctl.config import POLICY_SCHEMA, SCHEMA, Key
from retention import Duration

STARTER = """\
# backupctl configuration — written by `backupctl init`.
# Every key is documented in README.md ("Config reference"); `backupctl plan` shows what
# this config would do without changing anything.

# Timezone for schedules, calendar buckets (day, ISO week, month) and working hours.
timezone = "Europe/Amsterdam"

[store]
# Where the backups live: "s3://bucket/prefix", "file:///var/backups" or "restic:<repository>".
url = "{url}"
{endpoint_line}
# region = "eu-west-1"
# key_template = "{{group}}/{{time}}/"      # layout of one snapshot folder under the prefix
# content_md5 = false                       # some S3-compatible stores require Content-MD5 \
on DeleteObjects

[safety]
max_delete_fraction = 0.5   # refuse a run that would delete more than half of a group
stale_after = "2d"          # refuse when a group's newest backup is older: backups have stopped
clock_skew = "1h"           # refuse snapshots dated further in the future than this
lock_ttl = "6h"             # a prune lock older than this is reported as stale

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

# Tell a monitor or a person how prune, verify and drill went (docs/notifications.md).
# [notify]
# ping_url = "https://hc-ping.com/YOUR-PING-KEY/backupctl-{{command}}"  # /start, then ok or /fail
# webhook_url = "https://hooks.example.com/backupctl"                 # a JSON POST per event
"""


def starter_config(
    url: str = "file:///var/backups/backupctl",
    *,
    endpoint_url: str | None = None,
    live_check: str | None = None,
    live_check_timeout: int = 600,
) -> str:
    """The commented starter config that ``backupctl init`` writes (and the demo uses).

    Args:
        url: the store URL.
        endpoint_url: an S3-compatible endpoint; absent = a commented example line.
        live_check: the drill's live check command; absent = a commented example line.
        live_check_timeout: seconds the drill waits for the live check.
    """
    endpoint_line = (
        f'endpoint_url = "{endpoint_url}"'
        if endpoint_url
        else (
            '# endpoint_url = "http://127.0.0.1:9000"   '
            "# any S3-compatible service (MinIO, Ceph); AWS when absent"
        )
    )
    live_check_line = (
        f"live_check = {json.dumps(live_check)}"
        if live_check
        else (
            '# live_check = "test -s {dir}/server/etc/hostname"   '
            "# exits 0 once the restored system is usable"
        )
    )
    return STARTER.format(
        url=url,
        endpoint_line=endpoint_line,
        live_check_line=live_check_line,
        live_check_timeout=live_check_timeout,
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
