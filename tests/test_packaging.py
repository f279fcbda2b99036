"""The sdist and the wheel, built the way a release is (`python -m build`), and what is in them."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import trove_classifiers

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"darksocial", "mkdocs_darksocial", "reporting", "wagtail_darksocial"}
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "node_modules", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".ruff_cache", "darksocial-demo")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(sdist, wheel) built from a copy of the working tree with a demo's output lying around in it."""
    tree = tmp_path_factory.mktemp("tree") / "darksocial"
    shutil.copytree(REPO, tree, ignore=NOT_SOURCE, symlinks=True)
    stray = tree / "darksocial-demo" / "site"  # what `make demo` leaves in a checkout
    stray.mkdir(parents=True)
    (stray / "index.html").write_text("<h1>demo</h1>")
    (tree / "darksocial-demo" / "darksocial.db").write_bytes(b"")
    dist = tmp_path_factory.mktemp("dist")
    # The default: the sdist first, then the wheel built from the unpacked sdist, which proves the sdist complete.
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(tree)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (sdist,) = dist.glob("darksocial-*.tar.gz")
    (wheel,) = dist.glob("darksocial-*.whl")
    return tree, sdist, wheel


def package_files(tree: Path) -> set[str]:
    return {str(path.relative_to(tree)) for package in PACKAGES for path in (tree / package).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts}


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_wheel_holds_only_the_project_packages_with_their_data(built):
    tree, _, wheel = built
    names = wheel_names(wheel)
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == PACKAGES
    # Every module and data file of the tree is in the wheel (no subpackage or template forgotten); the tracker's
    # readable source is for the sdist only.
    shipped = {name for name in package_files(tree) if not name.startswith("darksocial/static/src/")}
    assert shipped - set(names) == set()
    for data in ("darksocial/static/darksocial.js", "darksocial/static/darksocial.css",
                 "darksocial/demo_data/mkdocs/mkdocs.yml", "darksocial/demo_data/mkdocs/docs/index.md"):
        assert data in names
    demo_pages = {str(path.relative_to(tree)) for path in (tree / "darksocial" / "demo_data").rglob("*")
                  if path.is_file()}
    assert demo_pages <= set(names)
    assert any(name.startswith("reporting/templates/") for name in names)
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert not any(name.startswith(("tests/", "bench/", "demo_site/", "node_modules/")) for name in names)


def test_wheel_metadata_declares_license_frameworks_and_bounds(built):
    _, _, wheel = built
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_name))
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Author"] or metadata["Author-email"]
    classifiers = metadata.get_all("Classifier")
    assert not [c for c in classifiers if c not in trove_classifiers.classifiers]
    for framework in ("Datasette", "Django", "MkDocs", "Wagtail"):
        assert f"Framework :: {framework}" in classifiers
    requires = metadata.get_all("Requires-Dist")
    (datasette,) = [r for r in requires if r.startswith("datasette>") or r.startswith("datasette<")]
    assert "<1.0" in datasette  # the 1.0 alphas change permissions, canned queries and CSRF
    assert not [r for r in requires if r.startswith("datasette-dashboards")]  # the dashboard is our own page


def test_sdist_carries_the_readable_tracker_and_what_rebuilds_it(built):
    tree, sdist, _ = built
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in ("LICENSE", "README.md", "pyproject.toml", "MANIFEST.in", "package.json", "package-lock.json",
                   "darksocial/static/src/darksocial.js", "darksocial/static/darksocial.js",
                   "darksocial/demo_data/mkdocs/mkdocs.yml"):
        assert needed in names, needed
    assert package_files(tree) - names == set()
    assert not any(name.startswith(("darksocial-demo/", "node_modules/", ".venv/")) for name in names)


def test_the_installed_wheel_builds_the_demo_site(built, tmp_path):
    """From the wheel's files alone (not the checkout), the demo finds its site and MkDocs builds it."""
    _, _, wheel = built
    installed = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    code = ("import sys, pathlib; from darksocial import demo; "
            "assert pathlib.Path(demo.__file__).is_relative_to(sys.argv[1]), demo.__file__; "
            "site = demo.build_site(pathlib.Path(sys.argv[2]), 'http://127.0.0.1:8000/', "
            "'http://127.0.0.1:8001/-/darksocial/collect'); print(site)")
    done = subprocess.run([sys.executable, "-c", code, str(installed), str(tmp_path / "out")], cwd=tmp_path,
                          env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "site" / "darksocial-pages.json").is_file()
