"""`darksocial demo --wagtail --no-wait`: the demo project migrates, its simulated traffic goes through the app's
own collector, and attribution fills the tables (a subprocess: it sets up Django with the demo's settings)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys

from darksocial import demo as core_demo
from wagtail_darksocial import demo as wagtail_demo


def test_the_wagtail_demo_runs_end_to_end(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "darksocial.cli", "demo", "--wagtail", "--no-wait", "--dir", str(tmp_path),
         "--site-port", "0", "--port", "0"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    posted = re.search(r"([\d,]+) of today's ([\d,]+) events acknowledged by the Wagtail app", result.stdout)
    assert posted and posted.group(1) == posted.group(2), result.stdout
    assert "13 pages registered as stories, 2 ambassador links" in result.stdout
    with sqlite3.connect(tmp_path / "wagtail" / "darksocial.db") as conn:
        assert conn.execute("SELECT count(*) FROM pages WHERE site = 'harbour-notes'").fetchone()[0] == 13
        names = {row[0] for row in conn.execute("SELECT name FROM influencers WHERE name IS NOT NULL")}
    assert {"Priya Natarajan", "Marco Rossi"} <= names
    # The demo marks its folder; a folder of an earlier run, from before the marker, is still recognised as its own.
    workdir = tmp_path / "wagtail"
    assert (workdir / core_demo.MARKER).is_file()
    (workdir / core_demo.MARKER).unlink()
    assert wagtail_demo.earlier_demo(workdir)


def test_the_wagtail_demo_leaves_a_project_database_it_did_not_create_alone(tmp_path):
    workdir = tmp_path / "wagtail"
    workdir.mkdir()
    project = workdir / "db.sqlite3"
    with sqlite3.connect(project) as conn:
        conn.execute("CREATE TABLE wagtailcore_page (id INTEGER PRIMARY KEY)")
    before = project.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "darksocial.cli", "demo", "--wagtail", "--no-wait", "--dir", str(tmp_path),
         "--site-port", "0", "--port", "0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert f"the folder {workdir} already holds db.sqlite3, which the demo did not create" in result.stderr
    assert "choose another --dir" in result.stderr and "Traceback" not in result.stderr
    assert project.read_bytes() == before and sorted(p.name for p in workdir.iterdir()) == ["db.sqlite3"]
