"""The channel registry: the one place that knows every channel.

``medium`` is ``dark`` for private channels (the visit that follows arrives
without a referrer) and ``open`` for public social networks.
``share_url`` is the service's documented share endpoint; ``{url}``, ``{text}``
and ``{title}`` are replaced by percent-encoded values. Channels without a
``share_url`` are actions of the tracker (copy link, native share sheet) or
ways a link travels that no button starts (copied text, address bar).
"""

# ruff: noqa: E501  (SVG path data reads best on one line per icon)
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Channel:
    code: str
    label: str
    medium: str  # "dark" or "open"
    share_url: str | None
    icon: str  # inline SVG, decorative (aria-hidden), inherits currentColor
    button: bool = True  # False: never rendered as a share-bar button

    def share_href(self, url: str, title: str = "", text: str = "") -> str:
        """The no-JavaScript link for sharing ``url`` (which already carries ``#ds=``)."""
        if self.share_url is None:
            return url
        text = text or title
        return self.share_url.format(url=quote(url, safe=""), text=quote(text, safe=""), title=quote(title, safe=""))


def _svg(path: str) -> str:
    return (
        '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">'
        f'<path fill="currentColor" d="{path}"/></svg>'
    )


def _stroked(path: str) -> str:
    """A line icon: fewer bytes than the same shape as a filled outline."""
    return (
        '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">'
        f'<path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" d="{path}"/></svg>'
    )


_BUBBLE = "M12 2a10 10 0 0 0-8.7 15L2 22l5.1-1.3A10 10 0 1 0 12 2Z"
_PLANE = "M21.9 3.3 2.7 10.7c-1 .4-1 1.6 0 2l4.8 1.6 1.8 5.7c.2.8 1.2 1 1.8.4l2.6-2.5 5 3.7c.7.5 1.6.1 1.8-.7L23.8 4.6c.2-1-.8-1.7-1.9-1.3ZM9.8 14l8.4-7.4-10 6.3"
_LINK = "M9 15l6-6M11 6l1-1a4 4 0 0 1 6 6l-1 1M13 18l-1 1a4 4 0 0 1-6-6l1-1"

CHANNELS: dict[str, Channel] = {
    c.code: c
    for c in (
        Channel("wa", "WhatsApp", "dark", "https://wa.me/?text={text}%20{url}", _svg(_BUBBLE)),
        Channel("fm", "Messenger", "dark", "fb-messenger://share/?link={url}",
                _svg("M12 2C6.5 2 2 6.1 2 11.3c0 2.9 1.4 5.5 3.7 7.2V22l3.4-1.9c.9.3 1.9.4 2.9.4 5.5 0 10-4.1 10-9.2S17.5 2 12 2Zm1 12.4-2.6-2.7-5 2.7 5.5-5.8 2.6 2.7 4.9-2.7-5.4 5.8Z")),
        Channel("tg", "Telegram", "dark", "https://t.me/share/url?url={url}&text={text}", _svg(_PLANE)),
        Channel("sms", "SMS", "dark", "sms:?&body={text}%20{url}",
                _svg("M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 2-2Zm3 6v2h2V9Zm4 0v2h2V9Zm4 0v2h2V9Z")),
        Channel("em", "Email", "dark", "mailto:?subject={title}&body={text}%0A%0A{url}",
                _svg("M3 5h18a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1Zm1 2.4V17h16V7.4l-8 5.3Zm1.6-.4L12 11.3 18.4 7Z")),
        Channel("cl", "Copy link", "dark", None, _stroked(_LINK)),
        Channel("ct", "Copied text", "dark", None, _stroked(_LINK), button=False),
        Channel("ns", "Share", "dark", None,
                _svg("M18 16a3 3 0 0 0-2.4 1.2l-6.7-3.4a3 3 0 0 0 0-1.6l6.7-3.4A3 3 0 1 0 15 7l-6.7 3.4a3 3 0 1 0 0 3.2L15 17a3 3 0 1 0 3-1Z")),
        Channel("ab", "Address bar", "dark", None, _stroked(_LINK), button=False),
        Channel("x", "X", "open", "https://x.com/intent/post?url={url}&text={text}",
                _svg("M17.8 3h3.1l-6.8 7.7L22 21h-6.2l-4.9-6.4L5.3 21H2.2l7.2-8.3L1.8 3h6.4l4.4 5.8Zm-1.1 16.2h1.7L7.4 4.7H5.6Z")),
        Channel("fb", "Facebook", "open", "https://www.facebook.com/sharer/sharer.php?u={url}",
                _svg("M14 8V6.2c0-.8.2-1.2 1.4-1.2H17V2h-2.6C11.3 2 10 3.5 10 6v2H8v3h2v11h4V11h2.6l.4-3Z")),
        Channel("li", "LinkedIn", "open", "https://www.linkedin.com/sharing/share-offsite/?url={url}",
                _svg("M4 3a2 2 0 1 1 0 4 2 2 0 0 1 0-4Zm-2 6h4v12H2Zm7 0h4v1.7c.6-1 1.9-2 3.9-2 4 0 4.1 2.7 4.1 6.1V21h-4v-5.3c0-1.3 0-3-1.8-3s-2.2 1.4-2.2 2.9V21H9Z")),
        Channel("rd", "Reddit", "open", "https://www.reddit.com/submit?url={url}&title={title}",
                _svg("M12 8C7.3 8 3.5 10.6 3.5 14S7.3 20 12 20s8.5-2.6 8.5-6S16.7 8 12 8ZM8.8 12.7a1.3 1.3 0 1 1 0 2.6 1.3 1.3 0 1 1 0-2.6Zm6.4 0a1.3 1.3 0 1 1 0 2.6 1.3 1.3 0 1 1 0-2.6ZM4.8 8.6a2 2 0 1 0 0 4 2 2 0 1 0 0-4Zm14.4 0a2 2 0 1 0 0 4 2 2 0 1 0 0-4ZM17.6 2.4a1.6 1.6 0 1 0 0 3.2 1.6 1.6 0 1 0 0-3.2ZM11.6 8.2l1.3-5.6 3.9.9-.2 1-3-.7-1 4.4Z")),
        Channel("bs", "Bluesky", "open", "https://bsky.app/intent/compose?text={text}%20{url}",
                _svg("M5.2 3.5C7.5 5.2 10 8.7 12 10.7c2-2 4.5-5.5 6.8-7.2 1.7-1.2 4.4-2.2 4.4.9 0 .6-.4 5.2-.6 6-.7 2.6-3.3 3.2-5.7 2.8 4.1.7 5.2 3 2.9 5.3-4.3 4.5-6.2-1.1-6.7-2.5L12 14.8l-.2.7c-.5 1.4-2.4 7-6.7 2.5-2.3-2.3-1.2-4.6 2.9-5.3-2.4.4-5-.2-5.7-2.8-.2-.8-.6-5.4-.6-6 0-3.1 2.7-2.1 4.4-.9Z")),
    )
}

MEDIA = ("dark", "open")
DEFAULT_BUTTONS = ("wa", "fm", "tg", "sms", "em", "cl", "ns", "x", "fb", "li", "rd", "bs")
BUTTON_CODES = tuple(code for code, c in CHANNELS.items() if c.button)


class UnknownChannel(ValueError):
    pass


def validate_buttons(codes) -> tuple[str, ...]:
    """Check a configured list of share-bar channel codes; the error names the valid ones."""
    codes = tuple(codes)
    bad = [c for c in codes if c not in CHANNELS or not CHANNELS[c].button]
    if bad:
        raise UnknownChannel(
            f"unknown share-bar channel code(s) {', '.join(map(repr, bad))}; valid codes are: {', '.join(BUTTON_CODES)}"
        )
    if len(set(codes)) != len(codes):
        raise UnknownChannel(f"channel codes listed twice in {list(codes)!r}")
    return codes
