import pytest

from tests.support.sandbox import RunningSandbox, copy_fixture


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """The faults fixture app in the real sandbox, shared by a test module."""
    sandbox = RunningSandbox(copy_fixture("faults", tmp_path_factory.mktemp("app")), args=("--no-reload",))
    try:
        yield sandbox
    finally:
        sandbox.stop()
