"""The fleet file (``FLEET.toml``): which stores a fleet run covers, and each store's config.

A store has its own config file (``config = "a.toml"``) or shares a template config with
per-store variables (``template = "tmpl.toml"`` plus ``[store.vars]``). Placeholders
``${var}`` are replaced in the template's *parsed* string values, never in its TOML text: a
variable's value cannot add a key, close a string or start a table, whatever it contains.
A string that is exactly one placeholder takes the variable's type (``"${sample}"`` with
``sample = 10`` is the integer 10). ``$${`` is a literal ``${``; any other ``$`` is left alone
(shell commands such as ``live_check`` keep their ``$HOME``). ``${name}`` is always the store's
name. The format and its rules are documented in docs/fleet.md.

Problems in the fleet file itself are all reported at once (:class:`FleetFileError`, exit 2) before
any store runs; a problem in one store's config is that store's error only
(:func:`load_store_config`, called by the job that runs the store).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backupctl.config import Config, load_config, parse_config
from backupctl.errors import ConfigError, UsageError

__all__ = [
    "MAX_WORKERS",
    "FleetFileError",
    "FleetSpec",
    "StoreEntry",
    "load_fleet",
    "load_store_config",
    "parse_fleet",
    "render_template",
]

MAX_WORKERS = 256
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([^}]*)(\}?)")
_NAME_HELP = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
_STORE_KEYS = ("name", "config", "template", "vars")
_FLEET_KEYS = ("workers", "template", "vars")
Scalar = str | int | float | bool


class FleetFileError(UsageError):
    """A fleet file with problems; ``problems`` lists every one, a line each (exit 2)."""

    def __init__(self, path: str, problems: list[str]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{path}: {len(problems)} problem(s) in the fleet file, no store was run:\n{lines}"
        )
        self.path = path
        self.problems = problems


@dataclass(frozen=True)
class StoreEntry:
    """One ``[[store]]``: its name and where its config comes from (exactly one of ``config``
    and ``template``; paths are resolved against the fleet file's folder)."""

    name: str
    config: Path | None = None
    template: Path | None = None
    vars: Mapping[str, Scalar] = field(default_factory=dict)
    declared_vars: frozenset[str] = frozenset()  # the store's own [store.vars] keys


@dataclass(frozen=True)
class FleetSpec:
    """A validated fleet file; ``sha256`` is the hash of its bytes (shards of one fleet match)."""

    path: str
    sha256: str
    stores: tuple[StoreEntry, ...]
    workers: int | None = None


def load_fleet(path: str | Path) -> FleetSpec:
    """Read and validate a fleet file.

    Raises:
        FleetFileError: unreadable file, bad TOML, or any problem in it (all listed, one line
            each, naming the key, e.g. ``store[3].name``); exit 2.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise FleetFileError(
            str(p), [f"cannot read the fleet file: {exc.strerror or exc}"]
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise FleetFileError(str(p), [f"not valid TOML: {exc}"]) from None
    return parse_fleet(data, path=str(p), base=p.parent, sha256=hashlib.sha256(raw).hexdigest())


def parse_fleet(
    data: Mapping[str, Any], *, path: str = "<fleet>", base: Path = Path("."), sha256: str = ""
) -> FleetSpec:
    """Validate an already-parsed fleet mapping; see :func:`load_fleet`."""
    problems: list[str] = []
    for key in data:
        if key not in ("fleet", "store"):
            problems.append(f"{key}: unknown key (expected fleet, store)")
    fleet = data.get("fleet", {})
    if not isinstance(fleet, Mapping):
        problems.append(f"fleet: expected a table, got {_shown(fleet)}")
        fleet = {}
    for key in fleet:
        if key not in _FLEET_KEYS:
            problems.append(f"fleet.{key}: unknown key (expected one of: {', '.join(_FLEET_KEYS)})")
    workers = fleet.get("workers")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS
    ):
        problems.append(
            f"fleet.workers: expected an integer from 1 to {MAX_WORKERS}, got {_shown(workers)}"
        )
        workers = None
    default_template = _path(fleet.get("template"), "fleet.template", base, problems)
    defaults = _vars(fleet.get("vars", {}), "fleet.vars", problems)
    raw_stores = data.get("store")
    if not isinstance(raw_stores, list) or not raw_stores:
        problems.append(
            "store: expected one or more [[store]] tables, each with a name and a config "
            "or template, got " + ("nothing" if raw_stores is None else _shown(raw_stores))
        )
        raw_stores = []
    stores: list[StoreEntry] = []
    seen: dict[str, int] = {}
    for i, table in enumerate(raw_stores):
        entry = _store(table, f"store[{i}]", base, default_template, defaults, problems)
        if entry is None:
            continue
        folded = entry.name.casefold()
        if folded in seen:
            problems.append(
                f"store[{i}].name: {entry.name!r} is also the name of store[{seen[folded]}] "
                "(names must be unique, ignoring case: they name proof folders)"
            )
            continue
        seen[folded] = i
        stores.append(entry)
    if problems:
        raise FleetFileError(path, problems)
    return FleetSpec(path=path, sha256=sha256, stores=tuple(stores), workers=workers)


def _store(
    table: Any,
    where: str,
    base: Path,
    default_template: Path | None,
    defaults: Mapping[str, Scalar],
    problems: list[str],
) -> StoreEntry | None:
    if not isinstance(table, Mapping):
        problems.append(f"{where}: expected a table, got {_shown(table)}")
        return None
    before = len(problems)
    for key in table:
        if key not in _STORE_KEYS:
            problems.append(
                f"{where}.{key}: unknown key (expected one of: {', '.join(_STORE_KEYS)})"
            )
    name = table.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        problems.append(
            f"{where}.name: "
            + ("missing" if name is None else f"{_shown(name)} is not a store name")
            + f" (expected {_NAME_HELP})"
        )
    config = _path(table.get("config"), f"{where}.config", base, problems)
    template = _path(table.get("template"), f"{where}.template", base, problems)
    own = _vars(table.get("vars", {}), f"{where}.vars", problems)
    if config is not None and template is not None:
        problems.append(f"{where}: give either config or template, not both")
    if config is not None and "vars" in table:
        problems.append(f"{where}.vars: only a template store has variables (this one has config)")
    if config is None and template is None and "config" not in table and "template" not in table:
        if default_template is None:
            problems.append(
                f'{where}: missing config or template (expected config = "FILE.toml", '
                'or template = "FILE.toml" here or in [fleet])'
            )
        template = default_template
    if len(problems) > before:
        return None
    assert isinstance(name, str)
    return StoreEntry(
        name=name,
        config=config,
        template=template,
        vars={**defaults, **own} if template is not None else {},
        declared_vars=frozenset(own),
    )


def _path(value: Any, where: str, base: Path, problems: list[str]) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        problems.append(f"{where}: expected a file path (a non-empty string), got {_shown(value)}")
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _vars(value: Any, where: str, problems: list[str]) -> dict[str, Scalar]:
    if not isinstance(value, Mapping):
        problems.append(f"{where}: expected a table of variables, got {_shown(value)}")
        return {}
    out: dict[str, Scalar] = {}
    for key, v in value.items():
        if key == "name":
            problems.append(f"{where}.name: reserved (${{name}} is always the store's name)")
        elif not VAR_RE.fullmatch(key):
            problems.append(
                f"{where}.{key}: not a variable name (expected letters, digits and _, "
                "not starting with a digit)"
            )
        elif isinstance(v, (str, int, float, bool)):
            out[key] = v
        else:
            problems.append(f"{where}.{key}: expected a string, number or boolean, got {_shown(v)}")
    return out


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------------- a store's config

_templates: dict[Path, tuple[bytes, dict[str, Any]]] = {}
_templates_lock = threading.Lock()


def _template(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The bytes and parsed TOML of a template, read once per process (stores share it).

    Raises:
        ConfigError: unreadable or not TOML (naming the template).
    """
    with _templates_lock:
        cached = _templates.get(path)
    if cached is not None:
        return cached
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the template: {exc.strerror or exc}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    with _templates_lock:
        _templates[path] = (raw, data)
    return raw, data


def render_template(
    data: Mapping[str, Any], variables: Mapping[str, Scalar]
) -> tuple[dict[str, Any], set[str], list[str]]:
    """Replace the placeholders in every string value of ``data`` (a parsed TOML mapping).

    Returns:
        The new mapping (``data`` is not changed), the variables used, and the problems found
        (one line each, naming the key, e.g. ``store.url: ${bucket} is not defined …``).
    """
    used: set[str] = set()
    problems: list[str] = []

    def string(text: str, where: str) -> Any:
        whole = _PLACEHOLDER.fullmatch(text)
        if whole and whole.group(1) is not None and whole.group(2) and whole.group(1) in variables:
            used.add(whole.group(1))
            return variables[whole.group(1)]  # "${n}" alone keeps the variable's type

        def one(m: re.Match[str]) -> str:
            if m.group(0) == "$${":
                return "${"
            var, closed = m.group(1), m.group(2)
            if not closed:
                problems.append(f"{where}: unclosed placeholder {m.group(0)!r} (expected ${{var}})")
                return m.group(0)
            if var not in variables:
                known = ", ".join(sorted(variables)) or "none"
                problems.append(
                    f"{where}: ${{{var}}} is not defined (the store's variables: {known}; "
                    "write $${ for a literal ${)"
                )
                return m.group(0)
            used.add(var)
            value = variables[var]
            return str(value).lower() if isinstance(value, bool) else str(value)

        return _PLACEHOLDER.sub(one, text)

    def walk(value: Any, where: str) -> Any:
        if isinstance(value, str):
            return string(value, where)
        if isinstance(value, Mapping):
            return {k: walk(v, f"{where}.{k}" if where else k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    return walk(data, ""), used, problems


def load_store_config(entry: StoreEntry) -> Config:
    """The validated config of one store: its own file, or its template rendered with its
    variables (then ``Config.path`` is ``"TEMPLATE (store NAME)"`` and ``Config.sha256`` the
    hash of the template's bytes, a newline, and the variables as sorted compact JSON).

    Raises:
        ConfigError: the file or template is unreadable or invalid, a placeholder names an
            undefined variable, or one of the store's own variables is not used (a typo).
    """
    if entry.config is not None:
        return load_config(entry.config)
    assert entry.template is not None
    raw, data = _template(entry.template)
    variables: dict[str, Scalar] = {**entry.vars, "name": entry.name}
    rendered, used, problems = render_template(data, variables)
    label = f"{entry.template} (store {entry.name})"
    problems += [
        f"vars.{var}: not used by the template {entry.template} (a typo?)"
        for var in sorted(entry.declared_vars - used)
    ]
    if problems:
        raise ConfigError(label, problems)
    canonical = json.dumps(dict(sorted(variables.items())), separators=(",", ":"))
    digest = hashlib.sha256(raw + b"\n" + canonical.encode()).hexdigest()
    return parse_config(rendered, path=label, sha256=digest)
