"""Text input from uploads and files: optional gzip, byte-order mark, any line ending.

The one decoder of the engine's text inputs: uploads and pasted text (:func:`text_lines`),
gzip members decompressed under a size limit (:func:`gunzip_limited`, for uploads that must
not expand past a bound), and files streamed as decoded lines (:func:`open_text`).
"""
from __future__ import annotations

import contextlib
import gzip
import io
import zlib
from typing import Iterator, Optional

from ..errors import InputError

GZIP_MAGIC = b"\x1f\x8b"


def gunzip_limited(raw: bytes, limit: Optional[int], what: str, how_to_fix: str = "") -> bytes:
    """Decompress gzip ``raw`` (concatenated members, as bgzip writes, included).

    limit: most decompressed bytes (None: no limit); above it InputError ``"decompressed
    {what} is more than the limit ..." + how_to_fix``. Corrupt or truncated input is an
    InputError naming ``what``.
    """
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out, total, buf = [], 0, raw
    cap = -1 if limit is None else int(limit)
    try:
        while buf:
            chunk = d.decompress(buf, 0 if cap < 0 else cap + 1 - total)
            out.append(chunk)
            total += len(chunk)
            if cap >= 0 and total > cap:
                raise InputError(f"decompressed {what} is more than the limit of {cap:,} bytes"
                                 + (f": {how_to_fix}" if how_to_fix else ""))
            buf = d.unconsumed_tail
            if d.eof:
                rest = d.unused_data
                if not rest:
                    break
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                buf = rest
        if not d.eof:
            raise zlib.error("truncated")
    except zlib.error:
        raise InputError(f"the gzip-compressed {what} is corrupt or truncated") from None
    return b"".join(out)


def text_lines(data, what: str, strict: bool = False) -> list[str]:
    """``str`` or ``bytes`` (gzip allowed) -> lines, with CRLF/CR line ends and a leading BOM removed.

    what: names the input in messages (e.g. 'VCF'). strict: undecodable UTF-8 raises
    InputError instead of being replaced.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if raw[:2] == GZIP_MAGIC:
            raw = gunzip_limited(raw, None, what)
        try:
            data = raw.decode("utf-8", errors="strict" if strict else "replace")
        except UnicodeDecodeError as e:
            raise InputError(f"the {what} is not text (undecodable byte at offset {e.start})") from None
    if not isinstance(data, str):
        raise InputError(f"{what} input must be text or bytes, got {type(data).__name__}")
    return data.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")


@contextlib.contextmanager
def open_text(path) -> Iterator[io.TextIOBase]:
    """A file (gzip/bgzip or plain, told by its first bytes) as streamed decoded lines.

    UTF-8 (strict: undecodable bytes raise UnicodeDecodeError), BOM removed, any line end.
    Nothing is read whole: a 1.5 GB file is read line by line.
    """
    with open(path, "rb") as fh:
        magic = fh.read(2)
    raw = gzip.open(path, "rb") if magic == GZIP_MAGIC else open(path, "rb")
    with raw, io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline=None) as fh:
        yield fh
