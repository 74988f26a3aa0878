"""The plain-text alternative of an HTML body: one line per block, table cells apart."""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

CELL_SEPARATOR = " | "
_SPACES = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    _BREAKS = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
               "thead", "tbody", "tfoot", "caption", "pre", "blockquote", "hr"}
    _HIDDEN = {"style", "script", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._cells = 0      # cells begun in the current row
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in ("td", "th"):
            # "a</td><td>b" must not read "ab": cells of a row are kept apart
            if self._cells:
                self.parts.append(CELL_SEPARATOR)
            self._cells += 1
        elif tag in self._BREAKS:
            if tag == "tr":
                self._cells = 0
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in ("tr", "table", "p", "div", "li"):
            self.parts.append("\n")
            if tag == "tr":
                self._cells = 0

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(_SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text alternative of an HTML body."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line) + "\n"
