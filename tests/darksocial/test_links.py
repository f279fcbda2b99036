"""`darksocial link create` and `darksocial attribute`, the way an operator meets them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from darksocial import store, tokens
from darksocial.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_link_create_prints_a_link_credited_by_name(scenario):
    store.register_site(scenario.db, "blog", ["https://blog.example"])
    result = run("link", "create", "--name", "Rosa Diaz", "--url", "https://blog.example/story", str(scenario.path))
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link.startswith("https://blog.example/story#ds=")
    ref = tokens.from_url(link)
    assert ref.channel is None and tokens.is_token(ref.token)
    row = scenario.row("links", token=ref.token)
    assert (row["name"], row["site"], row["url"]) == ("Rosa Diaz", "blog", "https://blog.example/story")

    scenario.view("B", came_with=ref.token)
    scenario.flush()
    result = run("attribute", str(scenario.path))
    assert result.exit_code == 0, result.output
    assert "attributed 1 events (full)" in result.output
    assert scenario.row("influencers", person="a:Rosa Diaz")["reach"] == 1
    assert "up to date" in run("attribute", str(scenario.path)).output


def test_link_with_channel_and_explicit_site(scenario):
    store.register_site(scenario.db, "blog", ["https://blog.example"])
    store.register_site(scenario.db, "shop", ["https://blog.example"])
    ambiguous = run("link", "create", "--name", "Jake", "--url", "https://blog.example/", str(scenario.path))
    assert ambiguous.exit_code == 2 and "--site" in ambiguous.output
    result = run("link", "create", "--name", "Jake", "--url", "https://blog.example/?a=1", "--site", "shop",
                 "--channel", "sms", str(scenario.path))
    assert result.exit_code == 0, result.output
    ref = tokens.from_url(result.output.strip())
    assert ref.channel == "sms"
    assert scenario.row("links", token=ref.token)["site"] == "shop"


def test_link_create_errors_name_the_fix(scenario):
    store.register_site(scenario.db, "blog", ["https://blog.example"])
    cases = [
        (["--name", "", "--url", "https://blog.example/"], "--name"),
        (["--name", "A", "--url", "/story"], "absolute http(s) URL"),
        (["--name", "A", "--url", "https://blog.example/#top"], "fragment"),
        (["--name", "A", "--url", "https://blog.example/", "--channel", "zz"], "channel code"),
        (["--name", "A", "--url", "https://other.example/"], "--site"),
        (["--name", "A", "--url", "https://blog.example/", "--site", "nope"], "site add"),
    ]
    for args, hint in cases:
        result = run("link", "create", *args, str(scenario.path))
        assert result.exit_code == 2, (args, result.output)
        assert hint in result.output, (args, result.output)
    assert scenario.rows("links") == []


def test_a_handed_out_link_carries_no_tracking_or_private_parameters(scenario):
    store.register_site(scenario.db, "blog", ["https://blog.example"])
    url = "https://blog.example/story?utm_source=x&page=2&fbclid=abc&email=a%40b.c"
    result = run("link", "create", "--name", "Rosa Diaz", "--url", url, str(scenario.path))
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link == f"https://blog.example/story?page=2#ds={tokens.from_url(link).token}"
    assert scenario.row("links", token=tokens.from_url(link).token)["url"] == "https://blog.example/story?page=2"


def test_rename_link_changes_the_credited_name_not_the_token(scenario):
    from darksocial import links

    store.register_site(scenario.db, "blog", ["https://blog.example"])
    token, link = links.create_link(scenario.db, "Rosa Diaz", "https://blog.example/story")
    assert links.rename_link(scenario.db, token, "  Rosa   Díaz-Ortiz ") == "Rosa Díaz-Ortiz"
    assert scenario.row("links", token=token)["name"] == "Rosa Díaz-Ortiz"
    assert [row["link"] for row in links.list_links(scenario.db)] == [link]  # the handed-out link still works

    scenario.view("B", came_with=token)
    scenario.attribute()
    assert scenario.row("influencers", person="a:Rosa Díaz-Ortiz")["reach"] == 1


def test_a_rename_after_the_clicks_reaches_the_next_incremental_run(scenario):
    from darksocial import links
    from darksocial.attribution import attribute

    from .attribution.test_attribution import snapshot

    store.register_site(scenario.db, "blog", ["https://blog.example"])
    other, _ = links.create_link(scenario.db, "Amy", "https://blog.example/other")
    token, _ = links.create_link(scenario.db, "Rosa Diaz", "https://blog.example/story")
    b = scenario.view("B", came_with=token)
    scenario.view("C", came_with=scenario.share("B", b, "wa"), channel="wa")
    scenario.view("D", came_with=other)
    scenario.attribute()
    for renamed, name in ((token, "Rosa Díaz-Ortiz"), (other, "Amy Santiago")):  # the newest link, then an older one
        links.rename_link(scenario.db, renamed, name)
        assert scenario.attribute()["mode"] == "incremental"
        assert scenario.row("influencers", person=f"a:{name}")["reach"] == 1
    assert scenario.rows("influencers", person="a:Rosa Diaz") == scenario.rows("influencers", person="a:Amy") == []
    credited = {r["sharer"] for r in scenario.rows("visits", click=1)}
    assert credited == {"a:Rosa Díaz-Ortiz", "a:Amy Santiago", "v:" + scenario.visitor("B")}
    incremental = snapshot(scenario.db)
    attribute(scenario.db, full=True)
    assert snapshot(scenario.db) == incremental


def test_rename_link_checks_the_name_as_create_does_and_names_unknown_tokens(scenario):
    from darksocial import events, links

    store.register_site(scenario.db, "blog", ["https://blog.example"])
    token, _link = links.create_link(scenario.db, "Jake", "https://blog.example/story")
    for bad in ("", "   ", "x" * (events.MAX_NAME + 1)):
        with pytest.raises(links.LinkError, match="--name must be 1-"):
            links.rename_link(scenario.db, token, bad)
    assert scenario.row("links", token=token)["name"] == "Jake"
    with pytest.raises(links.LinkError, match="no ambassador link has the token"):
        links.rename_link(scenario.db, tokens.mint(), "Amy")
