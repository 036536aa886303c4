"""Config validation: every problem at once, naming file and key; good configs load."""

from __future__ import annotations

from pathlib import Path

import pytest

from backupctl.config import load_config, parse_config
from backupctl.errors import ConfigError
from retention import SLA_APP, Duration

GOOD = """
timezone = "Europe/Amsterdam"
[store]
url = "s3://backups/salure"
endpoint_url = "http://127.0.0.1:9000"
[safety]
max_delete_fraction = 0.5
stale_after = "2d"
[[policy]]
name = "app"
group = "app"
schedule = "0 0,6,12,18 * * *"
keep_within = "2m"
[[policy]]
name = "server"
preset = "sla-server"
schedule = "0 2 * * *"
"""


def test_design_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(GOOD)
    config = load_config(path)
    assert config.timezone.key == "Europe/Amsterdam"
    assert config.policies[0].policy == SLA_APP
    assert config.policies[1].group == "server"
    assert config.policies[1].policy.keep_within_weekly == Duration(weeks=4)
    assert config.safety.stale_after == Duration(days=2)
    assert len(config.sha256) == 64


def test_all_problems_reported_at_once() -> None:
    bad = {
        "timezone": "Mars/Olympus",
        "store": {"url": "ftp://x", "bogus": 1},
        "safety": {"max_delete_fraction": 2, "stale_after": "2x"},
        "policy": [{"name": "a", "keep_within": "2x", "schedule": "nope"}, {"group": "b"}],
        "extra": 1,
    }
    with pytest.raises(ConfigError) as info:
        parse_config(bad, path="c.toml")
    text = str(info.value)
    for fragment in (
        "timezone",
        "store.url",
        "store.bogus",
        "safety.max_delete_fraction",
        "safety.stale_after",
        "policy[0] (a).keep_within",
        "policy[0] (a).schedule",
        "policy[1] (?).name",
        "extra",
    ):
        assert fragment in text
    assert text.startswith("c.toml: ")
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"policy": [{"name": "a", "keep_last": 1}]}, "[store]: missing"),
        ({"store": {"url": "file:///x"}, "policy": []}, "no policy given"),
        ({"store": {"url": "file:///x"}, "policy": [{"name": "a"}]}, "empty policy is refused"),
        ({"store": {"url": "file:///x"}, "policy": [{"name": "a", "keep_last": -2}]}, "keep_last"),
        (
            {
                "store": {"url": "file:///x"},
                "policy": [
                    {"name": "a", "keep_last": 1},
                    {"name": "b", "group": "a", "keep_last": 1},
                ],
            },
            "already governed",
        ),
        (
            {"store": {"url": "file:///x"}, "policy": [{"name": "a", "preset": "nope"}]},
            "unknown preset",
        ),
    ],
)
def test_specific_problems(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert fragment in str(info.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[store\nurl=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_commands_share_one_default_config_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backupctl.config import load_cli_config, resolve_config_path

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BACKUPCTL_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="backupctl init"):
        resolve_config_path(None)
    (tmp_path / "backupctl.toml").write_text(GOOD)
    assert resolve_config_path(None) == Path("backupctl.toml")
    other = tmp_path / "other.toml"
    other.write_text(GOOD.replace("s3://backups/salure", "file:///srv/b"))
    monkeypatch.setenv("BACKUPCTL_CONFIG", str(other))
    assert load_cli_config(None).store.url == "file:///srv/b"
    assert load_cli_config(str(tmp_path / "backupctl.toml")).store.url == "s3://backups/salure"


def test_plan_without_flags_plans_the_default_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from backupctl.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BACKUPCTL_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["plan"])
    assert result.exit_code == 2
    assert "backupctl.toml" in result.output and "backupctl init" in result.output
    (tmp_path / "store").mkdir()
    (tmp_path / "backupctl.toml").write_text(
        GOOD.replace("s3://backups/salure", f"file://{tmp_path}/store")
    )
    result = CliRunner().invoke(main, ["plan", "--json"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "line",
    [
        "keep_daily = 2147483648",
        "keep_last = 1000001",
        "keep_hourly = -2",
        'keep_within = "10000y"',
        'keep_within = "1y1d1m"',
        'schedule = "0 0 30 2 *"',
        'schedule = "* * * * * * *"',
        'schedule = "1-0 * * * *"',
    ],
)
def test_out_of_bounds_policy_values_are_refused(line: str) -> None:
    key = line.split(" = ")[0]
    with pytest.raises(ConfigError) as info:
        parse_config(
            {
                "store": {"url": "file:///x"},
                "policy": [{"name": "app", "keep_last": 3, **_toml_line(line)}],
            }
        )
    problems = [p for p in info.value.problems if f".{key}:" in p]
    assert len(problems) == 1 and "expected" in problems[0] and "\n" not in problems[0]


def test_the_largest_count_and_duration_load() -> None:
    config = parse_config(
        {
            "store": {"url": "file:///x"},
            "safety": {"stale_after": "1000y"},
            "policy": [
                {
                    "name": "app",
                    "keep_daily": 1_000_000,
                    "keep_within": "1000y",
                    "schedule": "@daily",
                }
            ],
        }
    )
    assert config.policies[0].policy.keep_daily == 1_000_000


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("working_day_hours", float("nan")),
        ("working_day_hours", 25),
        ("live_check_timeout", float("inf")),
        ("target", "99999999999 working days"),
    ],
)
def test_non_finite_and_absurd_drill_values_are_refused(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"drill.{key}: expected"):
        parse_config(
            {
                "store": {"url": "file:///x"},
                "drill": {key: value},
                "policy": [{"name": "app", "keep_last": 3}],
            }
        )


def _toml_line(line: str) -> dict[str, object]:
    import tomllib

    return tomllib.loads(line)


@pytest.mark.parametrize(
    ("store", "fragment"),
    [
        ({"endpoint_url": "foo"}, "store.endpoint_url: expected an http:// or https:// URL"),
        ({"endpoint_url": "ftp://h"}, "store.endpoint_url: expected an http:// or https:// URL"),
        ({"endpoint_url": "http://h:99999"}, "store.endpoint_url: expected an http"),
        ({"endpoint_url": 9000}, "store.endpoint_url: expected an http"),
        ({"url": "s3://b d/p"}, "store.url: expected a bucket name of letters, digits"),
        ({"url": "s3://AKIA:hunter2@bk/p"}, "store.url: expected s3://bucket/prefix without cred"),
        ({"inventory": "https://x/y"}, "store.inventory: expected an s3://bucket/prefix URL"),
    ],
)
def test_store_urls_are_checked_before_botocore_sees_them(
    store: dict[str, object], fragment: str
) -> None:
    data = {"store": {"url": "s3://b/p", **store}, "policy": [{"name": "a", "keep_last": 1}]}
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert fragment in str(err.value)
    assert "hunter2" not in str(err.value)  # a secret in a bad URL is never echoed


def test_an_endpoint_with_credentials_loads_and_is_shown_masked() -> None:
    data = {
        "store": {"url": "s3://b/p", "endpoint_url": "http://k:pw@h:99999"},
        "policy": [{"name": "a", "keep_last": 1}],
    }
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert "pw" not in str(err.value).replace("expected", "")
    data["store"] = {"url": "s3://b/p", "endpoint_url": "http://k:pw@127.0.0.1:9000"}
    assert parse_config(data).store.endpoint_url == "http://k:pw@127.0.0.1:9000"


@pytest.mark.parametrize("size", ["256MiB", "1 GB", 4096, "10kb"])
def test_cache_max_size_takes_bytes_or_a_unit(size: object) -> None:
    data = {
        "store": {"url": "s3://b/p"},
        "cache": {"max_size": size},
        "policy": [{"name": "a", "keep_last": 1}],
    }
    assert parse_config(data).cache.max_size in (256 * 2**20, 10**9, 4096, 10_000)


@pytest.mark.parametrize("size", ["", "lots", "-5MB", 0, True, "1 furlong"])
def test_a_bad_cache_max_size_is_named(size: object) -> None:
    data = {
        "store": {"url": "s3://b/p"},
        "cache": {"max_size": size},
        "policy": [{"name": "a", "keep_last": 1}],
    }
    with pytest.raises(ConfigError, match=r"cache\.max_size: expected a size"):
        parse_config(data)


@pytest.mark.parametrize(
    ("store", "fragment"),
    [
        ({"url": "file:///srv/b", "inventory": "s3://inv/x/"}, "needs an s3:// store.url"),
        ({"listing": "folders", "inventory": "s3://inv/x/"}, "'folders' cannot go with it"),
        ({"inventory": "s3://inv/x/", "inventory_max_age": "soon"}, "store.inventory_max_age:"),
    ],
)
def test_an_inventory_store_is_checked_when_the_config_loads(
    store: dict[str, object], fragment: str
) -> None:
    data = {"store": {"url": "s3://b/p", **store}, "policy": [{"name": "a", "keep_last": 1}]}
    with pytest.raises(ConfigError, match=fragment):
        parse_config(data)
    ok = {"url": "s3://b/p", "inventory": "s3://inv/x/", "inventory_max_age": "8d"}
    assert parse_config({**data, "store": ok}).store.inventory_max_age.days == 8
