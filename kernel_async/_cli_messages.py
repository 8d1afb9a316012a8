"""The library's complaints about its arguments, said to a shell user.

The command does not check the filters, the page size or the base URL itself: the library
does, before any request, and raises a :class:`ValueError` or :class:`TypeError` that names
the parameter (``app_name must not be empty; pass None to leave the filter out``). Said as is
at a shell, that names a parameter the user never typed and advice only Python code can take.
:func:`for_the_shell` says it with the flag (or environment variable) that gave the value, and
without the Python advice: ``--app must not be empty``. The checks stay in one place.

Pure functions of text; imported when an argument is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

__all__ = ["for_the_shell"]

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
