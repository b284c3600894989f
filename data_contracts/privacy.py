"""Personal data (SPEC "Access and privacy"): nothing published carries a raw phone or e-mail.

* Contact columns (contract attribute ``pii: phone|email``) are replaced at ingest by
  ``<col>_masked`` (``138****5678``, ``z***@example.com``) and ``<col>_hash``, an HMAC-SHA256 of the
  normalised value under a secret key (:func:`hash_key`), so the raw layer never holds them raw and
  a masked number's 10,000 completions cannot be tested against the hash without the key.
* Every other free-text value is :func:`scrub`-bed: phones and e-mails inside it are masked.

Normalisation before matching and hashing: NFKC (full-width digits and ``＠``), separators
(spaces, ``-``, ``.``, ``/``, parentheses) removed, country code (``+86``, ``0086``, ``86``) dropped,
e-mails lower-cased; so ``+86 135-8813-8999`` and ``13588138999`` mask and hash alike.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
import unicodedata
from pathlib import Path

import polars as pl

KEY_ENV = "CRM_PULSE_HASH_KEY"  # the key itself (>= 32 characters); wins over the key file
KEY_FILE_ENV = "CRM_PULSE_HASH_KEY_FILE"  # path of the key file; default: default_key_file()
MIN_KEY_CHARS = 32
#: changes whenever masking/scrubbing rules change, so earlier raw loads are re-ingested.
RULES_VERSION = "privacy-2"
PII_KINDS = ("phone", "email")


class HashKeyError(ValueError):
    """The hash key is missing, too short, or its file is unsafe/unreadable."""


# --- the key ------------------------------------------------------------------------------------

def default_key_file(environ=None) -> Path:
    """``$XDG_CONFIG_HOME/crm-pulse/hash.key`` (``~/.config/crm-pulse/hash.key``): outside the warehouse."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "crm-pulse" / "hash.key"


def key_file(environ=None) -> Path:
    """The configured key file: ``CRM_PULSE_HASH_KEY_FILE`` or :func:`default_key_file`."""
    env = os.environ if environ is None else environ
    value = (env.get(KEY_FILE_ENV) or "").strip()
    return Path(value).expanduser() if value else default_key_file(env)


def hash_key(path: Path | None = None, environ=None) -> bytes:
    """The secret HMAC key: ``CRM_PULSE_HASH_KEY`` if set, else the key file (``path`` or
    :func:`key_file`), created on first use with 32 random bytes, mode 0600, and reused after."""
    env = os.environ if environ is None else environ
    value = env.get(KEY_ENV)
    if value:
        if len(value.strip()) < MIN_KEY_CHARS:
            raise HashKeyError(f"{KEY_ENV} must be at least {MIN_KEY_CHARS} characters long")
        return value.strip().encode("utf-8")
    path = Path(path) if path is not None else key_file(env)
    if not path.exists():
        _create_key_file(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise HashKeyError(f"hash key file {path}: cannot read it ({err.strerror or err})") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise HashKeyError(f"hash key file {path} is accessible by other users (mode {stat.S_IMODE(mode):o}): "
                           f"run chmod 600 {path}")
    if len(text) < MIN_KEY_CHARS:
        raise HashKeyError(f"hash key file {path} holds fewer than {MIN_KEY_CHARS} characters")
    return text.encode("utf-8")


def _create_key_file(path: Path) -> None:
    """Write a new random key atomically (a concurrent first run keeps whichever key won)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)  # fails if another process created the key meanwhile: keep that one
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as err:
        raise HashKeyError(f"hash key file {path}: cannot create it ({err.strerror or err}); "
                           f"set {KEY_FILE_ENV} to a writable path or {KEY_ENV}") from None


def key_id(key: bytes) -> str:
    """A short public fingerprint of the key (says which key hashed a load, reveals nothing of it)."""
    return hmac.new(key, b"crm-pulse key id", hashlib.sha256).hexdigest()[:12]


# --- normalising, masking, hashing -------------------------------------------------------------

_NOT_DIGIT = re.compile(r"\D")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0[1-9]\d{8,10}")  # 0 + area code (2-3 digits) + 7-8 digit number


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", str(text)).strip()


def normalise_phone(value: str) -> str:
    """National digits of a phone number (``+86 (135) 8813-8999`` -> ``13588138999``); text without
    digits is returned NFKC-folded and lower-cased."""
    text = _nfkc(value)
    digits = _NOT_DIGIT.sub("", text)
    if not digits:
        return text.lower()
    international = text.startswith("+") or digits.startswith("00")
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and (international or _MOBILE.fullmatch(digits[2:])):
        digits = digits[2:]
    if international and not _MOBILE.fullmatch(digits) and not digits.startswith("0"):
        digits = "0" + digits  # +86 10 6552 1234: the trunk 0 is dropped in international form
    return digits


def is_phone(national: str) -> bool:
    """True for a mainland mobile number or a landline with its area code (national digits)."""
    return bool(_MOBILE.fullmatch(national) or _LANDLINE.fullmatch(national))


def normalise_email(value: str) -> str:
    return _nfkc(value).lower()


def mask_phone(value: str) -> str:
    """First 3 and last 4 digits of a recognised number (``138****5678``); else at most the last 4
    digits of 8 or more, otherwise nothing."""
    national = normalise_phone(value)
    if is_phone(national):
        return f"{national[:3]}****{national[-4:]}"
    digits = _NOT_DIGIT.sub("", national)
    return f"****{digits[-4:]}" if len(digits) >= 8 else "****"


def mask_email(value: str) -> str:
    """First character of the local part and the domain (``z***@example.com``)."""
    local, at, domain = normalise_email(value).partition("@")
    return f"{local[:1]}***@{domain}" if at and local and domain else "****"


def mask_value(value: str | None, kind: str | None = None) -> str | None:
    """Mask a phone number (``kind='phone'``) or e-mail address (``'email'``; guessed from ``@``
    when ``kind`` is None) for display."""
    if value is None:
        return None
    if (kind or ("email" if "@" in _nfkc(value) else "phone")) == "email":
        return mask_email(value)
    return mask_phone(value)


def contact_hash(value: str | None, kind: str, key: bytes) -> str | None:
    """HMAC-SHA256 (hex) of the normalised phone/e-mail under ``key``: matches the same contact
    across exports, cannot be recomputed without the key."""
    if value is None or not _nfkc(value):
        return None
    normal = normalise_email(value) if kind == "email" else normalise_phone(value)
    return hmac.new(key, normal.encode("utf-8"), hashlib.sha256).hexdigest()


# --- free text --------------------------------------------------------------------------------

_LOCAL = r"[0-9A-Za-z._%+\-\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff0e\uff3f\uff0d]"
_DOMAIN = r"[0-9A-Za-z\-\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff0d]"
_EMAIL = re.compile(rf"{_LOCAL}+[@\uff20]{_DOMAIN}+(?:[.\uff0e]{_DOMAIN}+)+")
_SEP = r"[ \t\u00a0\u3000\-.\u2010-\u2015\uff0d\uff0e/\uff0f()\uff08\uff09]"
#: runs of digits joined by single separators, optionally led by + / ( ; split into numbers later.
_PHONE_RUN = re.compile(rf"(?<!\d)[+\uff0b(\uff08]?\d+(?:{_SEP}{{1,3}}\d+)*(?!\d)")
_DIGITS = re.compile(r"\d+")
MAX_GROUPS = 6  # a phone number is written in at most this many digit groups (+86 010 6552 1234)
#: cheap vectorised pre-filter (polars): values that could hold a contact at all.
_CANDIDATE = r"[@\uff20]|\d[^\p{L}]{5,}\d"


def _mask_run(run: str) -> str:
    """Mask every phone number inside one digit run, trying the longest spans of its digit groups."""
    groups = [(m.start(), m.end()) for m in _DIGITS.finditer(run)]
    if sum(e - s for s, e in groups) < 7:
        return run
    out, pos, i = [], 0, 0
    while i < len(groups):
        for j in range(min(len(groups) - 1, i + MAX_GROUPS - 1), i - 1, -1):
            start = 0 if i == 0 else groups[i][0]  # the first span keeps its leading + / (
            span = run[start:groups[j][1]]
            if is_phone(normalise_phone(span)):
                out += [run[pos:start], mask_phone(span)]
                pos, i = groups[j][1], j + 1
                break
        else:
            i += 1
    return "".join(out) + run[pos:]


def scrub(text: str | None) -> str | None:
    """Mask anything that looks like an e-mail address or a phone number (any width, separators or
    country code) inside free text, leaving dates, amounts and ids alone."""
    if text is None:
        return None
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), str(text))
    return _PHONE_RUN.sub(lambda m: _mask_run(m.group(0)), text)


def scrub_series(series: pl.Series) -> pl.Series:
    """:func:`scrub` over a string column, calling Python only for values that could hold a contact."""
    hit = series.str.contains(_CANDIDATE).fill_null(False)
    if not hit.any():
        return series
    index = hit.arg_true()
    return series.clone().scatter(index, [scrub(v) for v in series.gather(index).to_list()])


def protect(frame: pl.DataFrame, contract, key: bytes | None) -> pl.DataFrame:
    """Replace the contract's pii columns by ``<col>_masked`` / ``<col>_hash`` and scrub every other
    free-text column (not identifiers: key columns and ``*_id``, which joins need verbatim)."""
    identifiers = set(contract.strict_columns)  # key and *_id columns (and typed ones)
    scrubbed = [scrub_series(frame[c.name]) for c in contract.columns
                if c.type == "str" and not c.pii and c.name not in identifiers]
    frame = frame.with_columns(scrubbed) if scrubbed else frame
    for col in (c for c in contract.columns if c.pii):
        if key is None:
            raise HashKeyError(f"{contract.entity}: a hash key is needed for pii column {col.name}")
        values = frame[col.name].to_list()
        frame = frame.with_columns(
            pl.Series(f"{col.name}_masked", [mask_value(v, col.pii) for v in values], dtype=pl.Utf8),
            pl.Series(f"{col.name}_hash", [contact_hash(v, col.pii, key) for v in values], dtype=pl.Utf8),
        ).drop(col.name)
    return frame


def check_key_settings(environ=None) -> None:
    """Raise ``HashKeyError`` naming the variable when the key settings cannot work (a too short
    ``CRM_PULSE_HASH_KEY``; a key file that is unreadable, too short or readable by others). A key
    file not yet there is fine: the first run creates it."""
    env = os.environ if environ is None else environ
    path = key_file(env)
    if env.get(KEY_ENV) or path.exists():
        try:
            hash_key(path, env)
        except HashKeyError as err:
            name = KEY_ENV if env.get(KEY_ENV) else KEY_FILE_ENV
            raise HashKeyError(f"{name}: {err}") from None
