"""Turn the bytes of a text file into clean text: encoding detection and normalization.

Detection order: a byte order mark (UTF-8, UTF-16 LE/BE), then UTF-8, then UTF-16 without a
BOM when the zero bytes say so, then an encoding the file declares (HTML ``<meta charset>``),
then Windows-1252 / Latin-1 for mostly-ASCII text (Western European files), then a guess by
charset-normalizer (Shift-JIS, GB18030, EUC-KR, Windows-1251, …) accepted when the decoded text
shows little noise (`MAX_GUESS_CHAOS`). Binary data (NUL bytes, many control characters) and a
guess below that confidence are rejected with the reason. The encoding used is returned, and
the loaders record it in the document's metadata when it is not UTF-8.
"""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata

from rag_app.ingest.document import LoadError

log = logging.getLogger(__name__)

NOT_TEXT = "not valid text in any supported encoding"
UNSURE = NOT_TEXT + " (the closest guess, {encoding}, leaves {chaos:.0f}% of it garbled)"
# Largest share of garbled text (charset-normalizer's "chaos", in percent) for a guessed encoding.
MAX_GUESS_CHAOS = 10.0
UNICODE = frozenset({"utf-8", "ascii"})
# Guesses not taken: UTF-16/32 without a BOM (tried above, by its zero bytes) and EBCDIC, which
# turn any bytes into plausible-looking characters.
_NOT_GUESSED = ("utf_16", "utf_32", "cp037", "cp273", "cp424", "cp500", "cp875", "cp1026", "cp1140")
# Text has more than a handful of different characters (a run of one repeated byte has not).
_MIN_DISTINCT_CHARS = 8

# Control characters other than tab and newline (C0, DEL and C1), and invisible format marks.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b\ufeff]")
# Code points no text may hold: surrogates (valid only in pairs, in UTF-16) and noncharacters.
_INVALID = re.compile("[\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")
_OK_CONTROLS = frozenset("\t\n\r\f\v")

# Share of control characters above which decoded text is considered binary data.
_MAX_CONTROL_SHARE = 0.05
# An 8-bit (Latin-1 / cp1252) guess must be mostly ASCII, as real Western text is.
_MIN_ASCII_SHARE_8BIT = 0.7


def valid_text(text: str) -> str:
    """``text`` as valid Unicode that every later step accepts (SQLite, the tokenizer, JSON):
    surrogate pairs joined into their character (RTF's ``\\u-10240?\\u-8398?``, UTF-16 read as
    code units), and lone surrogates and noncharacters (U+FFFE, U+FFFF, …) replaced by U+FFFD."""
    if _INVALID.search(text) is None:
        return text
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _INVALID.sub("\ufffd", joined)


def clean_text(text: str) -> str:
    """Normalize extracted text: valid Unicode (`valid_text`), NFC, ``\\n`` line ends, no NULs
    or control characters, no trailing spaces, at most one blank line in a row, no
    leading/trailing blank lines."""
    text = unicodedata.normalize("NFC", valid_text(text))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n").replace("\v", "\n")
    text = _CONTROL.sub("", text)
    text = _TRAILING_SPACE.sub("\n", text + "\n")
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n").rstrip()


def _looks_like_text(text: str) -> bool:
    if not text:
        return True
    bad = sum(1 for ch in text if (ch < " " or "\x7f" <= ch <= "\x9f") and ch not in _OK_CONTROLS)
    bad += text.count("\ufffd")
    return bad / len(text) <= _MAX_CONTROL_SHARE


def _utf16_without_bom(data: bytes) -> str | None:
    """The byte order when ``data`` looks like UTF-16 text without a BOM, else None."""
    if len(data) < 4 or len(data) % 2:
        return None
    half = len(data) // 2
    even_zeros = data[0::2].count(0) / half
    odd_zeros = data[1::2].count(0) / half
    if odd_zeros > 0.3 and even_zeros < 0.05:
        return "utf-16-le"
    if even_zeros > 0.3 and odd_zeros < 0.05:
        return "utf-16-be"
    return None


def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_text(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode the bytes of a text file, guessing the encoding: (text, encoding used).

    ``declared`` is an encoding named by the file itself (e.g. an HTML meta charset); it is
    tried after BOMs, UTF-8 and UTF-16 and before the 8-bit fallbacks. Raises LoadError for
    binary data and for text in no encoding that can be told with confidence.
    """
    boms = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
    for bom, codec in boms:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(codec)
            except UnicodeDecodeError:
                raise LoadError(NOT_TEXT) from None
            if not _looks_like_text(text):
                raise LoadError(NOT_TEXT)
            return text, codec

    candidates: list[str] = ["utf-8"]
    utf16 = _utf16_without_bom(data)
    if utf16:
        candidates.append(utf16)
    declared_codec = _known_codec(declared)
    if declared_codec and declared_codec not in candidates and not declared_codec.startswith("utf-16"):
        candidates.append(declared_codec)
    for codec in candidates:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            return text, codec

    # 8-bit fallback for Western text: Windows-1252 (a superset of Latin-1's printable range),
    # else Latin-1, when the text is mostly ASCII as Western European text is.
    for codec in ("cp1252", "latin-1"):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        ascii_share = sum(1 for ch in text if ch < "\x80") / max(len(text), 1)
        if _looks_like_text(text) and ascii_share >= _MIN_ASCII_SHARE_8BIT:
            return text, codec
    return _guessed(data)


def _guessed(data: bytes) -> tuple[str, str]:
    """Text in another encoding (Japanese, Chinese, Korean, Cyrillic, …), as charset-normalizer
    guesses it; LoadError when it cannot guess with confidence."""
    if b"\x00" in data:  # NUL bytes: binary data (UTF-16 was tried above)
        raise LoadError(NOT_TEXT)
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding.startswith(_NOT_GUESSED):
        raise LoadError(NOT_TEXT)
    if best.percent_chaos > MAX_GUESS_CHAOS:
        raise LoadError(UNSURE.format(encoding=best.encoding, chaos=best.percent_chaos))
    text = str(best)
    if not _looks_like_text(text) or len(set(text)) < _MIN_DISTINCT_CHARS:
        raise LoadError(NOT_TEXT)
    log.info("Guessed the encoding %s (%.0f%% garbled)", best.encoding, best.percent_chaos)
    return text, best.encoding
