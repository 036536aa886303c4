"""The one place that knows what a secret looks like, and how it is masked (``***``).

Used at every edge where backupctl's text leaves the process: the log processor
(:func:`backupctl.log.redact`), the subprocess wrapper (:mod:`backupctl.proc`), the CLI's
error line, proof.json/proof.html, audit records, metrics and drill records.

What is masked (see docs/safety.md, "Credentials"):

* the userinfo of any URL, wherever it appears in a text (``scheme://user:pass@host``,
  also inside restic's ``rest:http://…``, ``s3:https://…``, ``sftp://…``): the password
  becomes ``***`` (``user:***@host``). The user name stays when it looks like a login name
  (lowercase letters, digits, ``_.-``, at most 32 characters, at most 4 digits); otherwise,
  e.g. an access key id or a token, the whole userinfo becomes ``***`` (``***@host``). A
  userinfo without a password (``https://TOKEN@host``) is masked the same way unless it
  looks like a login name (``sftp://backup@host`` stays readable). The userinfo ends at the
  last ``@`` before the host (as in restic and Go's url.Parse), so a password holding ``@``
  or ``:`` is masked whole; one holding ``/``, ``?`` or ``#`` must be percent-encoded, as URL
  syntax requires;
* ``name=value`` and ``name: value`` where the name looks secret (password, secret, token,
  credential, access_key, account_key, authorization, api_key …), and ``Bearer``/``Basic``
  credentials;
* values given explicitly (e.g. the values of secret environment variables a command got).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "SECRET_ENV",
    "SECRET_NAME",
    "env_secrets",
    "is_secret_name",
    "redact_data",
    "redact_text",
    "redact_url",
    "redact_urls",
]

MASK = "***"

# Variables whose values are secrets wherever they appear (env, args, output).
SECRET_ENV = (
    "RESTIC_PASSWORD",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "B2_ACCOUNT_KEY",
    "AZURE_ACCOUNT_KEY",
    "GOOGLE_ACCESS_TOKEN",
    "RCLONE_CONFIG_PASS",
)
# A name (variable, flag, key, field) whose value is a secret.
_SECRET_WORDS = (
    r"secret|password|passwd|token|credential|access_key|account_key|authorization|api_?key"
)
SECRET_NAME = re.compile(rf"({_SECRET_WORDS})", re.I)
# Also for the keys of a log event: a session (token) is never logged either.
_SECRET_FIELD = re.compile(rf"({_SECRET_WORDS}|session)", re.I)

# scheme://USERINFO@ — the authority ends at '/', '?', '#', whitespace or a quote; the greedy
# class backtracks to the authority's last '@', as url.Parse does.
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s'\"<>\\`]*)@"
)
_LOGIN_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\Z")
# Only a secret-looking name matches, so a harmless ``name: value`` never swallows the pair
# after it.
_KEY_VALUE = re.compile(
    rf"(?P<name>(?<![\w.-])[\w.-]*(?:{_SECRET_WORDS})[\w.-]*)(?P<sep>=|\s*:\s*)"
    r"(?P<value>(?:(?:Bearer|Basic)\s+)?[^\s'\"]\S*)",
    re.I,
)
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_MAX_DEPTH = 64


def is_secret_name(name: str, *, field: bool = False) -> bool:
    """Whether a variable, flag or field named ``name`` holds a secret (``field``: a log
    event's key, where ``session`` counts too)."""
    return bool((_SECRET_FIELD if field else SECRET_NAME).search(name))


def _is_login_name(user: str) -> bool:
    return bool(_LOGIN_NAME.match(user)) and sum(c.isdigit() for c in user) <= 4


def _mask_userinfo(match: re.Match[str]) -> str:
    user, has_password, _ = match["userinfo"].partition(":")
    if not match["userinfo"]:
        return match[0]
    if _is_login_name(user):
        return f"{match['scheme']}{user}:{MASK}@" if has_password else match[0]
    return f"{match['scheme']}{MASK}@"


def _mask_pair(match: re.Match[str]) -> str:
    if match["value"].startswith(MASK):
        return match[0]
    return f"{match['name']}{match['sep']}{MASK}"


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret masked: the given values, URL userinfo, secret-looking
    ``name=value`` pairs and Bearer/Basic credentials (see the module's docstring)."""
    for value in sorted({v for v in secrets if v}, key=len, reverse=True):
        text = text.replace(value, MASK)
    text = redact_urls(text)
    if "=" in text or ":" in text:
        text = _KEY_VALUE.sub(_mask_pair, text)
    if "Bearer" in text or "Basic" in text:
        text = _AUTH_SCHEME.sub(rf"\1 {MASK}", text)
    return text


def redact_url(url: str) -> str:
    """A URL as it may be shown: its userinfo masked (the rule of :func:`redact_text`)."""
    return redact_text(url)


def redact_urls(text: str) -> str:
    """``text`` with only the userinfo of every URL in it masked (no ``name=value`` rule): for
    output that carries data, such as snapshot ids, which the other rules could change."""
    return _URL_USERINFO.sub(_mask_userinfo, text) if "@" in text else text


def redact_data(value: Any, *, mask_keys: bool = False, _depth: int = 0) -> Any:
    """A copy of a JSON-like value with :func:`redact_text` applied to every string in it,
    dict keys included, at any depth (tuples become lists). ``mask_keys``: the value of a
    secret-looking key (``password``, ``token`` …) becomes ``***`` whatever it is."""
    if isinstance(value, str):
        return redact_text(value)
    if _depth > _MAX_DEPTH and isinstance(value, (Mapping, list, tuple)):
        return MASK
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            shown = redact_text(key) if isinstance(key, str) else key
            if mask_keys and isinstance(key, str) and is_secret_name(key, field=True):
                out[shown] = MASK
            else:
                out[shown] = redact_data(item, mask_keys=mask_keys, _depth=_depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [redact_data(item, mask_keys=mask_keys, _depth=_depth + 1) for item in value]
    return value


def env_secrets(env_extra: Mapping[str, str] | None = None, *, min_length: int = 3) -> list[str]:
    """Values that must never be shown: secret-named ``env_extra`` entries and the known secret
    variables of the environment, longest first."""
    values = [v for k, v in (env_extra or {}).items() if SECRET_NAME.search(k) or k in SECRET_ENV]
    values += [os.environ[k] for k in SECRET_ENV if os.environ.get(k)]
    return sorted({v for v in values if len(v) >= min_length}, key=len, reverse=True)
