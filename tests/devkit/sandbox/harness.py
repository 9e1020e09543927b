"""Moved to tests/support/sandbox.py; this name stays only so that branches written against it still
import. New tests import from tests.support.sandbox."""

from tests.support.sandbox import *  # noqa: F403
from tests.support.sandbox import DUMMY_AWS, FIXTURES, SHORT  # noqa: F401
