"""Options several commands share, spelled once: ``--config`` (with ``--no-cache``), the
reference time (``--at``, alias ``--now``), ``--group``, ``--metrics-file``, and loading the
config so that human output uses its timezone and ``--no-cache`` turns the manifest cache off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

import click

from backupctl import clock, humanize
from backupctl.errors import UsageError

if TYPE_CHECKING:
    from backupctl.config import Config

__all__ = [
    "at_option",
    "check_groups",
    "config_option",
    "group_option",
    "load_config",
    "metrics_file_option",
    "no_cache_option",
    "only_groups",
    "reference_time",
    "without_cache",
]

F = TypeVar("F", bound=Callable[..., Any])

AT_HELP = (
    "Reference time: now (default), 2026-11-23, 2026-11-23T10:00 (the config's timezone) "
    "or an ISO time with offset. --now is an alias."
)


CONFIG_HELP = "Config file (default: $BACKUPCTL_CONFIG, else ./backupctl.toml)."


def config_option(help_text: str = CONFIG_HELP) -> Callable[[F], F]:
    """``--config FILE``, passed as ``config_path`` (None: ``$BACKUPCTL_CONFIG``, else
    ``./backupctl.toml``, as :func:`load_config` resolves it), and ``--no-cache``
    (:func:`no_cache_option`): every command that reads a config may read a store."""
    config = click.option(
        "--config", "config_path", type=click.Path(dir_okay=False), default=None, help=help_text
    )
    no_cache = no_cache_option()

    def decorate(func: F) -> F:
        return config(no_cache(func))

    return decorate


NO_CACHE_HELP = (
    "Neither use nor fill the local manifest cache: read every manifest from the store "
    "(also: $BACKUPCTL_NO_CACHE=1, or [cache] enabled = false)."
)
_NO_CACHE = "backupctl.no_cache"  # the click context's meta key --no-cache sets


def no_cache_option() -> Callable[[F], F]:
    """``--no-cache``: the config :func:`load_config` returns has ``[cache] enabled = false``
    (the flag is not passed to the command). Commands that load configs another way call
    :func:`without_cache` on them."""

    def remember(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value:
            ctx.meta[_NO_CACHE] = True

    return click.option(
        "--no-cache", is_flag=True, expose_value=False, callback=remember, help=NO_CACHE_HELP
    )


def no_cache_requested() -> bool:
    """Whether the running command was given ``--no-cache`` (False outside a command)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_NO_CACHE))


def without_cache(config: Config) -> Config:
    """``config`` with the manifest cache off when this command was given ``--no-cache``
    (``config`` itself otherwise, and outside a command)."""
    return config.with_cache_off() if no_cache_requested() else config


def at_option(help_text: str = AT_HELP) -> Callable[[F], F]:
    """``--at TIME`` (alias ``--now``), passed to the command as ``at_text`` (None: now)."""
    return click.option("--at", "--now", "at_text", metavar="TIME", default=None, help=help_text)


def reference_time(at_text: str | None, zone: tzinfo, what: str = "--at") -> datetime:
    """The time ``--at`` names (see :func:`backupctl.clock.parse_at`), or now when absent.

    Raises:
        UsageError: a time that cannot be read.
    """
    return clock.parse_at(at_text, zone, what) if at_text is not None else clock.now()


def group_option(what: str) -> Callable[[F], F]:
    """``--group NAME`` (repeatable), passed as ``groups``: only these groups' ``what``."""
    return click.option(
        "--group",
        "groups",
        multiple=True,
        metavar="NAME",
        help=f"Only this group's {what} (repeatable; default: every configured group).",
    )


def check_groups(groups: Sequence[str], known: Iterable[str], what: str = "--group") -> set[str]:
    """The ``--group`` names as a set (empty: all), each checked against the configured groups.

    Raises:
        UsageError: a name no policy has, listing the configured ones.
    """
    names = set(known)
    unknown = [g for g in groups if g not in names]
    if unknown:
        raise UsageError(
            f"{what} {unknown[0]!r}: no policy has this group; "
            f"expected one of {', '.join(sorted(names)) or '(none configured)'}"
        )
    return set(groups)


def metrics_file_option() -> Callable[[F], F]:
    """``--metrics-file F``: Prometheus textfile (node_exporter's textfile collector)."""
    return click.option(
        "--metrics-file",
        type=click.Path(dir_okay=False),
        default=None,
        help="Write Prometheus metrics here (node_exporter textfile collector), atomically.",
    )


def load_config(path: str | None) -> Config:
    """:func:`backupctl.config.load_cli_config`, then human output in the config's timezone;
    with ``--no-cache``, the manifest cache off (:func:`without_cache`).

    Raises:
        ConfigError: missing or bad config.
    """
    from backupctl.config import load_cli_config

    config = without_cache(load_cli_config(path))
    humanize.use_zone(config.timezone)
    return config


def only_groups(config: Config, groups: Sequence[str]) -> Config:
    """``config`` with only the policies of ``groups`` (all when empty): the other groups'
    snapshots are then neither planned, pruned, verified nor drilled. Open the store with the
    whole config (its layout knows every group), plan and check with this one.

    Raises:
        UsageError: a group no policy has.
    """
    if not groups:
        return config
    import dataclasses

    wanted = check_groups(groups, (p.group for p in config.policies))
    return dataclasses.replace(
        config, policies=tuple(p for p in config.policies if p.group in wanted)
    )
