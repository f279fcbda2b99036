"""Finding a few tags in an HTML page by their offsets, without parsing the whole page.

``inject`` needs only where some tags start and end (head, body, h1, article, ...), a few attributes and
two short texts. A tree parser spends most of a page build on everything else; one regular-expression scan
over the page costs a tenth of that. The scan skips comments and the raw text of ``<script>`` and
``<style>`` (which may mention ``</article>`` or ``<h1>``), and matches an end tag to its start tag by
counting nesting depth, as html.parser's tree would. The page may be a ``str`` (offsets count characters:
``inject`` splices into the original string) or UTF-8 ``bytes`` (offsets count bytes); either way every
character outside the splices stays exactly as it was.
"""

from __future__ import annotations

import functools
import html as html_lib
import itertools
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

RAW_TEXT = ("script", "style")  # their content is text, never tags

# A tag's attributes: quoted values may contain ">". Written as an unrolled loop (runs of plain characters
# between quoted values) so that each character has one way to match: linear, and no per-character branch. A
# value whose quote never closes, or a tag whose ">" never comes, runs to the end of the page, as in a browser:
# failing there instead had the search try again from every later "<" (quadratic: 32,000 characters of
# "<meta " took 3.7 s).
_ATTRIBUTES = r"""[^>"']*(?:(?:"[^"]*(?:"|\Z)|'[^']*(?:'|\Z))[^>"']*)*"""
_ATTRIBUTE = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
# In text, "<" starts markup only before a letter, "/", "!" or "?": "a < b" is text. A tag may run to the end of
# the text (no ">" follows): then it stops there instead of being tried again from every "<" after it, which made
# a title of 16,000 "<a" take 290 ms (quadratic); _unclosed_tag keeps what such a tag-to-the-end covered before.
_MARKUP_IN_TEXT = re.compile(
    r"<!--.*?(?:-->|\Z)|<(script|style)(?=[\s/>]).*?(?:</\1\s*>|\Z)|</?[a-z!?][^>]*(?:>|\Z)", re.S | re.I
)
_COMMENT_OR_RAW_TEXT = re.compile(r"<!--|<(?:script|style)(?=[\s/>])", re.S | re.I)


def _markup_removed(match: re.Match) -> str:
    """'' for markup; for a "tag" that runs to the end of the text unclosed (so is none), the text it covered, up
    to a comment or a script or style in it, which are markup to the end as before."""
    found = match.group()
    if found.endswith(">") or match.group(1) or found.startswith("<!--"):
        return ""
    cut = _COMMENT_OR_RAW_TEXT.search(found, 1)
    return found[:cut.start()] if cut else found


class Tag(NamedTuple):
    """One start or end tag: ``start``/``stop`` are the offsets of its ``<`` and just after its ``>``."""

    name: str  # lower case
    is_end: bool
    start: int
    stop: int
    attribute_text: str | bytes = b""  # what lies between the name and ">", original case, as the page is typed

    def attributes(self) -> dict[str, str]:
        """Names lower-cased, values unescaped; a repeated name keeps its first value, as browsers do."""
        found: dict[str, str] = {}
        for match in _ATTRIBUTE.finditer(_as_text(self.attribute_text)):
            value = next((group for group in match.groups()[1:] if group is not None), "")
            found.setdefault(match.group(1).lower(), html_lib.unescape(value))
        return found

    def mentions(self, word: str) -> bool:
        """Whether ``word`` appears in the attribute text in any case: a cheap test before ``attributes()``."""
        text = self.attribute_text.lower()
        return (word if isinstance(text, str) else word.encode()) in text

    def tokens(self, attribute: str) -> list[str]:
        """A space-separated attribute (class, rel) as its list of tokens."""
        return self.attributes().get(attribute, "").split()


def _as_text(chunk: str | bytes) -> str:
    """A slice of the page as text, the same whether the page came as str or UTF-8 bytes: a lone surrogate
    (which str allows but UTF-8 cannot encode, so quote() and encode() would fail on it) becomes U+FFFD."""
    if isinstance(chunk, bytes):
        return chunk.decode("utf-8", "replace")
    if chunk.isascii():  # nearly always, and O(1)
        return chunk
    return chunk.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _any_case(word: str) -> str:
    """``word`` in any ASCII case, as character classes ("h1" -> "[Hh]1"). Unlike re.IGNORECASE, a class is
    what the regex engine's alternation can test before entering a branch, and it never matches non-ASCII
    letters whose lower case is ASCII (the Kelvin sign), just as lowering the page's bytes would not."""
    return "".join(f"[{char.upper()}{char}]" if char.isalpha() else re.escape(char) for char in word)


def _alternatives(words: Iterable[str], first_level: bool = True) -> str:
    """``words`` as nested alternatives sharing prefixes, in any ASCII case.

    The scan tries this at every "<" of the page. The regex engine rejects a branch that opens with a plain
    character by one comparison, without entering it; so the first level spells each opening letter twice
    ("a..." and "A...") instead of as a class, and "<li" or "<a" (most tags of a page) cost a few comparisons.
    Deeper levels, reached only past a matching first letter, use classes ("[Rr]").
    """
    branches = []
    for first, group in itertools.groupby(sorted(words), key=lambda word: word[0]):
        rests = [word[1:] for word in group]
        longer = [rest for rest in rests if rest]
        tail = ""
        if longer:
            tail = _any_case(longer[0]) if len(longer) == 1 else f"(?:{_alternatives(longer, False)})"
            if len(longer) < len(rests):  # the word itself, and longer ones: "h" and "h1"
                tail = f"(?:{tail})?"
        if not first_level:
            branches.append(_any_case(first) + tail)
            continue
        openings = dict.fromkeys((first.lower(), first.upper()))  # one for a digit
        branches += [re.escape(opening) + tail for opening in openings]
    return "|".join(branches) or "(?!)"


def _raw_text_after(name: str) -> str:
    """Everything up to and including the first ``</name>`` (any case, spaces before ">"), or to the end.

    Unrolled (runs without "<", then a "<" that does not close) instead of a lazy ``.*?``, which the engine
    would try to end at every single character.
    """
    return rf"[^<]*(?:<(?!/{_any_case(name)}\s*>)[^<]*)*(?:</{_any_case(name)}\s*>)?"


@functools.lru_cache(maxsize=16)
def _tag_pattern(names: tuple[str, ...], kind: type) -> re.Pattern:
    wanted = [name for name in names if name not in RAW_TEXT]
    # Every branch after "<" opens with one character (or class): "!" for comments, "/" for end tags, "s"
    # for the raw-text elements (named groups say which), then the first letters of the wanted names.
    raw_text = "[Ss](?:" + "|".join(f"(?P<{name}>{_any_case(name[1:])})" for name in RAW_TEXT) + ")"
    pattern = (
        rf"<(?:!--|/(?P<end>{_alternatives(wanted)})|{raw_text}|{_alternatives(wanted)})"
        rf"(?:(?<=!--)[^-]*(?:-(?!->)[^-]*)*(?:-->)?"  # a comment: up to the first "-->", or to the end
        rf"|(?=[\s/>])(?P<attributes>{_ATTRIBUTES})(?:>|\Z)"
        + "".join(f"(?({name}){_raw_text_after(name)})" for name in RAW_TEXT)
        + ")"
    )
    if kind is bytes:
        return re.compile(pattern.encode())
    return re.compile(pattern, re.A)  # ASCII: "\s" as for bytes, not Unicode spaces


def scan(data: str | bytes, names: Iterable[str]) -> list[Tag]:
    """The start and end tags called ``names`` in ``data`` (str, or UTF-8 bytes), in document order.

    ``<script>`` and ``<style>`` start tags are always reported (their end tags are not: the raw text is
    skipped up to them); tags inside comments or raw text are not tags and are left out, and so is everything
    after a start tag that never closes (no ">", or a quote that never ends), as a browser reads it.
    """
    tags = []
    for match in _tag_pattern(tuple(sorted(names)), type(data)).finditer(data):
        attributes_start, attributes_stop = match.span("attributes")
        if attributes_start < 0:  # a comment
            continue
        if attributes_stop == len(data):  # its ">" never comes: no tag, and nothing after it is one
            break
        end_name = match.group("end")
        name = data[match.start() + 1:attributes_start] if end_name is None else end_name
        tags.append(Tag(
            (name if isinstance(name, str) else name.decode()).lower(), end_name is not None,
            match.start(), attributes_stop + 1, data[attributes_start:attributes_stop],
        ))
    return tags


def first(tags: Sequence[Tag], name: str, start: int = 0, stop: int | None = None) -> Tag | None:
    """The first start tag called ``name`` beginning at or after offset ``start`` (and before ``stop``)."""
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
    """Offset range of an element's content; open-ended when its end tag is implied."""
    closing = end_tag(tags, element)
    return element.stop, closing.start if closing else None


def text(data: str | bytes, tags: Sequence[Tag], element: Tag | None) -> str:
    """An element's visible text with whitespace collapsed; empty when it is missing or never closed."""
    closing = end_tag(tags, element) if element is not None else None
    if closing is None:
        return ""
    markup = _as_text(data[element.stop:closing.start])
    return " ".join(html_lib.unescape(_MARKUP_IN_TEXT.sub(_markup_removed, markup)).split())
