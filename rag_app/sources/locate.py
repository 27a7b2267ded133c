"""Find a passage in the text it came from, whatever became of its line breaks and hyphens.

A chunk's text and the page (or section) it was cut from differ in layout only: PDFium ends
lines with CRLF and marks a word broken across lines with U+FFFE, ligatures are written as one
character, the loaders tidy spaces and blank lines, the splitter strips the ends. `find_span`
compares the two with all whitespace and those marks removed, case folded and ligatures spelled
out, then maps the match back to offsets in the original text, so a viewer can highlight exactly
those characters (on a PDF page: their rectangles).
"""

from __future__ import annotations

# Characters that carry no letter: PDFium's end-of-line hyphen mark and the soft hyphen.
_MARKS = frozenset("\ufffe\u00ad")
_LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
              "\ufb05": "st", "\ufb06": "st"}
# When the whole passage is not found (the file changed a little), its first and last this many
# letters are looked for; the passage is taken to run from one to the other.
ANCHOR_CHARS = 40


def squeezed(text: str) -> tuple[str, list[int]]:
    """``text`` without whitespace or hyphenation marks, case folded, ligatures spelled out;
    and for each character of the result, the offset in ``text`` it comes from."""
    letters: list[str] = []
    origin: list[int] = []
    for offset, char in enumerate(text):
        if char.isspace() or char in _MARKS:
            continue
        for letter in _LIGATURES.get(char, char).casefold():
            letters.append(letter)
            origin.append(offset)
    return "".join(letters), origin


def find_span(text: str, passage: str, *, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """Offsets ``(first, last + 1)`` in ``text`` of the characters that make up ``passage``.

    Only ``text[start:end]`` is searched. Layout differences are ignored (see the module
    docstring); a passage whose middle changed is still found by its first and last
    `ANCHOR_CHARS` letters when they are in order and not too far apart. None when not found.
    """
    end = len(text) if end is None else end
    haystack, origin = squeezed(text[start:end])
    needle, _ = squeezed(passage)
    if not needle or not haystack:
        return None
    at = haystack.find(needle)
    if at >= 0:
        last = at + len(needle) - 1
    else:
        if len(needle) < 2 * ANCHOR_CHARS:
            return None
        at = haystack.find(needle[:ANCHOR_CHARS])
        tail = haystack.find(needle[-ANCHOR_CHARS:], max(at, 0))
        if at < 0 or tail < 0 or tail - at > 2 * len(needle):
            return None
        last = tail + ANCHOR_CHARS - 1
    return start + origin[at], start + origin[last] + 1
