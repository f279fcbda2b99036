"""Injection into whole pages: the right places, every other character kept, idempotent, opt-out respected."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from darksocial.inject import (
    InjectError,
    TrackerConfig,
    _script_tag,
    _stylesheet_tag,
    head_tags,
    inject,
    is_opted_out,
    share_bar,
)

URL = "https://example.com/posts/hello/"
CONFIG = TrackerConfig(collector="/-/darksocial/collect", site="example", script_url="/s/ds.js", css_url="/s/ds.css")

# Real pages are messy: CRLF, upper case, unquoted attributes, entities, comments and scripts that mention the
# tags we look for, non-ASCII text, a site-title <h1> in the header before the article's own.
MESSY = (
    "<!DOCTYPE html>\r\n<HTML lang=fr>\r\n<Head>\r\n  <meta charset=utf-8>\r\n"
    "  <title>Caf&eacute; &amp; cr\u00e8me \U0001f600</title>\r\n"
    '  <link rel="preload" href="f.woff2" as=font>\r\n'
    "  <LINK REL=StyleSheet HREF='site.css?v=1&x=2'>\r\n  <style>h1{color:red}</style>\r\n</Head>\r\n"
    "<body class='a  b'>\r\n<!-- <h1>commented</h1> </article> </body> -->\r\n"
    "<header><h1 class=site>Site</h1></header>\r\n"
    "<main>\r\n<article data-x='a>b'>\r\n<H1 id=t>Caf\u00e9 <em>cr\u00e8me</em>&nbsp;!</h1 >\r\n"
    "<p>Un&nbsp;texte<br/>avec des <b>accents</b> \u00e9\u00e8.</p>\r\n"
    '<script>document.write("</article></main></body>")</script>\r\n'
    "</ARTICLE>\r\n<aside>x</aside>\r\n</main>\r\n<footer>\u00a9</footer>\r\n"
    "</BODY>\r\n</HTML>\r\n"
)
PLAIN = "<!doctype html><html><head><title>T</title></head><body><p>Only a paragraph.</p></body></html>"
HEADLESS = "<!doctype html><html><body><main><h1>Hi</h1><p>x</p></main></body></html>"
FRAGMENT_ONLY = "<h1>Just a fragment</h1><p>no html, head or body</p>"
UNCLOSED = "<!doctype html><html><head><title>T</title><body><main><p>text"


def without_snippets(out: str, config: TrackerConfig = CONFIG, title: str = "T") -> str:
    """``out`` with each snippet inject adds removed exactly once."""
    for snippet in (_stylesheet_tag(config), _script_tag(config), share_bar(config, URL, title)):
        assert out.count(snippet) == 1, snippet[:60]
        out = out.replace(snippet, "", 1)
    return out


@pytest.mark.parametrize("position", ["after-h1", "content-end", "body-end"])
@pytest.mark.parametrize("page", [MESSY, PLAIN, HEADLESS, FRAGMENT_ONLY, UNCLOSED])
def test_every_other_character_is_kept(page, position):
    config = TrackerConfig(**{**CONFIG.__dict__, "position": position})
    out = inject(page, config, URL, "T")
    assert without_snippets(out, config) == page
    assert inject(out, config, URL, "T") == out  # idempotent


def around_bar(out: str) -> tuple[str, str]:
    """The text just before and just after the inserted share bar."""
    at = out.index('<nav class="ds-bar"')
    end = out.index("</nav>", at) + len("</nav>")
    return out[:at], out[end:]


def test_after_h1_uses_the_articles_h1_not_the_site_title():
    before, after = around_bar(inject(MESSY, CONFIG, URL, "T"))
    assert before.endswith("<H1 id=t>Caf\u00e9 <em>cr\u00e8me</em>&nbsp;!</h1 >") and after.startswith("\r\n<p>Un")


def test_content_end_is_before_the_article_end_tag_not_the_one_in_a_script():
    config = TrackerConfig(**{**CONFIG.__dict__, "position": "content-end"})
    before, after = around_bar(inject(MESSY, config, URL, "T"))
    assert before.endswith('</main></body>")</script>\r\n') and after.startswith("</ARTICLE>\r\n<aside>")
    before, after = around_bar(inject(HEADLESS, config, URL, "T"))  # no article: the end of main
    assert before.endswith("<p>x</p>") and after == "</main></body></html>"


def test_content_end_without_article_or_main_is_the_end_of_the_role_main_element():
    # MkDocs' own theme: the content is a <div role="main"> among nested divs, the footer after it
    page = ('<html><body><div class="navbar"><div>menu</div></div><div class="container"><div class="row">'
            '<div class="col-md-3"><div>toc</div></div><div class="col-md-9" ROLE=" MAIN "><h1>T</h1><div>'
            '<p>x</p></div></div></div></div><footer>the footer</footer></body></html>')
    config = TrackerConfig(**{**CONFIG.__dict__, "position": "content-end"})
    before, after = around_bar(inject(page, config, URL, "T"))
    assert before.endswith("<p>x</p></div>") and after.startswith("</div></div></div><footer>")
    for other in ('data-role=" MAIN "', 'title="role=main"'):  # "main" elsewhere in the tag is no role
        before, after = around_bar(inject(page.replace('ROLE=" MAIN "', other), config, URL, "T"))
        assert before.endswith("<footer>the footer</footer>") and after == "</body></html>", other
    # Tags in a title's or a textarea's text, or in a template, are none of the page's: the end of the body.
    for inert in ('<title><div role="main">t</div></title>', '<textarea><div role="main">typed</div></textarea>',
                  '<template><template></template><div role="main">later</div></template>'):
        before, after = around_bar(inject(f"<html><head></head><body>{inert}<p>x</p></body></html>", config, URL,
                                          "T"))
        assert before.endswith("<p>x</p>") and after == "</body></html>", inert


def test_a_heading_or_article_written_in_a_textarea_or_kept_in_a_template_is_none_of_the_pages():
    # after-h1: the page's own <h1>, not one typed into a comment box or waiting in a template; content-end: the
    # page's own <article>. The title stays the page's title.
    for inert in ("<textarea><h1>typed</h1><article>a</article></textarea>",
                  "<template><template></template><h1>later</h1><article>a</article></template>"):
        page = f"<html><head><title>Page</title></head><body><main>{inert}<h1>Real</h1><p>x</p></main></body></html>"
        before, after = around_bar(inject(page, CONFIG, URL, None))
        assert before.endswith("<h1>Real</h1>") and after.startswith("<p>x</p>"), inert
        end = TrackerConfig(**{**CONFIG.__dict__, "position": "content-end"})
        before, after = around_bar(inject(page, end, URL, None))
        assert before.endswith("<p>x</p>") and after.startswith("</main>"), inert
    page = "<html><head><title>The <h1> tag</title></head><body><article><p>x</p></article></body></html>"
    before, after = around_bar(inject(page, CONFIG, URL, None))  # no h1 of the page's: the end of the article
    assert before.endswith("<p>x</p>") and after.startswith("</article>")
    assert "?text=The%20" in inject(page, CONFIG, URL, None)  # the title is still the page's title


def test_body_end_is_before_the_last_body_end_tag():
    config = TrackerConfig(**{**CONFIG.__dict__, "position": "body-end"})
    before, after = around_bar(inject(MESSY, config, URL, "T"))
    assert before.endswith("<footer>\u00a9</footer>\r\n") and after == "</BODY>\r\n</HTML>\r\n"


@pytest.mark.parametrize(
    ("page", "before", "after"),
    [
        (PLAIN, "<p>Only a paragraph.</p>", "</body></html>"),  # no h1, no article or main: end of body
        (FRAGMENT_ONLY, "<h1>Just a fragment</h1>", "<p>no html, head or body</p>"),
        (UNCLOSED, "<main><p>text", ""),  # nothing is closed: the end of the document
    ],
)
def test_fallbacks(page, before, after):
    found_before, found_after = around_bar(inject(page, CONFIG, URL, "T"))
    assert found_before.endswith(before) and found_after == after


def test_head_tags_go_before_the_first_stylesheet_so_the_site_can_override():
    out = inject(MESSY, CONFIG, URL, "T")
    assert out.index(head_tags(CONFIG)) + len(head_tags(CONFIG)) == out.index("<LINK REL=StyleSheet")
    out = inject(HEADLESS, CONFIG, URL, "T")
    assert out.startswith("<!doctype html><html>" + head_tags(CONFIG) + "<body>")
    out = inject(PLAIN, CONFIG, URL, "T")
    assert head_tags(CONFIG) + "</head>" in out


def test_no_inline_script_or_style_is_added():
    added = BeautifulSoup(head_tags(CONFIG) + share_bar(CONFIG, URL, "T"), "html.parser")
    for script in added.find_all("script"):
        assert script["src"] and script.has_attr("defer") and not script.string
    assert added.find("style") is None
    for tag in added.find_all(True):
        assert "style" not in tag.attrs and not any(a.startswith("on") for a in tag.attrs), tag.name


def test_configuration_travels_as_data_attributes():
    config = TrackerConfig(
        **{
            **CONFIG.__dict__,
            "copy_tracking": False,
            "address_bar": False,
            "address_bar_home": True,
            "home_path": "/docs/",
            "cookieless": True,
            "respect_dnt": True,
            "query_mode": True,
        }
    )
    script = BeautifulSoup(head_tags(config), "html.parser").script
    assert script["data-collector"] == "/-/darksocial/collect" and script["data-site"] == "example"
    assert script["data-home"] == "/docs/"
    for flag in ("data-no-copy", "data-no-ab", "data-ab-home", "data-cookieless", "data-dnt", "data-query"):
        assert script.has_attr(flag), flag
    defaults = BeautifulSoup(head_tags(CONFIG), "html.parser").script
    assert not any(a in defaults.attrs for a in ("data-no-copy", "data-no-ab", "data-cookieless", "data-dnt",
                                                 "data-strip"))


def test_extra_strip_params_reach_the_tracker_as_an_alternation():
    config = TrackerConfig(**{**CONFIG.__dict__, "strip_params": ("ref", "src_*", "a.b")})
    assert BeautifulSoup(head_tags(config), "html.parser").script["data-strip"] == r"ref|src_.*|a\.b"


def test_hostile_title_stays_inert_in_a_whole_page():
    evil = '"><script>alert(1)</script>'
    page = f"<html><head><title>{evil.replace('<', '&lt;')}</title></head><body><h1>x</h1></body></html>"
    out = inject(page, CONFIG, URL)  # the title comes from the page itself
    scripts = BeautifulSoup(out, "html.parser").find_all("script")
    assert len(scripts) == 1 and scripts[0]["src"] == "/s/ds.js"
    assert "alert" in out and "<script>alert" not in out


def test_opt_out_leaves_the_page_untouched():
    page = PLAIN.replace("<title>", '<meta name="darksocial" content="off"><title>')
    assert is_opted_out(page)
    assert inject(page, CONFIG, URL, "T") is page
    assert is_opted_out(page.replace('content="off"', "CONTENT=' OFF '").replace("name=", "NAME="))
    assert not is_opted_out(PLAIN)
    assert not is_opted_out(page.replace('content="off"', 'content="on"'))
    commented = PLAIN.replace("<title>", '<!-- <meta name="darksocial" content="off"> --><title>')
    assert not is_opted_out(commented) and inject(commented, CONFIG, URL, "T") != commented


@pytest.mark.parametrize("meta", ['<meta http-equiv="refresh" content="0; url=../new/">',
                                  "<META HTTP-EQUIV='Refresh' CONTENT='0;URL=https://example.org/new/'>"])
def test_a_redirect_stub_is_left_untouched(meta):
    # mkdocs-redirects' stubs and Material's redirect template: the page is gone at once, no story to share.
    page = PLAIN.replace("<title>", meta + "<title>")
    assert is_opted_out(page) and inject(page, CONFIG, URL, "T") is page


def test_a_page_that_refreshes_itself_is_a_page_like_any_other():
    page = PLAIN.replace("<title>", '<meta http-equiv="refresh" content="300"><title>')
    assert not is_opted_out(page) and inject(page, CONFIG, URL, "T") != page


def test_existing_parts_are_not_added_twice():
    # A template that already renders the bar itself only gets the head tags.
    page = PLAIN.replace("<p>", share_bar(CONFIG, URL, "T") + "<p>")
    out = inject(page, CONFIG, URL, "T")
    assert out.count('class="ds-bar"') == 1 and out.count(head_tags(CONFIG)) == 1


def test_page_url_and_title_default_to_the_page():
    page = PLAIN.replace("<title>T</title>", f'<title> My  story </title><link rel="canonical" href="{URL}">')
    out = inject(page, CONFIG)
    assert share_bar(CONFIG, URL, "My story") in out
    with pytest.raises(InjectError, match="page_url"):
        inject(PLAIN, CONFIG)


@pytest.mark.parametrize("collector", ["/-/darksocial/collect", "https://stats.example.org/-/darksocial/collect"])
def test_the_collector_is_root_relative_or_absolute(collector):
    assert TrackerConfig(collector=collector, site="example", script_url="ds.js", css_url="ds.css").collector


def test_a_page_relative_collector_is_refused_with_the_fix():
    with pytest.raises(InjectError, match=r"make it root-relative \('/collect'\) or absolute"):
        TrackerConfig(collector="collect", site="example", script_url="ds.js", css_url="ds.css")
