"""Workers forked from the preloaded parent (devkit/sandbox/zygote.py) keep Lambda's isolation.

Lambda runs each function in its own execution environment: its own process, the function's folder
(`LAMBDA_TASK_ROOT`) as working directory and first import path, only the function's environment
variables ("Using Lambda environment variables" and "Lambda execution environment" in the AWS Lambda
developer guide). A function that ships its own copy of a library (in its package, as Lambda's
"Working with .zip file archives for Python" describes) uses that copy: locally it gets a fresh
interpreter. The preloaded parent itself has no AWS counterpart.
"""

import json
import os
import signal
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.support.repo import ROOT
from tests.support.sandbox import RunningSandbox, copy_fixture, wait_until

# Set in the sandbox's own environment: a worker must see none of them.
SANDBOX_ONLY = {"LEAKY_SECRET": "not-for-handlers", "PYTHONPATH": "/nowhere"}


def ask(sandbox, path: str) -> dict:
    status, _, body = sandbox.get(path)
    assert status == 200, body
    return json.loads(body)


@pytest.fixture(scope="module")
def preload(tmp_path_factory):
    app = copy_fixture("preload", tmp_path_factory.mktemp("app"))
    sandbox = RunningSandbox(app, env=SANDBOX_ONLY)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def worker_folders(sandbox) -> set[str]:
    """The function folders the sandbox's workers run in now (forked or fresh interpreters)."""
    folders = set()
    for child in psutil.Process(sandbox.process.pid).children(recursive=True):
        try:
            folder = Path(child.cwd())
        except psutil.Error:
            continue
        if folder.parent.parent == sandbox.app_dir / "src":
            folders.add(folder.name)
    return folders


def test_only_a_first_visits_functions_start_with_the_sandbox_and_another_forks_on_its_first_call(preload):
    """Lambda starts a function's execution environment on its first invocation ("Lambda execution
    environment", Init phase, in the AWS Lambda developer guide); the sandbox starts those a first visit
    needs ahead (its GET routes; a WebSocket app's `$connect` and `$default`), the others as Lambda does.
    The one started late is still forked from the preloaded parent and sees only its own environment."""
    first = {"get-env", "get-other", "get-page", "get-pinned", "get-vendored"}
    wait_until(lambda: worker_folders(preload) == first, 30, "the GET routes' workers to start")
    assert "post-late" not in worker_folders(preload), "a POST route's worker started before its first call"
    request = urllib.request.Request(preload.url + "/late", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=20) as response:
        late = json.loads(response.read())
    env = ask(preload, "/env")
    assert late["preloaded"] and late["ppid"] == env["ppid"] != preload.process.pid, "forked from the same parent"
    assert late["cwd"] == late["path0"] == str(preload.app_dir / "src" / "http" / "post-late")
    assert late["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "preload-testing-http-post-late"
    assert late["env"]["AWS_ACCESS_KEY_ID"] == "sandbox-http-post-late"
    assert not SANDBOX_ONLY.keys() & late["env"].keys()
    assert late["threads"] == 1 and late["sid"] == late["pid"]
    assert "post-late" in worker_folders(preload)


def test_a_function_making_no_aws_client_is_forked_early_and_sees_only_its_own_environment(preload):
    """No AWS source (the preloaded parent is the sandbox's own): a function without an AWS client in
    its declaration (a page) may be forked before the parent has loaded boto3; whenever it was forked,
    it is a worker of the same parent with only its own function's environment, folder and session."""
    page, env = ask(preload, "/page"), ask(preload, "/env")
    assert page["ppid"] == env["ppid"] != preload.process.pid
    assert page["cwd"] == page["path0"] == str(preload.app_dir / "src" / "http" / "get-page")
    assert page["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "preload-testing-http-get-page"
    assert not SANDBOX_ONLY.keys() & page["env"].keys()
    assert page["threads"] == 1 and page["sid"] == page["pid"] and page["tz"] == "UTC"


def test_a_forked_worker_sees_only_its_own_functions_environment_and_folder(preload):
    seen, other = ask(preload, "/env"), ask(preload, "/other")
    root = preload.app_dir / "src" / "http"
    for answer, folder, name in ((seen, "get-env", "http-get-env"), (other, "get-other", "http-get-other")):
        assert answer["preloaded"], "boto3 was imported before the handler: the worker was forked"
        assert answer["cwd"] == answer["path0"] == answer["env"]["LAMBDA_TASK_ROOT"] == str(root / folder)
        assert answer["env"]["AWS_LAMBDA_FUNCTION_NAME"] == f"preload-testing-{name}"
        assert not SANDBOX_ONLY.keys() & answer["env"].keys()
        assert answer["env"]["AWS_ACCESS_KEY_ID"] != os.environ.get("AWS_ACCESS_KEY_ID")
        assert answer["threads"] == 1, "no thread of the parent's survives the fork"
        assert answer["sid"] == answer["pid"], "its own session and process group"
        assert answer["tz"] == "UTC"
        # boto3's default session was made, data loaded, in the parent; the client's region and keys are
        # still the worker's own (each function's key names it).
        assert answer["had_session"]
        assert answer["client_region"] == answer["env"]["AWS_REGION"]
        assert answer["client_key"] == answer["env"]["AWS_ACCESS_KEY_ID"] == f"sandbox-{name}"
    assert seen["ppid"] == other["ppid"] != preload.process.pid, "both forked from the same parent"
    assert seen["random"] != other["random"], "each worker has its own random state"
    assert seen["env"]["AWS_LAMBDA_LOG_STREAM_NAME"] != other["env"]["AWS_LAMBDA_LOG_STREAM_NAME"]


def test_a_function_pinning_its_own_boto3_runs_in_a_fresh_interpreter(preload):
    pinned = ask(preload, "/pinned")
    assert not pinned["preloaded"], "boto3 was not imported before its handler"
    assert pinned["ppid"] == preload.process.pid, "started by the sandbox itself"
    assert not SANDBOX_ONLY.keys() & pinned["env"].keys()
    preload.wait_for_output("http-get-pinned starts its workers as fresh interpreters: requirements.txt:1 asks for boto3==1.0.0")


def test_a_function_vendoring_jinja2_runs_in_a_fresh_interpreter_with_its_copy(preload):
    vendored = ask(preload, "/vendored")
    assert vendored["jinja2_vendored"] and not vendored["preloaded"]
    preload.wait_for_output("http-get-vendored starts its workers as fresh interpreters: it vendors its own jinja2")
    assert "http-get-env starts its workers as fresh" not in preload.output()


def test_hot_reload_forks_from_the_same_parent_and_a_dead_parent_is_restarted(preload):
    handler = preload.app_dir / "src" / "http" / "get-env" / "index.py"
    before = ask(preload, "/env")
    handler.write_text(handler.read_text().replace('"version": "one"', '"version": "two"'))
    wait_until(lambda: ask(preload, "/env")["version"] == "two", 10, "the edit to be served")
    after = ask(preload, "/env")
    assert after["preloaded"] and after["ppid"] == before["ppid"] and after["pid"] != before["pid"]

    os.kill(after["ppid"], signal.SIGKILL)
    preload.wait_for_output("the preloaded worker parent exited (status -9): restarting it")
    assert ask(preload, "/env")["version"] == "two", "the running worker outlives its parent"
    handler.write_text(handler.read_text().replace('"version": "two"', '"version": "three"'))
    wait_until(lambda: ask(preload, "/env")["version"] == "three", 10, "the next edit to be served")
    restarted = ask(preload, "/env")
    assert restarted["preloaded"] and restarted["ppid"] not in (after["ppid"], preload.process.pid)


def test_no_worker_starts_once_the_launcher_is_closing(tmp_path):
    """No AWS source (the sandbox's own shutdown): a worker asked for while the sandbox stops, or one
    still starting when it began to stop, is refused or killed, never left running; a sandbox once
    waited for ever on a worker started after its pools had been stopped."""
    import asyncio

    import psutil

    from devkit.sandbox.zygote import Launcher, LauncherClosed

    before = {p.pid for p in psutil.Process().children(recursive=True)}  # this module's sandbox, say

    async def scenario() -> set[int]:
        launcher = Launcher(None, lambda line: None)  # fresh interpreters: a start takes a while
        starting = asyncio.ensure_future(launcher.start("f", tmp_path, dict(os.environ)))
        await asyncio.sleep(0)  # the start is under way
        await launcher.close()
        with pytest.raises(LauncherClosed):
            await starting
        with pytest.raises(LauncherClosed):
            await launcher.start("f", tmp_path, dict(os.environ))
        return {p.pid for p in psutil.Process().children(recursive=True)} - before

    assert asyncio.run(scenario()) == set()


def test_a_worker_whose_environment_names_another_profile_drops_the_parents_boto3_session(monkeypatch):
    """No AWS source (the parent's session is the sandbox's own): botocore read the profile's config
    and credentials files and the data path while the parent made its session, so a worker whose
    environment names other ones makes its own session, as a fresh interpreter would."""
    import importlib.util

    import boto3

    spec = importlib.util.spec_from_file_location("zygote_main_under_test", ROOT / "devkit" / "sandbox" / "zygote_main.py")
    zygote_main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zygote_main)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    made_with = zygote_main.warm_boto3(["dynamodb", "no-such-service"])
    assert boto3.DEFAULT_SESSION is not None and made_with["AWS_PROFILE"] is None
    zygote_main._keep_or_drop_session(made_with)
    assert boto3.DEFAULT_SESSION is not None, "the same environment keeps it"
    monkeypatch.setenv("AWS_PROFILE", "another")
    zygote_main._keep_or_drop_session(made_with)
    assert boto3.DEFAULT_SESSION is None, "another profile drops it"


def test_an_early_fork_is_refused_once_the_parent_has_loaded_what_the_function_brings(tmp_path):
    """No AWS source (the preloaded parent is the sandbox's own): a function forked before the parent has
    loaded everything must not find a preloaded copy of a library it brings itself. The parent refuses
    an early request naming a module it has loaded (Jinja2, in its first stage), and every early request
    once it has loaded everything; the sandbox then checks the function against all of it."""
    import asyncio

    from devkit.sandbox.environment import PASSED_THROUGH
    from devkit.sandbox.zygote import Again, Zygote

    async def scenario() -> None:
        zygote = Zygote({k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}, lambda line: None)
        try:
            assert await zygote.ready()
            assert "jinja2" in zygote.modules and "boto3" not in zygote.modules, "the first stage: no boto3"
            with pytest.raises(Again):
                await zygote.spawn({}, tmp_path, own=["index", "jinja2"])
            await asyncio.wait_for(zygote.complete.wait(), 30)
            assert "boto3" in zygote.modules
            with pytest.raises(Again):
                await zygote.spawn({}, tmp_path, own=["index"])
        finally:
            await zygote.close()

    asyncio.run(scenario())
