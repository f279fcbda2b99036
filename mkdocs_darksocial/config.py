"""The plugin's options, as ``mkdocs.yml`` spells them (validated by MkDocs when it loads the config)."""

from __future__ import annotations

from mkdocs.config import base
from mkdocs.config import config_options as opt

from darksocial import channels
from darksocial.inject import POSITIONS

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
    copy_tracking = opt.Type(bool, default=True)
    address_bar = opt.Type(bool, default=True)
    address_bar_home = opt.Type(bool, default=False)
    cookieless = opt.Type(bool, default=False)
    respect_dnt = opt.Type(bool, default=False)
    query_mode = opt.Type(bool, default=False)
    # The page manifest, relative to site_dir; an empty string writes none.
    manifest = opt.Type(str, default=DEFAULT_MANIFEST)
