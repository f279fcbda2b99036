"""The plugin's options, as ``mkdocs.yml`` spells them (validated by MkDocs when it loads the config)."""

from __future__ import annotations

from mkdocs.config import base
from mkdocs.config import config_options as opt

from darksocial import channels
from darksocial.inject import POSITIONS, STYLES

DEFAULT_MANIFEST = "darksocial-pages.json"


class ChannelCodes(opt.BaseConfigOption[list]):
    """A list of share-bar channel codes (``[wa, tg, cl]``), checked against the channel registry."""

    def __init__(self) -> None:
        super().__init__()
        self.default = list(channels.DEFAULT_BUTTONS)

    def run_validation(self, value: object) -> list:
        if not isinstance(value, (list, tuple)) or not all(isinstance(code, str) for code in value):
            raise base.ValidationError(
                f"expected a list of channel codes such as [wa, tg, em, cl]; valid codes are: "
                f"{', '.join(channels.BUTTON_CODES)}"
            )
        if not value:
            raise base.ValidationError(
                f"the share bar needs at least one channel, such as [wa, tg, em, cl]; valid codes are: "
                f"{', '.join(channels.BUTTON_CODES)}. To leave a page without the bar, put 'darksocial: false' in its "
                "front matter or list it in 'exclude'"
            )
        try:
            return list(channels.validate_buttons(value))
        except channels.UnknownChannel as exc:
            raise base.ValidationError(str(exc)) from None


class DarksocialConfig(base.Config):
    enabled = opt.Type(bool, default=True)
    # Where the tracker POSTs events: the reporting server's /-/darksocial/collect, absolute or root-relative.
    collector = opt.Optional(opt.Type(str))
    # The site id sent with every event; defaults to the host of site_url.
    site = opt.Optional(opt.Type(str))
    channels = ChannelCodes()
    position = opt.Choice(POSITIONS, default="after-h1")
    # "icons" (compact round buttons) or "text"; unset: icons with the Material theme, text with the others.
    style = opt.Optional(opt.Choice(STYLES))
    # Glob patterns on page source paths, relative to docs_dir ("blog/archive/*"): pages left untouched, for
    # pages that cannot carry front matter, such as the blog plugin's archive and category pages.
    exclude = opt.ListOfItems(opt.Type(str), default=[])
    # Tracking parameters dropped from shared links, besides utm_* and the known click ids (darksocial.urls).
    strip_params = opt.ListOfItems(opt.Type(str), default=[])
    copy_tracking = opt.Type(bool, default=True)
    address_bar = opt.Type(bool, default=True)
    address_bar_home = opt.Type(bool, default=False)
    cookieless = opt.Type(bool, default=False)
    respect_dnt = opt.Type(bool, default=False)
    query_mode = opt.Type(bool, default=False)
    # The page manifest, relative to site_dir; an empty string writes none.
    manifest = opt.Type(str, default=DEFAULT_MANIFEST)
