"""Ed25519 keys and signatures for the audit log and proofs (docs/audit-and-lock.md, "Signing").

* Key files: the private key is PEM PKCS#8 (``-----BEGIN PRIVATE KEY-----``, unencrypted), the
  public key PEM SubjectPublicKeyInfo (``-----BEGIN PUBLIC KEY-----``), as ``openssl genpkey
  -algorithm ed25519`` writes them. OpenSSH keys (``ssh-keygen -t ed25519``) are read too.
* ``key_id``: the SHA-256 (hex) of the 32 raw public key bytes, so anyone holding the .pub can
  compute it (``openssl pkey -pubin -in audit.pub -outform DER | tail -c 32 | sha256sum``).
* An audit record's ``sig`` is the hex Ed25519 signature of the record's canonical bytes
  without ``sig`` and ``sha256`` (so it covers ``seq``, ``prev``, ``key_id``, the data …); the
  record's ``sha256`` then covers the signature, as before.
* A proof's signature is ``proof.json.sig`` beside it: JSON ``{"algorithm": "ed25519",
  "key_id", "signature"}`` (hex) over proof.json's exact bytes.

Key files are local input, read bounded (:data:`MAX_KEY_BYTES`), never a FIFO or device; a bad
one is a :class:`KeyFileError` (exit 2) naming the file and what was expected.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from backupctl.errors import UsageError

__all__ = [
    "MAX_KEY_BYTES",
    "KeyFileError",
    "Signer",
    "Verifier",
    "generate",
    "key_id_of",
    "load_public_key",
    "load_signer",
    "public_hex",
    "public_key_from_hex",
    "public_pem",
]

MAX_KEY_BYTES = 16 * 1024  # an Ed25519 key file is ~120 bytes (PEM) to ~420 (OpenSSH)
_SIG_BYTES = 64


class KeyFileError(UsageError):
    """A key file that cannot be used: missing, too large, not a key, not Ed25519 (exit 2)."""


def key_id_of(public: Ed25519PublicKey) -> str:
    """The key's id: SHA-256 hex of its 32 raw bytes."""
    return hashlib.sha256(_raw(public)).hexdigest()


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_hex(public: Ed25519PublicKey) -> str:
    """The 32 raw public key bytes as hex (how a ``key.rotate`` record carries the new key)."""
    return _raw(public).hex()


def public_key_from_hex(text: Any) -> Ed25519PublicKey | None:
    """The public key of 64 hex digits (from an untrusted record), or None when it is not one."""
    if not isinstance(text, str) or len(text) != 64:
        return None
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except ValueError:
        return None


def public_pem(public: Ed25519PublicKey) -> bytes:
    """The public key as PEM SubjectPublicKeyInfo (the .pub file's bytes)."""
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class Verifier:
    """A public key and its id: checks signatures."""

    public: Ed25519PublicKey
    key_id: str

    @classmethod
    def of(cls, public: Ed25519PublicKey) -> Verifier:
        """The verifier of ``public``."""
        return cls(public, key_id_of(public))

    def verify(self, signature_hex: Any, data: bytes) -> bool:
        """Whether ``signature_hex`` (hex, untrusted) is this key's signature of ``data``."""
        if not isinstance(signature_hex, str) or len(signature_hex) != 2 * _SIG_BYTES:
            return False
        try:
            self.public.verify(bytes.fromhex(signature_hex), data)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key and its id: signs audit records and proofs."""

    private: Ed25519PrivateKey
    key_id: str

    @classmethod
    def of(cls, private: Ed25519PrivateKey) -> Signer:
        """The signer of ``private``."""
        return cls(private, key_id_of(private.public_key()))

    def sign(self, data: bytes) -> str:
        """The hex Ed25519 signature of ``data``."""
        return self.private.sign(data).hex()

    @property
    def verifier(self) -> Verifier:
        """The verifier of this key's public half."""
        return Verifier.of(self.private.public_key())


def generate() -> tuple[bytes, bytes]:
    """A fresh key pair: (private PEM PKCS#8, public PEM SubjectPublicKeyInfo)."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, public_pem(private.public_key())


def _read_key_file(path: str | Path, what: str) -> bytes:
    """The bytes of a key file: a regular file (a symlink to one is fine: secret mounts are
    symlinks), at most :data:`MAX_KEY_BYTES`. Opened non-blocking so a FIFO never hangs.

    Raises:
        KeyFileError: missing, unreadable, not a regular file, too large.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise KeyFileError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"{what} {path}: not a regular file (expected a key file)")
        if info.st_size > MAX_KEY_BYTES:
            raise KeyFileError(
                f"{what} {path}: {info.st_size} bytes, more than the {MAX_KEY_BYTES} a key "
                "file may have (expected an Ed25519 key from `backupctl keygen`)"
            )
        data = os.read(fd, MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise KeyFileError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_BYTES:
        raise KeyFileError(f"{what} {path}: more than {MAX_KEY_BYTES} bytes")
    return data


def load_signer(path: str | Path, what: str = "[audit] signing_key_file") -> Signer:
    """The private key at ``path`` (PEM PKCS#8 or OpenSSH, unencrypted Ed25519).

    The file must not be readable by group or others (as ssh insists): a signing key anyone
    on the host can read signs nothing an auditor can trust.

    Raises:
        KeyFileError: unreadable, too large, too open, not an unencrypted Ed25519 private key.
    """
    data = _read_key_file(path, what)
    mode = os.stat(path).st_mode
    if mode & 0o077:
        raise KeyFileError(
            f"{what} {path}: mode {stat.S_IMODE(mode):04o} lets others read the private key "
            f"(expected 0600: chmod 600 {path})"
        )
    expected = "expected an unencrypted Ed25519 private key (PEM PKCS#8 from `backupctl keygen`)"
    try:
        if data.lstrip().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
            key: Any = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(f"{what} {path}: the key is encrypted ({expected})") from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(f"{what} {path}: not a private key ({expected})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{what} {path}: a {type(key).__name__} ({expected})")
    return Signer.of(key)


def load_public_key(path: str | Path, what: str = "--pubkey") -> Verifier:
    """The public key at ``path`` (PEM SubjectPublicKeyInfo or an OpenSSH ``ssh-ed25519`` line).

    Raises:
        KeyFileError: unreadable, too large, not an Ed25519 public key (a private key is
            refused too: an auditor never needs one).
    """
    data = _read_key_file(path, what)
    expected = "expected an Ed25519 public key (the .pub file `backupctl keygen` wrote)"
    if b"PRIVATE KEY" in data:
        raise KeyFileError(
            f"{what} {path}: this is a private key; give the public key ({path}.pub?)"
        )
    try:
        if data.lstrip().startswith(b"ssh-"):
            key: Any = serialization.load_ssh_public_key(data.strip())
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(f"{what} {path}: not a public key ({expected})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{what} {path}: a {type(key).__name__} ({expected})")
    return Verifier.of(key)
