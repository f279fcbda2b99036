"""Test settings: the demo project (a real Wagtail site with the app installed) plus test-only templates."""

import pathlib

from demo_project.settings import *  # noqa: F403
from demo_project.settings import TEMPLATES

TEMPLATES[0]["DIRS"] = [pathlib.Path(__file__).parent / "templates"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins
DARKSOCIAL_DATABASE = None  # each test gets its own file (conftest)
