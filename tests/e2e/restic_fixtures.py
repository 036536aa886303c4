"""Helpers that build real restic repositories for tests (a plain module, not a conftest).

restic calibrates its key derivation (scrypt) to ~0.5 s of CPU at ``init`` and pays it again
in every later command. Tests do not need a slow key: :func:`cheapen_key` replaces the
repository's key right after ``init`` with one for the same password and master key but
minimal scrypt parameters (what restic's own test suite does with
``TestUseLowSecurityKDFParameters``), so every restic command after it costs ~0.2 s instead of
~0.7 s. Repositories are still built once per module or session.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.poly1305 import Poly1305

from backupctl.config import Config, parse_config

PASSWORD = "correct horse battery staple"
COMMAND_LIMIT = 60.0  # seconds; every restic call in the fixtures is bounded


@dataclass(frozen=True)
class SnapshotSpec:
    """One ``restic backup`` of the source tree.

    Its host, tags, and a local time in ``tz`` (None = now).
    """

    host: str
    tags: tuple[str, ...] = ()
    time: str | None = None  # "YYYY-MM-DD HH:MM:SS", read by restic in the zone ``tz``
    tz: str = "UTC"


@dataclass
class Repo:
    """A built repository: its restic location, the source tree, and ids by spec index."""

    location: str
    source: Path
    ids: list[str]
    env: dict[str, str]


def restic_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for restic in tests: the test password plus ``extra``."""
    return {**os.environ, "RESTIC_PASSWORD": PASSWORD, **(extra or {})}


def restic(
    location: str, *args: str, env: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run restic directly (tests' own view of the repository, independent of backupctl)."""
    result = subprocess.run(
        ["restic", "--repo", location, *args],
        env=restic_env(env),
        capture_output=True,
        text=True,
        timeout=COMMAND_LIMIT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"restic {' '.join(args)} failed ({result.returncode}): {result.stderr}"
        )
    return result


def make_source(root: Path) -> dict[str, bytes]:
    """A small tree with a 300 KB incompressible file (so there is a data pack worth corrupting)."""
    files = {
        "etc/app.conf": b"listen = 8080\n",
        "data/blob.bin": os.urandom(300_000),
        "data/notes/readme.txt": "héllo wörld\n".encode(),
        "empty.txt": b"",
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def build_repo(
    location: str, source: Path, specs: Sequence[SnapshotSpec], env: Mapping[str, str] | None = None
) -> Repo:
    """``restic init`` then one backup per spec, one after the other (bounded by COMMAND_LIMIT).

    Sequential on purpose: concurrent backups into a fresh repository may each write their own
    copy of the same data, which makes packs and prune results differ from run to run.
    """
    init_repo(location, env)
    ids = []
    for spec in specs:
        args = [
            "restic",
            "--repo",
            location,
            "backup",
            str(source),
            "--host",
            spec.host,
            "--json",
            "--quiet",
        ]
        for tag in spec.tags:
            args += ["--tag", tag]
        if spec.time is not None:
            args += ["--time", spec.time]
        ids.append(
            _snapshot_id(
                subprocess.Popen(
                    args,
                    env=restic_env({**(env or {}), "TZ": spec.tz}),
                    text=True,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                )
            )
        )
    return Repo(location=location, source=source, ids=ids, env=dict(env or {}))


def init_repo(location: str, env: Mapping[str, str] | None = None) -> None:
    """``restic init`` at ``location`` (a path or ``s3:http://…``), then :func:`cheapen_key`."""
    restic(location, "init", env=env)
    cheapen_key(location, restic_env(env)["RESTIC_PASSWORD"])


# scrypt parameters of the replacement key: 128 KiB of memory, about a millisecond
CHEAP_KDF = {"N": 128, "r": 8, "p": 1}


def _kdf(password: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes, bytes]:
    """restic's ``crypto.KDF``: 64 scrypt bytes = AES-256 key, then the MAC key as k || r."""
    out = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=512 * 1024 * 1024, dklen=64
    )
    return out[:32], out[32:48], out[48:]


def _mac(k: bytes, r: bytes, nonce: bytes, ciphertext: bytes) -> bytes:
    """restic's Poly1305-AES: the Poly1305 key is r || AES-128_k(nonce)."""
    aes = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
    return Poly1305.generate_tag(r + aes.update(nonce) + aes.finalize(), ciphertext)


def _ctr(key: bytes, nonce: bytes, data: bytes) -> bytes:
    aes = Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()
    return aes.update(data) + aes.finalize()


class _KeyFolder:
    """The ``keys/`` folder of a local or ``s3:http://[user:secret@]host:port/bucket/prefix``
    repository: list, read, write, delete."""

    def __init__(self, location: str) -> None:
        self.s3: Any = None
        if location.startswith("s3:"):
            from backupctl.stores.s3client import make_s3_client

            url = urlsplit(location[3:])
            self.s3 = make_s3_client(
                endpoint_url=f"{url.scheme}://{url.hostname}:{url.port}", region="us-east-1"
            )
            self.bucket, _, prefix = url.path.lstrip("/").partition("/")
            self.prefix = f"{prefix.strip('/')}/keys/".lstrip("/")
        else:
            self.dir = Path(location) / "keys"

    def names(self) -> list[str]:
        if self.s3 is None:
            return sorted(p.name for p in self.dir.iterdir())
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix)
        return sorted(o["Key"][len(self.prefix) :] for o in listed.get("Contents", ()))

    def read(self, name: str) -> bytes:
        if self.s3 is None:
            return (self.dir / name).read_bytes()
        got = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + name)
        return bytes(got["Body"].read())

    def write(self, name: str, data: bytes) -> None:
        if self.s3 is None:
            (self.dir / name).write_bytes(data)
        else:
            self.s3.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data)

    def delete(self, name: str) -> None:
        if self.s3 is None:
            (self.dir / name).unlink()
        else:
            self.s3.delete_object(Bucket=self.bucket, Key=self.prefix + name)


def cheapen_key(location: str, password: str) -> None:
    """Replace the one key of a fresh repository by an equivalent key with :data:`CHEAP_KDF`.

    The master key is decrypted with the calibrated key (checking its MAC, so a wrong password
    or a format change fails here, loudly) and sealed again as restic does: data = IV ||
    AES-256-CTR(plaintext) || Poly1305-AES(ciphertext). The file is named by its SHA-256, as
    restic names it, and the slow key is deleted so restic never tries it.
    """
    folder = _KeyFolder(location)
    (name,) = folder.names()
    key = json.loads(folder.read(name))
    assert key["kdf"] == "scrypt", key["kdf"]
    sealed = base64.b64decode(key["data"])
    nonce, ciphertext, tag = sealed[:16], sealed[16:-16], sealed[-16:]
    enc, mac_k, mac_r = _kdf(password, base64.b64decode(key["salt"]), key["N"], key["r"], key["p"])
    assert _mac(mac_k, mac_r, nonce, ciphertext) == tag, "restic key: MAC mismatch"
    master = _ctr(enc, nonce, ciphertext)
    salt, nonce = os.urandom(64), os.urandom(16)
    enc, mac_k, mac_r = _kdf(password, salt, CHEAP_KDF["N"], CHEAP_KDF["r"], CHEAP_KDF["p"])
    ciphertext = _ctr(enc, nonce, master)
    key.update(
        CHEAP_KDF,
        salt=base64.b64encode(salt).decode(),
        data=base64.b64encode(nonce + ciphertext + _mac(mac_k, mac_r, nonce, ciphertext)).decode(),
    )
    raw = json.dumps(key).encode()
    folder.write(hashlib.sha256(raw).hexdigest(), raw)
    folder.delete(name)


def _snapshot_id(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=COMMAND_LIMIT)
    if process.returncode != 0:
        raise AssertionError(f"restic backup failed: {err}")
    summary = [line for line in out.splitlines() if '"snapshot_id"' in line][-1]
    short = summary.split('"snapshot_id":"', 1)[1].split('"', 1)[0]
    return short


def full_ids(location: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """short id -> full id, from restic's own listing."""
    listed = json.loads(restic(location, "snapshots", "--json", env=env).stdout)
    return {s["short_id"]: s["id"] for s in listed}


def copy_repo(repo_dir: Path, dest: Path) -> Path:
    """A private copy of a local repository (tests that delete or corrupt use one)."""
    shutil.copytree(repo_dir, dest)
    return dest


def restic_config(url: str, **store: object) -> Config:
    """A minimal validated config for a restic store URL with extra ``[store]`` keys."""
    return parse_config(
        {"store": {"url": url, **store}, "policy": [{"name": "all", "keep_last": 1}]},
        path="test.toml",
    )


def wait_for(predicate: Callable[[], bool], limit: float, what: str) -> None:
    """Poll ``predicate()`` every 50 ms until true; fail after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {limit} s waiting for {what}")
