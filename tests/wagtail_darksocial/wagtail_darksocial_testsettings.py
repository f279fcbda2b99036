"""Test settings: the demo project (a real Wagtail site with the app installed) plus test-only templates."""

import pathlib
import tempfile

from demo_project.settings import *  # noqa: F403
from demo_project.settings import DATABASES, TEMPLATES

TEMPLATES[0]["DIRS"] = [pathlib.Path(__file__).parent / "templates"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins
DARKSOCIAL_DATABASE = None  # each test gets its own file (conftest)
SCRATCH = pathlib.Path(tempfile.mkdtemp(prefix="wagtail-darksocial-"))
MEDIA_ROOT = SCRATCH / "media"  # uploaded test documents stay out of the checkout
# A file, not SQLite's shared in-memory database: the live server (browser test) answers from other threads.
DATABASES["default"]["TEST"] = {"NAME": str(SCRATCH / "test.db")}
