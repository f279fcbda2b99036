"""Finding a few tags in an HTML page by their byte offsets, without parsing the whole page.

``inject`` needs only where some tags start and end (head, body, h1, article, ...), a few attributes and
two short texts. A tree parser spends most of a page build on everything else; one regular-expression scan
over the page's UTF-8 bytes costs a tenth of that. The scan skips comments and the raw text of ``<script>``
and ``<style>`` (which may mention ``</article>`` or ``<h1>``), and matches an end tag to its start tag by
counting nesting depth, as html.parser's tree would. Offsets are byte offsets so that the caller can splice
into the original bytes and keep every other byte exactly as it was.
"""

from __future__ import annotations

import functools
import html as html_lib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

RAW_TEXT = ("script", "style")  # their content is text, never tags

# A tag's attributes: quoted values may contain ">". Each alternative starts with a different character,
# so a failed match backtracks linearly.
_ATTRIBUTES = rb"""(?:[^>"']|"[^"]*"|'[^']*')*"""
_ATTRIBUTE = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
# In text, "<" starts markup only before a letter, "/", "!" or "?": "a < b" is text.
_MARKUP_IN_TEXT = re.compile(
    r"<!--.*?(?:-->|\Z)|<(script|style)(?=[\s/>]).*?(?:</\1\s*>|\Z)|</?[a-z!?][^>]*>", re.S | re.I
)


@dataclass(frozen=True, slots=True)
class Tag:
    """One start or end tag: ``start``/``stop`` are the byte offsets of its ``<`` and just after its ``>``."""

    name: str  # lower case
    is_end: bool
    start: int
    stop: int
    attribute_text: bytes = b""  # the raw bytes between the name and ">", original case

    def attributes(self) -> dict[str, str]:
        """Names lower-cased, values unescaped; a repeated name keeps its first value, as browsers do."""
        found: dict[str, str] = {}
        for match in _ATTRIBUTE.finditer(self.attribute_text.decode("utf-8", "replace")):
            value = next((group for group in match.groups()[1:] if group is not None), "")
            found.setdefault(match.group(1).lower(), html_lib.unescape(value))
        return found

    def mentions(self, word: str) -> bool:
        """Whether ``word`` appears in the attribute text in any case: a cheap test before ``attributes()``."""
        return word.encode().lower() in self.attribute_text.lower()

    def tokens(self, attribute: str) -> list[str]:
        """A space-separated attribute (class, rel) as its list of tokens."""
        return self.attributes().get(attribute, "").split()


@functools.lru_cache(maxsize=8)
def _tag_pattern(names: tuple[str, ...]) -> re.Pattern[bytes]:
    # Run on lower-cased bytes: a case-sensitive pattern is about twice as fast as re.IGNORECASE, and lowering
    # only ASCII letters keeps every offset. The single leading "<" lets the engine skip ahead to each tag.
    wanted = b"|".join(re.escape(name.encode()) for name in names if name not in RAW_TEXT)
    return re.compile(
        rb"<(?:!--.*?(?:-->|\Z)"
        rb"|(script|style)(?=[\s/>])(" + _ATTRIBUTES + rb")>.*?(?:</\1\s*>|\Z)"
        rb"|(/?)(" + wanted + rb")(?=[\s/>])(" + _ATTRIBUTES + rb")>)",
        re.S,
    )


def scan(data: bytes, names: Iterable[str]) -> list[Tag]:
    """The start and end tags called ``names`` in ``data`` (UTF-8 bytes), in document order.

    ``<script>`` and ``<style>`` start tags are always reported (their end tags are not: the raw text is
    skipped up to them); tags inside comments or raw text are not tags and are left out.
    """
    tags = []
    for match in _tag_pattern(tuple(sorted(names))).finditer(data.lower()):
        raw_text_element, raw_attributes, slash, name, attributes = match.groups()
        if raw_text_element:
            tags.append(Tag(raw_text_element.decode(), False, match.start(), match.end(2) + 1,
                            data[match.start(2):match.end(2)]))
        elif name:
            tags.append(Tag(name.decode(), bool(slash), match.start(), match.end(), data[match.start(5):match.end(5)]))
    return tags


def first(tags: Sequence[Tag], name: str, start: int = 0, stop: int | None = None) -> Tag | None:
    """The first start tag called ``name`` beginning at or after byte ``start`` (and before ``stop``)."""
    for tag in tags:
        if tag.name == name and not tag.is_end and tag.start >= start and (stop is None or tag.start < stop):
            return tag
    return None


def end_tag(tags: Sequence[Tag], start_tag: Tag) -> Tag | None:
    """The end tag closing ``start_tag`` (same-name tags in between nest), or None when its end is implied."""
    depth = 0
    for tag in tags:
        if tag.start < start_tag.start or tag.name != start_tag.name:
            continue
        depth += -1 if tag.is_end else 1
        if depth == 0:
            return tag
    return None


def inside(tags: Sequence[Tag], element: Tag) -> tuple[int, int | None]:
    """Byte range of an element's content; open-ended when its end tag is implied."""
    closing = end_tag(tags, element)
    return element.stop, closing.start if closing else None


def text(data: bytes, tags: Sequence[Tag], element: Tag | None) -> str:
    """An element's visible text with whitespace collapsed; empty when it is missing or never closed."""
    closing = end_tag(tags, element) if element is not None else None
    if closing is None:
        return ""
    markup = data[element.stop:closing.start].decode("utf-8", "replace")
    return " ".join(html_lib.unescape(_MARKUP_IN_TEXT.sub("", markup)).split())
