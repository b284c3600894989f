"""Text encoding of an export: UTF-8 (with or without BOM) or GB18030 (a superset of GBK/GB2312),
detected from a bounded window; the CSV and JSON readers decode the rest and name a later byte that
does not fit (:func:`mixed_encoding`)."""

from __future__ import annotations

import codecs
from pathlib import Path

from data_contracts.readers.common import FileProblem, unreadable

ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")
CHUNK_BYTES = 1 << 20
_DETECT_BYTES = 4 << 20  # bytes decoded to pick the encoding (from the first non-ASCII chunk on)


def detect_encoding(path: str | Path, display_name: str | None = None) -> str:
    """``'utf-8-sig'`` (BOM), ``'utf-8'`` or ``'gb18030'`` (a superset of GBK/GB2312).

    Decided from a bounded window, not the whole file: leading pure-ASCII 1 MiB chunks are skipped
    with a cheap ``isascii`` test, then up to :data:`_DETECT_BYTES` from the first chunk holding a
    non-ASCII byte are decoded strictly (an incremental decoder, so a character cut by the window
    end is not an error). The readers decode the rest and raise ``FileProblem('encoding')`` naming
    the line or row if a later byte does not fit the detected encoding.
    """
    name = display_name or str(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                raise FileProblem(name, "encoding", f"{name}: the file is UTF-16 text, which is not supported "
                                                    "(save it as CSV UTF-8)")
            fh.seek(0)
            if head.startswith(codecs.BOM_UTF8):
                candidates = ["utf-8-sig"]
                window = fh.read(_DETECT_BYTES)
            else:
                candidates = ["utf-8", "gb18030"]
                for window in iter(lambda: fh.read(CHUNK_BYTES), b""):
                    if not window.isascii():  # the chunk starts on a character boundary: all before was ASCII
                        break
                else:
                    return "utf-8"  # pure ASCII (or nothing but a BOM-less empty tail)
                window += fh.read(max(0, _DETECT_BYTES - len(window)))
            final = not fh.read(1)
    except OSError as err:
        raise unreadable(name, err) from None
    for encoding in candidates:
        try:
            codecs.getincrementaldecoder(encoding)("strict").decode(window, final=final)
            return encoding
        except UnicodeDecodeError:
            continue
    if candidates == ["utf-8-sig"]:
        raise FileProblem(name, "encoding", f"{name}: the file starts with a UTF-8 byte-order mark "
                                            "but is not valid UTF-8")
    raise FileProblem(name, "encoding", f"{name}: cannot detect the text encoding (tried {', '.join(ENCODINGS)})")


def _encoding_label(encoding: str) -> str:
    return "GB18030" if encoding == "gb18030" else "UTF-8"


def mixed_encoding(name: str, encoding: str, where: str, detail: str = "") -> FileProblem:
    """A byte after the detection window that does not fit the detected encoding."""
    label = _encoding_label(encoding)
    return FileProblem(name, "encoding", f"{name}: {where} is not valid {label} text{detail}, although the start "
                                         f"of the file is {label} (a file mixing encodings? save it in one encoding)")
