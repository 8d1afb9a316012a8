"""What the command says when something goes wrong: in one line, with the flags it has.

**Arguments.** The command does not check the filters, the page size or the base URL
itself: the library does, before any request, and raises a :class:`ValueError` or
:class:`TypeError` that names the parameter (``app_name must not be empty; pass None to leave
the filter out``). Said as is at a shell, that names a parameter the user never typed and
advice only Python code can take. :func:`for_the_shell` says it with the flag (or environment
variable) that gave the value, and without the Python advice: ``--app must not be empty``.
The checks stay in one place.

**Errors.** What the server says goes into an error's message as it came (the library cuts
only a body it quotes without parsing), and a server may say a lot: a 500 whose message was
100 KB came out as one line of 100 KB. :func:`error_line` says an error as the command prints
it, its message cut by :func:`one_line` and its request id kept, and for a redirect, which
the library never follows, which setting to check.

Pure functions of text; imported when something goes wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from kernel_async._errors import APIConnectionError, KernelError

__all__ = ["MESSAGE_CHARS", "error_line", "for_the_shell", "one_line"]

MESSAGE_CHARS: Final = 400
"""The most of a message the command prints, as shown (escapes counted): a few lines of a
terminal, enough for what a person reads; a longer one is cut, saying by how much."""

# A request id is an opaque header of the server's: short, unless something is wrong.
_REQUEST_ID_CHARS: Final = 100

# A value the message quotes (a repr): the user's own text, never rewritten.
_QUOTED: Final = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\"""")
# A parameter name in the text: snake_case names cannot be English words, so they are
# replaced wherever they stand; a one-word name (``since``, ``limit``) only where the library
# puts the parameter it speaks of, first.
_SNAKE_CASE: Final = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
_FIRST_WORD: Final = re.compile(r"^[a-z]+\b")
# Advice for Python code: "; pass None to leave the filter out", ", or pass allow_http=True if
# you really mean it". What a shell user can do instead is said by the rest of the message.
_PYTHON_ADVICE: Final = re.compile(r"(?:;|,)(?: or)? pass [^;]*")


def for_the_shell(message: str, names: Mapping[str, str]) -> str:
    """``message`` with each parameter in ``names`` replaced by its flag, less Python advice.

    ``names`` maps a parameter to what the user set it with: a flag (``app_name`` to
    ``--app``) or an environment variable (``api_key`` to ``KERNEL_API_KEY``).

    >>> names = {"app_name": "--app", "base_url": "--base-url"}
    >>> for_the_shell("app_name must not be empty; pass None to leave the filter out", names)
    '--app must not be empty'
    >>> for_the_shell("base_url x uses plain http; use https, or pass allow_http=True", names)
    '--base-url x uses plain http; use https'
    >>> for_the_shell("app_name is not valid text: 'my_app'", names)
    "--app is not valid text: 'my_app'"
    """
    said: list[str] = []
    position = 0
    for quoted in _QUOTED.finditer(message):
        said.append(_rewrite(message[position : quoted.start()], names, first=position == 0))
        said.append(quoted.group())
        position = quoted.end()
    said.append(_rewrite(message[position:], names, first=position == 0))
    return "".join(said)


def _rewrite(text: str, names: Mapping[str, str], *, first: bool) -> str:
    text = _PYTHON_ADVICE.sub("", text)
    text = _SNAKE_CASE.sub(lambda name: names.get(name.group(), name.group()), text)
    if first:
        text = _FIRST_WORD.sub(lambda name: names.get(name.group(), name.group()), text)
    return text


def one_line(text: str, *, limit: int = MESSAGE_CHARS, ellipsis: str = "\u2026") -> str:
    r"""``text`` as one line of at most ``limit`` characters and a note of what was cut.

    Control characters are escaped first (:func:`~kernel_async._text.printable`: a line
    feed cannot break the line, nor an escape drive the terminal), and what is cut is counted
    as shown.

    >>> one_line("boom " + "x" * 1000, limit=8)
    'boom xxx… (997 more characters)'
    >>> one_line("two\nlines")
    'two\\nlines'
    """
    from kernel_async._text import printable

    text = printable(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}{ellipsis} ({len(text) - limit:,} more characters)"


def _not_tls(error: APIConnectionError) -> bool:
    from kernel_async._tls import NOT_TLS, lasting_tls_failure  # ssl: only on this path

    # As the transport judged it: only a handshake's failure says what the server speaks.
    return not error.retryable and lasting_tls_failure(error) == NOT_TLS


def error_line(error: KernelError, *, base_url_from: str | None, ellipsis: str = "\u2026") -> str:
    """What the command prints of ``error``: its kind, its message cut, its request id.

    ``base_url_from``: the flag or environment variable that gave the base URL (``None``: the
    default, the official API's); a redirect says to check it, since the library does not
    follow one (docs/security.md), and a base URL without its path prefix, or with http for
    https, is what a redirect usually means.
    """
    from kernel_async._errors import APIConnectionError, APIError, APIStatusError

    if not isinstance(error, APIError):
        return f"{type(error).__name__}: {one_line(str(error), ellipsis=ellipsis)}"
    said = one_line(error.message, ellipsis=ellipsis)
    if isinstance(error, APIStatusError) and 300 <= error.status < 400 and base_url_from:
        said += f"; check {base_url_from}"
    if isinstance(error, APIConnectionError) and _not_tls(error):
        # https:// to a plain-http server (the emulator's URL is http://): OpenSSL's own
        # words, "wrong version number", say nothing of what to change.
        said += (
            f"; the server does not speak TLS: check {base_url_from or 'the base URL'} "
            "(the emulator's URL starts with http://)"
        )
    if error.request_id:
        request_id = one_line(error.request_id, limit=_REQUEST_ID_CHARS, ellipsis=ellipsis)
        said += f" (request id {request_id})"
    return f"{type(error).__name__}: {said}"
