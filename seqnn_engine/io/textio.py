"""Text input from uploads and files: optional gzip, byte-order mark, any line ending."""
from __future__ import annotations

import gzip

from ..errors import InputError


def text_lines(data, what: str, strict: bool = False) -> list[str]:
    """``str`` or ``bytes`` (gzip allowed) -> lines, with CRLF/CR line ends and a leading BOM removed.

    what: names the input in messages (e.g. 'VCF'). strict: undecodable UTF-8 raises
    InputError instead of being replaced.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, ValueError):
                raise InputError(f"the gzip-compressed {what} is corrupt or truncated") from None
        try:
            data = raw.decode("utf-8", errors="strict" if strict else "replace")
        except UnicodeDecodeError as e:
            raise InputError(f"the {what} is not text (undecodable byte at offset {e.start})") from None
    if not isinstance(data, str):
        raise InputError(f"{what} input must be text or bytes, got {type(data).__name__}")
    return data.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
