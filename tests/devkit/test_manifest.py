"""The manifest reader: Architect's grammar, and every error it names (the starter app's own app.arc as it
reads it is tests/app/test_manifest.py)."""

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit import arc, contract, grants, manifest
from devkit.manifest import Key, ManifestError
from tests.support.apps import write_app
from tests.support.repo import ROOT


def test_comments_blank_lines_and_defaults(tmp_path):
    path = write_app(
        tmp_path,
        """
        # a comment
        @app   # trailing comment
        demo

        @http
        get /
    """,
        functions=("http/get-index",),
    )
    app = manifest.load(path)
    assert app.app == "demo" and app.aws == manifest.AwsSettings(**manifest.DEFAULT_AWS)
    assert app.ws_functions == () and app.tables == ()


def test_config_arc_overrides_timeout_and_memory_per_function(tmp_path):
    path = write_app(tmp_path, "@app\ndemo\n@ws\n")
    (tmp_path / "src/ws/default/config.arc").write_text("@aws\ntimeout 30\nmemory 1024\n")
    app = manifest.load(path)
    assert (app.function("$default").timeout, app.function("$default").memory) == (30, 1024)
    assert (app.function("$connect").timeout, app.function("$connect").memory) == (10, 256)


def test_handler_file_follows_architects_preference(tmp_path):
    path = write_app(tmp_path, "@app\ndemo\n@ws\n")
    (tmp_path / "src/ws/default/lambda.py").write_text("def handler(e, c): pass\n")
    assert manifest.load(path).function("$default").handler == "lambda.handler"


@pytest.mark.parametrize(
    "route, folder, key",
    [
        ("get /", "get-index", "GET /"),
        ("post /messages", "post-messages", "POST /messages"),
        ("get /rooms/:room", "get-rooms-000room", "GET /rooms/{room}"),
        ("get /files/*", "get-files-catchall", "GET /files/{proxy+}"),
        ("any /api", "any-api", "ANY /api"),
    ],
)
def test_http_routes_map_to_architect_folders_and_api_gateway_keys(tmp_path, route, folder, key):
    path = write_app(tmp_path, f"@app\ndemo\n@http\n{route}\n", functions=(f"http/{folder}",))
    [function] = manifest.load(path).functions
    assert (function.name, function.route_key) == (folder, key)


def test_tables_with_sort_key_and_number_types(tmp_path):
    path = write_app(tmp_path, "@app\ndemo\n@tables\nscores\n  player *String\n  at **Number\n", functions=())
    [table] = manifest.load(path).tables
    assert (table.partition_key, table.sort_key, table.ttl_attribute) == (Key("player", "S"), Key("at", "N"), None)


@pytest.mark.parametrize(
    "arc, line, expected",
    [
        ("@http\nget /\n", None, "missing @app"),
        ("@app\nDemo\n", 2, "use lowercase letters"),
        ("@app\ndemo two\n", 2, "@app takes exactly one name"),
        ("@app\ndemo\n@tabels\nq\n", 3, "unknown pragma @tabels"),
        ("@app\ndemo\n@app\nother\n", 3, "@app appears twice"),
        ("@app\ndemo\n@http\nfetch /\n", 4, "HTTP method 'fetch'"),
        ("@app\ndemo\n@http\nget\n", 4, "@http expects '<method> <path>'"),
        ("@app\ndemo\n@http\nget no-slash\n", 4, "HTTP path 'no-slash'"),
        ("@app\ndemo\n@ws\n$connect\n", 4, "always present"),
        ("@app\ndemo\n@ws\nbad route\n", 4, "one route name per line"),
        ("@app\ndemo\n@tables\nt\n  id String\n", 5, "expected *String"),
        ("@app\ndemo\n@tables\nt\n  expires TTL\n", 4, "needs a partition key"),
        ("@app\ndemo\n@tables\nt\n  a *String\n  b *String\n", 6, "has a partition key already"),
        ("@app\ndemo\n@tables\nt\n   id *String\n", 5, "indent by exactly 2 spaces"),
        ("@app\ndemo\n@tables\nt\n\tid *String\n", 5, "not tabs"),
        ("@app\ndemo\n@aws\nruntime python2.7\n", 4, "runtime 'python2.7'"),
        ("@app\ndemo\n@aws\nmemory lots\n", 4, "memory (MB) 'lots'"),
        ("@app\ndemo\n@aws\ntimeout 901\n", 4, "from 1 to 900"),
        ("@app\ndemo\n@aws\nregion mars\n", 4, "expected an AWS region"),
        ("@app\ndemo\n@aws\nfavourite colour\n", 4, "unknown @aws setting 'favourite'"),
        ("@app\ndemo\n@aws\nthrottle-rate 0\n", 4, "throttle-rate (per second) '0': expected a whole number from 1 to 10000"),
        ("@app\ndemo\n@aws\nthrottle-rate 10001\n", 4, "from 1 to 10000"),
        ("@app\ndemo\n@aws\nthrottle-burst 5001\n", 4, "throttle-burst '5001': expected a whole number from 0 to 5000"),
        ("@app\ndemo\n@aws\naccess-logs yes\n", 4, "access-logs 'yes': expected true or false"),
        ("@app\ndemo\n@aws\nalarms ops\n", 4, "alarms 'ops': expected true, false or the email address"),
        ("@app\ndemo\n@tables\nt\n  id *String\n  PITR yes\n", 6, "PITR 'yes': expected true or false"),
        ("@app\ndemo\n@tables\nt\n  id *String\n  encrypt some-key\n", 6, "expected true, false or a KMS key ARN"),
        ("@app\ndemo\n@ws\n", None, "no handler in src/ws/connect/"),
        ("demo\n", 1, "expected a pragma such as @app before any entry"),
        ("@app\ndemo\n  @http\n", 3, "starts at column 1"),
    ],
)
def test_errors_name_the_file_the_line_and_what_was_expected(tmp_path, arc, line, expected):
    path = write_app(tmp_path, "", functions=())
    path.write_text(arc)
    with pytest.raises(ManifestError) as caught:
        manifest.load(path)
    assert caught.value.line == line
    assert expected in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_architects_pragmas_and_settings_this_kit_lacks_are_one_warning_each(tmp_path):
    """An Architect project loads as it is (Architect's own list: arc.codes reference, inventory 6.1.0)."""
    path = write_app(
        tmp_path,
        """
        @app
        demo
        @static
        folder public
        @plugins
        architect/plugin-foo
        @ws
        @tables
        things
          id *String
          PITR true
          stream true
        @aws
        profile work
        region eu-west-1
        @sandbox
        livereload true
    """,
    )
    (tmp_path / "src/ws/default/config.arc").write_text("@aws\ntimeout 20\npolicies\n  AmazonDynamoDBReadOnlyAccess\n")
    app = manifest.load(path)
    config = tmp_path / "src/ws/default/config.arc"
    assert app.warnings == (
        f"{path}:4: @static is Architect's; this kit does not implement it and ignores it",
        f"{path}:6: @plugins is Architect's; this kit does not implement it and ignores it",
        f"{path}:17: @sandbox is Architect's; this kit does not implement it and ignores it",
        f"{path}:15: @aws profile is Architect's; this kit does not implement it and ignores it",
        f"{path}:13: table option stream is Architect's; this kit does not implement it and ignores it",
        f"{config}:3: @aws policies is Architect's; this kit does not implement it and ignores it",
    )
    assert app.aws.region == "eu-west-1" and app.function("$default").timeout == 20
    assert app.tables[0].pitr is True  # PITR is honoured (docs/deploy.md), stream is not
    assert [t.name for t in app.tables] == ["things"] and app.tables[0].partition_key == Key("id", "S")


def test_a_missing_manifest_says_where_it_looked(tmp_path):
    with pytest.raises(ManifestError, match="no such file"):
        manifest.load(tmp_path / "app.arc")


@pytest.mark.parametrize("setting", ["region eu-west-1", "access-logs true", "alarms ops@example.com"])
def test_config_arc_may_not_change_app_wide_settings(tmp_path, setting):
    path = write_app(tmp_path, "@app\ndemo\n@ws\n")
    config = tmp_path / "src/ws/default/config.arc"
    config.write_text("@aws\n" + setting + "\n")
    with pytest.raises(ManifestError, match=f"^{config}:2: {setting.split()[0]} is set for the whole app in app.arc"):
        manifest.load(path)


def test_throttle_limits_for_the_app_and_per_function(tmp_path):
    """Keys Architect 12's inventory copies through without error (docs/deploy.md, throttling)."""
    path = write_app(tmp_path, "@app\ndemo\n@ws\n@aws\nthrottle-rate 10000\nthrottle-burst 0\n")
    (tmp_path / "src/ws/default/config.arc").write_text("@aws\nthrottle-rate 1\nthrottle-burst 5000\n")
    app = manifest.load(path)
    assert (app.aws.throttle_rate, app.aws.throttle_burst) == (10000, 0)
    assert (app.function("$default").throttle_rate, app.function("$default").throttle_burst) == (1, 5000)
    assert (app.function("$connect").throttle_rate, app.function("$connect").throttle_burst) == (10000, 0)


@pytest.mark.parametrize(
    "lines, pitr, encrypt",
    [
        ("", False, False),
        ("  PITR true\n  encrypt true\n", True, True),
        ("  pitr false\n  encrypt false\n", False, False),
        ("  PointInTimeRecovery true\n", True, False),
        ("  encrypt arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab\n", False, "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab"),
    ],
)
def test_architects_table_options(tmp_path, lines, pitr, encrypt):
    """The spellings Architect's inventory accepts under a table (arc.codes reference, @tables)."""
    path = write_app(tmp_path, "@app\ndemo\n@tables\nt\n  id *String\n" + lines, functions=())
    [table] = manifest.load(path).tables
    assert (table.pitr, table.encrypt) == (pitr, encrypt)


@pytest.mark.parametrize(
    "kind, timeout, warned",
    [
        ("ws/default", 29, False),
        ("ws/default", 30, True),
        ("http/get-index", 30, False),
        ("http/get-index", 31, True),
    ],
)
def test_a_function_outliving_api_gateways_wait_is_a_warning(tmp_path, kind, timeout, warned):
    """API Gateway stops waiting at 29 s (WebSocket) and 30 s (HTTP API): API Gateway quotas pages."""
    path = write_app(tmp_path, "@app\ndemo\n@http\nget /\n@ws\n")
    config = tmp_path / "src" / kind / "config.arc"
    config.write_text(f"# limits\n@aws\ntimeout {timeout}\n")
    warnings = manifest.load(path).warnings
    if not warned:
        assert warnings == ()
        return
    [warning] = warnings
    assert warning.startswith(f"{config}:3: ")
    assert f"has timeout {timeout} s" in warning and f"after {timeout - 1} s" in warning


def test_the_timeout_warning_points_at_app_arc_when_it_sets_the_timeout(tmp_path):
    path = write_app(tmp_path, "@app\ndemo\n@ws\n@aws\ntimeout 60\n", functions=("ws/connect", "ws/default", "ws/disconnect"))
    warnings = manifest.load(path).warnings
    assert [w.split(": ", 1)[0] for w in warnings] == [f"{path}:5"] * 2  # not $disconnect: no client waits on it
    assert not any("$disconnect" in w for w in warnings)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("@#  \n\t*-:/abcxyzAWS0123$TL")), max_size=200))
def test_any_text_either_parses_or_raises_manifest_error(text):
    """The reader never crashes with anything but a ManifestError, whatever the file holds."""
    try:
        arc.parse(text, "fuzz.arc", manifest.KNOWN_PRAGMAS)
    except ManifestError as error:
        assert str(error).startswith("fuzz.arc")


# @permissions in a function's config.arc (devkit/permissions.py turns it into a policy).

PERMISSIONS_APP = "@app\ndemo\n@ws\n@tables\nthings\n  id *String\n"


def with_permissions(tmp_path: Path, lines: str, files: dict | None = None) -> Path:
    path = write_app(tmp_path, PERMISSIONS_APP)
    (tmp_path / "src/ws/default/config.arc").write_text("@aws\ntimeout 10\n@permissions\n" + lines)
    for name, text in (files or {}).items():
        (tmp_path / "src/ws/default" / name).write_text(text)
    return path


def test_permissions_are_read_line_by_line(tmp_path):
    path = with_permissions(
        tmp_path,
        "table things Scan dynamodb:GetItem Scan\nmanage-connections POST GET\nstatements iam.json\n",
        {"iam.json": '[{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:${AWS::Partition}:sqs:*:*:q"}]'},
    )
    grants = manifest.load(path).function("$default").permissions
    assert grants.tables == (manifest.TableGrant("things", ("Scan", "GetItem")),)
    assert grants.manage_connections == ("POST", "GET")
    assert grants.statements == ({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:${AWS::Partition}:sqs:*:*:q"},)
    assert manifest.load(path).function("$connect").permissions is None  # undeclared: its kind's default


@pytest.mark.parametrize(
    "lines, files, where, message",
    [
        ("table stuff Scan\n", {}, "config.arc:4", "table 'stuff' is not declared in app.arc's @tables (declared: things)"),
        ("table things Scna\n", {}, "config.arc:4", "'Scna' is not a DynamoDB action; did you mean Scan?"),
        ("table things Frobnicate\n", {}, "config.arc:4", "'Frobnicate' is not a DynamoDB action; expected an operation such as"),
        ("table things TransactWriteItems\n", {}, "config.arc:4", "TransactWriteItems is not authorized by its own name"),
        ("table things\n", {}, "config.arc:4", "expected one of 'table <name> <Action> ...'"),
        ("table things Scan\ntable things GetItem\n", {}, "config.arc:5", "table 'things' has a line already"),
        ("connections PutItem\n", {}, "config.arc:4", "expected one of 'table <name> <Action> ...'"),
        ("manage-connections PUT\n", {}, "config.arc:4", "manage-connections 'PUT': expected POST, GET or DELETE"),
        ("manage-connections\n", {}, "config.arc:4", "expected one of"),
        ("table things Scan\n  GetItem\n", {}, "config.arc:5", "@permissions takes one grant per line, not indented lines"),
        ("statements missing.json\n", {}, "config.arc:4", "no such file missing.json next to config.arc"),
        ("statements iam.json\n", {"iam.json": "[{\n"}, "iam.json:2", "not valid JSON"),
        ("statements iam.json\n", {"iam.json": "{}"}, "iam.json", "expected a list of IAM statements"),
        (
            "statements iam.json\n",
            {"iam.json": '[{"Effect": "Maybe", "Action": "s3:GetObject", "Resource": "*"}]'},
            "iam.json",
            "statement 1: Effect must be Allow or Deny",
        ),
        (
            "statements iam.json\n",
            {"iam.json": '[{"Effect": "Allow", "Action": "*", "Resource": "*"}]'},
            "iam.json",
            "statement 1: Action: name each action as service:Action",
        ),
        (
            "statements iam.json\n",
            {"iam.json": '[{"Effect": "Allow", "Action": "s3:GetObject"}]'},
            "iam.json",
            "statement 1: expected exactly one of Resource or NotResource",
        ),
        (
            "statements iam.json\n",
            {"iam.json": '[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]'},
            "iam.json",
            "statement 1: Resource: write arn:${AWS::Partition}:...",
        ),
        (
            "statements iam.json\n",
            {"iam.json": '[{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]'},
            "iam.json",
            "statement 1: a role's statements name no Principal",
        ),
    ],
)
def test_each_malformed_permission_is_a_clear_error(tmp_path, lines, files, where, message):
    path = with_permissions(tmp_path, lines, files)
    with pytest.raises(ManifestError) as caught:
        manifest.load(path)
    assert str(caught.value).startswith(str(tmp_path / "src/ws/default" / where) + ": " + message)


def test_permissions_in_app_arc_say_where_they_go(tmp_path):
    path = write_app(tmp_path, "@app\ndemo\n@permissions\ntable things Scan\n")
    with pytest.raises(ManifestError, match=r"app.arc:3: @permissions goes in each function's own config.arc"):
        manifest.load(path)


def test_dynamodb_actions_come_from_botocores_model_file_without_importing_botocore():
    """The accepted actions are the operations of botocore's DynamoDB model (`botocore/data/dynamodb/
    2012-08-10/service-2.json.gz`, botocore's documented data layout), read as its own Loader reads them."""
    from botocore.loaders import Loader

    found = grants._model_file("dynamodb")
    assert found is not None and found.parent.parent.name == "dynamodb"
    assert found.parent.name == max(p.name for p in found.parent.parent.iterdir() if p.is_dir())  # the newest API version
    assert sorted(grants._model_operations("dynamodb")) == sorted(Loader().load_service_model("dynamodb", "service-2")["operations"])
    # botocore itself is not imported (it cost the sandbox's start 200-400 ms): checked in a fresh interpreter
    check = "import sys; from devkit import grants; grants.dynamodb_actions(); print('botocore' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True).stdout == "False\n"


@pytest.mark.parametrize(
    "lines, message",
    [
        ("table things Scna\n", "'Scna' is not a DynamoDB action; did you mean Scan?"),
        ("table things Frobnicate\n", "'Frobnicate' is not a DynamoDB action; expected an operation such as"),
    ],
)
def test_dynamodb_actions_fall_back_to_botocores_loader_when_the_layout_differs(tmp_path, monkeypatch, lines, message):
    direct = grants.dynamodb_actions()
    monkeypatch.setattr(grants, "_model_file", lambda service: None)  # botocore laid out otherwise
    grants.dynamodb_actions.cache_clear()
    try:
        assert grants.dynamodb_actions() == direct
        manifest.load(with_permissions(tmp_path / "ok", "table things Scan ConditionCheckItem\n"))
        with pytest.raises(ManifestError) as caught:
            manifest.load(with_permissions(tmp_path / "bad", lines))
        assert message in str(caught.value)
    finally:
        grants.dynamodb_actions.cache_clear()


def _queue_app(tmp_path: Path, queues: str, producer_permissions: str = "") -> Path:
    path = write_app(tmp_path, "@app\ndemo\n@http\npost /send\n@queues\n" + queues, functions=("http/post-send", "queues/jobs"))
    if producer_permissions:
        (tmp_path / "src/http/post-send/config.arc").write_text("@permissions\n" + producer_permissions)
    return path


def test_queues_take_architects_options_and_lambdas_event_source_settings(tmp_path):
    """Architect's inventory (`populate-lambda/_queues.js`): fifo, batchSize, batchWindow; the Lambda guide
    ("Using Lambda with Amazon SQS"): visibility timeout 6x the function's timeout, batchItemFailures."""
    app = manifest.load(_queue_app(tmp_path, "jobs\n  batchSize 20\n  batchWindow 2\n  maxReceives 3\n  maxConcurrency 4\n"))
    [queue] = app.queues
    assert (queue.batch_size, queue.batch_window, queue.max_receives, queue.max_concurrency) == (20, 2, 3, 4)
    assert queue.visibility_timeout == 60 and queue.report_failures and not queue.fifo  # 6 x the 10 s default timeout
    consumer = app.consumer(queue)
    assert (consumer.id, consumer.kind, consumer.route_key) == ("queue-jobs", "queue", "queue jobs")
    assert consumer.source_dir == tmp_path / "src/queues/jobs"
    assert contract.queue_variable("jobs") == "ARC_QUEUE_JOBS"


@pytest.mark.parametrize(
    ("queues", "line", "expected"),
    [
        ("jobs.v2\n", 6, "queue name 'jobs.v2': SQS allows only letters, digits, '-' and '_'"),
        ("j" * 70 + "\n", 6, "its dead-letter queue's name"),
        ("jobs\n  batchSize 10001\n", 7, "batchSize '10001': expected a whole number from 1 to 10000"),
        ("jobs\n  batchSize 0\n", 7, "batchSize '0': expected a whole number from 1 to 10000"),
        ("jobs\n  batchSize 11\n", 6, "batchSize 11 needs batchWindow of at least 1"),
        ("jobs\n  fifo true\n  batchSize 11\n  batchWindow 1\n", 6, "a FIFO queue's batchSize is at most 10"),
        ("jobs\n  maxConcurrency 1\n", 7, "maxConcurrency '1': expected a whole number from 2 to 1000"),
        ("jobs\n  visibilityTimeout 43201\n", 7, "expected a whole number from 0 to 43200"),
        ("jobs\n  visibilityTimeout 9\n", 6, "visibilityTimeout 9 is shorter than its consumer's timeout (10 s)"),
        ("jobs\n  fifo yes\n", 7, "fifo 'yes': expected true or false"),
        ("jobs\n  retries 3\n", 7, "unknown queue option 'retries'"),
    ],
)
def test_invalid_queue_declarations_name_their_line(tmp_path, queues, line, expected):
    """SQS's CreateQueue (QueueName: 1-80 of A-Za-z0-9-_, VisibilityTimeout 0-43,200) and the Lambda guide's
    event source limits (BatchSize 1-10,000, above 10 with a window; FIFO at most 10; MaximumConcurrency 2-1,000)."""
    with pytest.raises(ManifestError) as error:
        manifest.load(_queue_app(tmp_path, queues))
    assert f"app.arc:{line}:" in str(error.value) and expected in str(error.value)


def test_the_longest_queue_name_whose_dlq_fits_sqs_is_accepted(tmp_path):
    longest = 80 - len("demo-staging-") - len("-dlq")
    (tmp_path / "src/queues" / ("j" * longest)).mkdir(parents=True)
    (tmp_path / "src/queues" / ("j" * longest) / "index.py").write_text("def handler(event, context):\n    return None\n")
    assert manifest.load(_queue_app(tmp_path, "j" * longest + "\n")).queues[0].name == "j" * longest
    (tmp_path / "src/queues" / ("j" * (longest + 1))).mkdir(parents=True)
    (tmp_path / "src/queues" / ("j" * (longest + 1)) / "index.py").write_text("def handler(event, context):\n    return None\n")
    with pytest.raises(ManifestError, match="use at most 63"):
        manifest.load(_queue_app(tmp_path, "j" * (longest + 1) + "\n"))


def test_a_send_grant_names_a_declared_queue(tmp_path):
    app = manifest.load(_queue_app(tmp_path, "jobs\n", "queue jobs send\n"))
    assert app.function("POST /send").permissions.send_to == ("jobs",)
    with pytest.raises(ManifestError, match=r"config.arc:2: queue 'other' is not declared in app.arc's @queues \(declared: jobs\)"):
        manifest.load(_queue_app(tmp_path, "jobs\n", "queue other send\n"))
    with pytest.raises(ManifestError, match=r"config.arc:2: queue jobs 'receive': expected 'send'"):
        manifest.load(_queue_app(tmp_path, "jobs\n", "queue jobs receive\n"))
