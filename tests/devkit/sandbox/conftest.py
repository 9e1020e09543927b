"""The sandbox tests' fixtures (helpers are in tests/support/)."""

from tests.support.sandbox import fixture_app

faults = fixture_app("faults")  # the faults fixture app in the real sandbox, shared by a test module
