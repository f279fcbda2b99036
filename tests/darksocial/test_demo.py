"""`darksocial demo` end to end: build, simulate through the collector, attribute (without serving forever)."""

import sqlite3

from bs4 import BeautifulSoup
from click.testing import CliRunner

from darksocial.cli import cli


def test_demo_builds_site_collects_and_attributes(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--no-wait", "--no-browser", "--dir", str(tmp_path),
                                      "--site-port", "0", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert "acknowledged by the collector" in result.output
    assert "sign in on this machine (one-time link)" in result.output
    acknowledged, sent = [int(word.replace(",", "")) for word in
                          result.output.split("past events ingested, ")[1].split(" events")[0].split(" of today's ")]
    assert acknowledged == sent > 0

    story = (tmp_path / "site" / "stories" / "ci-in-half" / "index.html").read_text()
    soup = BeautifulSoup(story, "html.parser")
    assert len(soup.select("nav[aria-label]")) == 1 and len(soup.select("script[src$='darksocial.js']")) == 1

    conn = sqlite3.connect(tmp_path / "darksocial.db")
    events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    visits, tracked = conn.execute("SELECT count(*), sum(tracked) FROM visits").fetchone()
    assert events > 500 and visits > 300 and tracked > 50
    # Both ambassadors are credited by name, and the past days spread over the window.
    named = {row[0] for row in conn.execute("SELECT name FROM influencers WHERE name IS NOT NULL")}
    assert {"Priya Natarajan", "Marco Rossi"} <= named
    assert conn.execute("SELECT count(DISTINCT date) FROM visits").fetchone()[0] >= 20
    # Titles come from the imported manifest.
    assert conn.execute("SELECT count(*) FROM pages WHERE title IS NOT NULL").fetchone()[0] >= 5
