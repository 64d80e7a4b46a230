"""A page as the words a reader sees: tags dropped, entities decoded, whitespace collapsed."""
from __future__ import annotations

import html
import re

_HIDDEN = re.compile(r"<(script|head)\b.*?</\1>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def text(page: str) -> str:
    """The visible words of `page`, separated by single spaces."""
    words = _TAG.sub(" ", _HIDDEN.sub(" ", page))
    return " ".join(html.unescape(words).split())
