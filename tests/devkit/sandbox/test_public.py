"""`/_static/*` in the sandbox serves exactly what deploy's static function will (devkit/public.py).

Sources: Lambda quotas, "Invocation payload (request and response): 6 MB each for request and
response (synchronous)"; a function whose response exceeds it fails, and API Gateway's HTTP API then
answers 500 `{"message":"Internal Server Error"}` (API Gateway developer guide, "Troubleshooting issues
with HTTP API Lambda integrations"). The static function sends every file base64-encoded.
"""

from __future__ import annotations

import pytest

from devkit import public
from tests.support.sandbox import RunningSandbox, copy_fixture


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("app")
    app = copy_fixture("faults", base)
    files = app / "public"
    (files / ".env").write_text("SECRET=1\n")
    (files / ".well-known").mkdir()
    (files / ".well-known" / "security.txt").write_text("contact\n")
    (files / "tests").mkdir()
    (files / "tests" / "spec.js").write_text("// served: deploy publishes it too\n")
    (files / "largest.bin").write_bytes(b"\0" * public.max_file_bytes())
    (files / "too-large.bin").write_bytes(b"\0" * (public.max_file_bytes() + 1))
    (base / "outside.txt").write_text("not public\n")
    (files / "link-out.txt").symlink_to(base / "outside.txt")
    sandbox = RunningSandbox(app, args=("--no-reload",))
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_lambdas_6_mb_response_limit_is_6_mebibytes():
    """Lambda quotas ("Invocation payload (request and response): 6 MB each for request and response
    (synchronous)") and the Invoke API reference ("the maximum payload size is 6 MB") count in binary
    megabytes: 6 x 1,048,576 = 6,291,456 bytes, not 6,000,000. (The runtime's own error names 6,291,556,
    "Response payload size exceeded maximum allowed payload size (6291556 bytes)", reported in
    DataBiosphere/azul#8258; the kit keeps the documented figure, 100 bytes on the safe side.)"""
    assert public.LAMBDA_RESPONSE_BYTES == 6_291_456
    assert public.max_file_bytes() == 4_718_208  # the figure README.md and docs/reliability.md quote


@pytest.mark.parametrize("path", ["/_static/.env", "/_static/.well-known/security.txt", "/_static/link-out.txt"])
def test_hidden_paths_and_links_out_of_public_are_404(served, path):
    assert served.get(path)[0] == 404


def test_what_deploy_publishes_is_served(served):
    status, _, body = served.get("/_static/tests/spec.js")
    assert status == 200 and body.startswith(b"// served")


def test_the_largest_file_lambda_can_answer_is_served_whole(served):
    status, headers, body = served.get("/_static/largest.bin")
    assert status == 200 and len(body) == public.max_file_bytes() == int(headers["Content-Length"])
    assert public.response_bytes(len(body)) <= public.LAMBDA_RESPONSE_BYTES


def test_one_byte_more_is_answered_as_the_deployed_function_would_and_warned_at_start(served):
    status, _, body = served.get("/_static/too-large.bin")
    assert (status, body) == (500, b'{"message": "Internal Server Error"}')
    assert f"warning: public/too-large.bin ({public.max_file_bytes() + 1:,} bytes) is too large" in served.output()
    assert "public/largest.bin" not in served.output().split("sandbox ready")[0]
