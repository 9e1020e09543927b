"""The reliability suite's fixtures: the starter app and the faults fixture app in the real sandbox.
Sizes and helpers are in tests/support/reliability.py."""

import pytest

from tests.support.reliability import Sandbox, start_fixture
from tests.support.sandbox import app_fixture

app = app_fixture("module", kind=Sandbox)  # the starter app in the real sandbox, shared by a module's tests


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    # Four workers, so the fault tests can watch one die among warm neighbours: four calls at once get
    # four workers when none waits for a busy one (by default fast calls share two).
    sandbox = start_fixture("faults", tmp_path_factory.mktemp("faults"), env={"SANDBOX_WORKER_CONCURRENCY": "4", "SANDBOX_WORKER_SCALE_AFTER_SECONDS": "0"})
    try:
        yield sandbox
    finally:
        sandbox.stop()
