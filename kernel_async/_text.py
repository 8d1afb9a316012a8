"""Server text on a terminal: escaped, measured in columns, cut to fit.

Everything the command shows of an invocation, and of an error, comes from the server, so it
is shown with :func:`printable` (what a terminal would act on is escaped, never sent) and
measured as a terminal draws it (:func:`display_width`: wide characters two columns,
combining marks none), so that the table's columns line up and a cut cell fits. Plain
functions of text, used by the table (``kernel_async._table``) and the command's messages.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Final

__all__ = ["display_width", "ellipsis_for", "fit", "fit_id", "printable", "truncate"]

# What a terminal would act on instead of showing: C0 controls (ESC starts CSI and OSC
# sequences, BEL ends OSC, CR rewrites the line; TAB and LF would break the columns), DEL, the
# C1 controls U+0080-U+009F (0x9B is a one-byte CSI on some terminals), and the Unicode bidi
# controls that reorder what follows them (the "Trojan Source" characters, CVE-2021-42574).
# Lone surrogates (JSON allows "\ud800") cannot be written to a UTF-8 terminal at all.
_BIDI: Final = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ESCAPES: Final[Mapping[int, str]] = {
    **{code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))},
    **{code: f"\\u{code:04x}" for code in (*_BIDI, *range(0xD800, 0xE000))},
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
}


def printable(text: str, encoding: str = "utf-8") -> str:
    r"""``text`` with every control character shown as an escape, safe to print on a terminal.

    ``encoding``: the terminal's (a name :func:`codecs.lookup` gives); a character it cannot
    hold is shown as an escape too, so that what is measured is what the terminal shows.

    >>> printable("ok\x1b]0;pwned\x07\r\n\u202egnp.exe")
    'ok\\x1b]0;pwned\\x07\\r\\n\\u202egnp.exe'
    >>> printable("caf\u00e9 \u65e5", "ascii")
    'caf\\xe9 \\u65e5'
    """
    escaped = text.translate(_ESCAPES)
    if encoding == "utf-8" or escaped.isascii():
        return escaped
    return escaped.encode(encoding, "backslashreplace").decode(encoding)


def ellipsis_for(encoding: str) -> str:
    """What ends a cut cell: ``\u2026`` (one column), or ``...`` where ``encoding`` lacks it.

    >>> ellipsis_for("utf-8"), ellipsis_for("ascii")
    ('\u2026', '...')
    """
    try:
        "\u2026".encode(encoding)
    except UnicodeEncodeError:
        return "..."
    return "\u2026"


# Format characters (Cf) a terminal draws one column wide, where the others take none: the
# soft hyphen (Markus Kuhn's wcwidth.c, which glibc, the wcwidth package and pyte follow) and
# the Prepended_Concatenation_Mark characters of Unicode's PropList.txt, signs drawn before
# a number (glibc bug 22070; the wcwidth package likewise).
_PREPENDED: Final = (
    *range(0x0600, 0x0606),
    0x06DD,
    0x070F,
    0x0890,
    0x0891,
    0x08E2,
    0x110BD,
    0x110CD,
)
_DRAWN_FORMAT: Final = frozenset(map(chr, (0x00AD, *_PREPENDED)))


def _cells(char: str) -> int:
    # The columns a terminal gives a character (as wcwidth does, for what the table shows):
    # East Asian wide and fullwidth characters, most emoji among them, take two; combining
    # marks and zero-width characters none (Unicode UAX #11; categories Mn, Me and Cf, less
    # the format characters terminals draw).
    if unicodedata.category(char) in ("Mn", "Me", "Cf") and char not in _DRAWN_FORMAT:
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """The columns ``text`` takes on a terminal (a wide character counts two).

    >>> display_width("shop"), display_width("タイムアウト")
    (4, 12)
    """
    if text.isascii():
        return len(text)
    return sum(_cells(char) for char in text)


def truncate(text: str, width: int, ellipsis: str = "\u2026") -> str:
    """``text`` cut to at most ``width`` columns, with ``ellipsis`` when cut.

    >>> truncate("タイムアウト", 7)
    'タイム…'
    >>> truncate("timed out", 7, ellipsis="...")
    'time...'
    """
    if display_width(text) <= width:
        return text
    if display_width(ellipsis) > width:  # "..." in two columns: as much of it as fits
        ellipsis = ellipsis[: max(width, 0)]
    kept, room = [], max(width - display_width(ellipsis), 0)
    for char in text:
        room -= _cells(char)
        if room < 0:
            break
        kept.append(char)
    return "".join(kept) + ellipsis


def fit(text: str, width: int, ellipsis: str) -> str:
    """``text`` in exactly ``width`` columns: padded, or cut with ``ellipsis``."""
    cut = truncate(text, width, ellipsis)
    return cut + " " * (width - display_width(cut))


def fit_id(text: str, width: int, ellipsis: str) -> str:
    """An id in ``width`` columns: padded, or cut in the middle (``run_0123…abcd``).

    Cut there, ids that share a prefix (a kind, a time) or a suffix still differ on screen.
    """
    if display_width(text) <= width:
        return text + " " * (width - display_width(text))
    room = width - display_width(ellipsis)
    head = truncate(text, (room + 1) // 2, "")
    tail = truncate(text[::-1], room // 2, "")[::-1]
    return fit(head + ellipsis + tail, width, ellipsis)
