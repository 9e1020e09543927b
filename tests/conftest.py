"""The whole suite's fixtures: devkit.testing's `sandbox` (serving app.arc at the root) for tests/app.
Helpers live in tests/support/ (the kit's tests) and tests/app/support.py (the app's)."""

pytest_plugins = ["devkit.testing"]
collect_ignore = ["fixtures"]  # fixture apps carry their own tests, run in a pytest of their own
