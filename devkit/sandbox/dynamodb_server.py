"""moto's DynamoDB and SQS server behind an IAM gate: the embedded services' child process.

Run as `python -m devkit.sandbox.dynamodb_server <sandbox pid> <denials fd> -H host -p port`, with the
functions' policies as JSON in `DEVKIT_IAM_POLICIES` (devkit/sandbox/iam.py; none: nothing is judged)
and the tables to create in `DEVKIT_TABLES` (devkit/sandbox/dynamodb.py `tables_to_json`), in the
region `DEVKIT_TABLES_REGION`, and the queues in `DEVKIT_QUEUES` (devkit/sandbox/queues.py). Once it serves and the tables exist it prints `ready` on stdout (or
`error: ...` and exits); it then keeps the tables (`keep_tables`: vanished ones recreated, expired
items swept every `DEVKIT_TTL_SWEEP_SECONDS`), reporting each as `{"log": line}` on the descriptor; once the queues exist (after `ready`), `{"queues": "ready"}`
(or `"error: ..."`).
A request signed with a function's access key is judged against its policy before moto sees it; a
denied one gets AWS's answer (HTTP 400, `AccessDeniedException`, AWS's message) and one JSON line
`{"function", "action", "resource"}` on the denials descriptor, which the sandbox turns into a log line.
New policies arrive as JSON lines on stdin (`follow_policies`). In front of that, `NoBrowsers` refuses every request a web page could make (see its docstring).
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.parse

from devkit.sandbox.iam import Evaluator, caller_key, denial_message

# A transaction is authorized item by item, each as its own action.
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def requested(operation: str, body: dict, table_arn) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs one DynamoDB request needs, as AWS authorizes them."""
    if isinstance(body.get("TransactItems"), list):
        return [
            ("dynamodb:" + (TRANSACT_ACTIONS.get(kind) or kind), table_arn(part.get("TableName", "")))
            for item in body["TransactItems"]
            if isinstance(item, dict)
            for kind, part in item.items()
            if isinstance(part, dict)
        ]
    if isinstance(body.get("RequestItems"), dict):
        return [("dynamodb:" + operation, table_arn(table)) for table in body["RequestItems"]]
    if isinstance(body.get("TableName"), str):
        resource = table_arn(body["TableName"])
        if isinstance(body.get("IndexName"), str):
            resource += "/index/" + body["IndexName"]
        return [("dynamodb:" + operation, resource)]
    for key in ("ResourceArn", "TableArn"):
        if isinstance(body.get(key), str):
            return [("dynamodb:" + operation, body[key])]
    return [("dynamodb:" + operation, "*")]  # account-wide calls: ListTables, DescribeLimits, ...


# SQS authorizes a batch call as its single action (SQS developer guide, "Amazon SQS API permissions:
# Actions and resource reference").
SQS_BATCH_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage", "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


def sqs_requested(operation: str, body: dict, queue_arn) -> list[tuple[str, str]]:
    """The (IAM action, queue ARN) pair one SQS request needs: the queue from `QueueUrl` (or
    `QueueName` for GetQueueUrl and CreateQueue); account-wide calls (ListQueues) on `*`."""
    action = "sqs:" + SQS_BATCH_ACTIONS.get(operation, operation)
    url = body.get("QueueUrl")
    if isinstance(url, str) and url:
        parts = urllib.parse.urlsplit(url).path.strip("/").split("/")
        return [(action, queue_arn(parts[-1], parts[0] if len(parts) > 1 else None))]
    if isinstance(body.get("QueueName"), str):
        return [(action, queue_arn(body["QueueName"], None))]
    return [(action, "*")]


def _sqs_call(environ, body: bytes) -> tuple[str, dict] | None:
    """(operation, parameters) of an SQS request in either of its protocols: JSON (`X-Amz-Target:
    AmazonSQS.<Op>`, botocore 1.31.57 and later) or the older query protocol (a form with `Action`)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("AmazonSQS."):
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            parsed = {}
        return target.split(".", 1)[1], parsed if isinstance(parsed, dict) else {}
    if "/sqs/aws4_request" in environ.get("HTTP_AUTHORIZATION", ""):
        form = dict(urllib.parse.parse_qsl(body.decode(errors="replace")))
        if "Action" in form:
            return form["Action"], form
    return None


class Gate:
    """WSGI middleware: judge each function-signed DynamoDB or SQS request, pass everything else to moto."""

    def __init__(self, app, policies: dict, report):
        self.app, self.report = app, report
        region, account = policies.get("region", ""), policies.get("account", "")
        prefix = f"arn:aws:dynamodb:{region}:{account}:table/"
        self.table_arn = lambda name: name if name.startswith("arn:") else prefix + name
        self.secret_arn = lambda name: f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-XXXXXX"
        self.queue_arn = lambda name, owner: f"arn:aws:sqs:{region}:{owner or account}:{name}"
        self.use(policies)

    def use(self, policies: dict) -> None:
        """Judge from now on by `policies` (a function's config.arc changed): replaced in one step."""
        self.callers = {key: (f["function"], f["principal"], Evaluator(f["policy"])) for key, f in policies.get("functions", {}).items()}

    def __call__(self, environ, start_response):
        caller = self.callers.get(caller_key(environ.get("HTTP_AUTHORIZATION", "")) or "")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if caller is not None and target.startswith("secretsmanager."):
            return self.judge_secret(environ, start_response, caller, target)
        if caller is None:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
        headers = []
        if target.startswith("DynamoDB_"):
            try:
                parsed = json.loads(body or b"{}")
            except ValueError:
                parsed = {}
            needed = requested(target.split(".", 1)[-1], parsed if isinstance(parsed, dict) else {}, self.table_arn)
        elif (sqs := _sqs_call(environ, body)) is not None:
            needed = sqs_requested(*sqs, self.queue_arn)
            # SQS speaks JSON for botocore but keeps its query-protocol error codes in this header
            # (botocore's model: "awsQueryCompatible"; botocore/parsers.py reads it): boto3 raises
            # ClientError with Code "AccessDenied", as it does against AWS.
            headers = [("x-amzn-query-error", "AccessDenied;Sender")]
        else:
            return self.app(environ, start_response)
        function, principal, evaluator = caller
        for action, resource in needed:
            decision = evaluator.decision(action, resource)
            if decision != "allowed":
                self.report({"function": function, "action": action, "resource": resource})
                answer = json.dumps(
                    {"__type": "com.amazon.coral.service#AccessDeniedException", "message": denial_message(principal, action, resource, decision)}
                ).encode()
                start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(answer))), *headers])
                return [answer]
        return self.app(environ, start_response)

    def judge_secret(self, environ, start_response, caller, target):
        """A Secrets Manager call, judged on the secret's ARN (a name stands for `<name>-` and Secrets
        Manager's six random characters, as IAM sees it); AWS's denial is 400 AccessDeniedException."""
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            secret = str(json.loads(body or b"{}").get("SecretId") or "*")
        except (ValueError, AttributeError):
            secret = "*"
        resource = secret if secret.startswith("arn:") or secret == "*" else self.secret_arn(secret)
        function, principal, evaluator = caller
        action = "secretsmanager:" + target.split(".", 1)[1]
        decision = evaluator.decision(action, resource)
        if decision == "allowed":
            return self.app(environ, start_response)
        self.report({"function": function, "action": action, "resource": resource})
        answer = json.dumps({"__type": "AccessDeniedException", "message": denial_message(principal, action, resource, decision)}).encode()
        start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(answer)))])
        return [answer]


class NoBrowsers:
    """WSGI middleware: the embedded database answers its own port's programs, never a browser.

    moto's server answers any Origin with permissive CORS, and `POST /moto-api/reset` is a simple
    request, so without this any page the developer visits could read, write and wipe the tables. So:
    a request carrying `Origin` (every cross-origin POST and every CORS request, preflights included)
    or `Sec-Fetch-Site` (sent by current browsers even on `<img>` GETs, which carry no Origin) gets 403;
    a `Host` other than this server's own loopback address and port gets 403 (DNS rebinding: a page on
    `evil.example` resolved to 127.0.0.1 is same-origin to itself, so it sends no Origin, but its Host
    is `evil.example:PORT`); and moto's `Access-Control-*` headers are removed from every answer.
    boto3 and urllib send neither header and a Host of `127.0.0.1:PORT`.
    """

    def __init__(self, app, host: str, port: int):
        self.app = app
        shown = f"[{host}]" if ":" in host else host
        self.hosts = {f"{shown}:{port}".lower(), f"localhost:{port}"}

    def __call__(self, environ, start_response):
        if "HTTP_ORIGIN" in environ or "HTTP_SEC_FETCH_SITE" in environ:
            return self.refuse(start_response, "the embedded DynamoDB answers no browser (the request carried Origin or Sec-Fetch-Site)")
        if environ.get("HTTP_HOST", "").lower() not in self.hosts:
            return self.refuse(start_response, f"the embedded DynamoDB answers only Host {' or '.join(sorted(self.hosts))}")

        def without_cors(status, headers, *exc_info):
            return start_response(status, [(k, v) for k, v in headers if not k.lower().startswith("access-control-")], *exc_info)

        return self.app(environ, without_cors)

    @staticmethod
    def refuse(start_response, message: str):
        body = json.dumps({"message": message}).encode()
        start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def main(argv: list[str]) -> None:
    # On Linux the server first asks for SIGTERM when the sandbox dies, even by SIGKILL
    # (PR_SET_PDEATHSIG = 1), and exits at once if the sandbox is already gone. Done here, in the
    # child: `preexec_fn` is unsafe when the sandbox starts the server from a thread.
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
        if os.getppid() != int(argv[0]):
            sys.exit(0)
    denials = int(argv[1])
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

    from moto.server import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    options = dict(zip(argv[2::2], argv[3::2], strict=True))  # flag, value pairs

    def report(denial: dict) -> None:
        os.write(denials, (json.dumps(denial) + "\n").encode())  # one write under PIPE_BUF: never interleaved

    app = DomainDispatcherApplication(create_backend_app)
    policies = json.loads(os.environ.get("DEVKIT_IAM_POLICIES") or "{}")
    host, port = options["-H"], int(options["-p"])
    gate = Gate(app, policies, report)
    server = make_server(host, port, NoBrowsers(gate, host, port), threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=keep_tables, args=(f"http://{host}:{port}", server, report), daemon=True).start()
    threading.Thread(target=follow_policies, args=(gate, report), daemon=True).start()
    server.serve_forever()


def follow_policies(gate: Gate, report) -> None:
    """Each line on stdin is the functions' policies anew (the sandbox reloaded a config.arc): judge by
    them from the next request on, and say `{"policies": "applied"}` on the report descriptor."""
    for line in sys.stdin.buffer:
        try:
            gate.use(json.loads(line))
        except Exception as error:  # a bad line keeps the previous policies
            report({"log": f"error: could not apply the new IAM policies: {error}"})
            continue
        report({"policies": "applied"})


def keep_tables(endpoint: str, server, report, check_every: float = 1.0) -> None:
    """Create `DEVKIT_TABLES` through this server, as any client would, and say `ready` on stdout;
    then, for as long as the server runs, recreate tables that vanish (`POST /moto-api/reset` by a
    local process deletes them all) every `check_every` seconds and delete expired items every
    `DEVKIT_TTL_SWEEP_SECONDS` (moto keeps a table's TTL setting but never expires anything). What it
    does is reported as `{"log": line}` on the report descriptor, for the sandbox's log. Done here,
    where boto3 is loaded anyway, so the sandbox's own process never imports it."""
    from devkit.sandbox.dynamodb import Tables, tables_from_json

    share_moto_session()
    region = os.environ.get("DEVKIT_TABLES_REGION", "us-east-1")
    tables = Tables(endpoint, region, tables_from_json(os.environ.get("DEVKIT_TABLES", "")))
    queues: list[str] = []  # what went wrong creating the queues, if anything
    making = threading.Thread(target=_make_queues, args=(endpoint, region, queues), daemon=True)
    making.start()  # alongside the tables, off the path to `ready` (moto imports its SQS backend, about 0.2-1 s)
    try:
        tables.create()
    except Exception as error:  # the sandbox shows it and stops
        _say(f"error: could not create the tables: {error}")
        server.shutdown()
        return
    try:
        secrets = make_secrets(endpoint, region, os.environ.get("DEVKIT_SECRETS", ""))
    except Exception as error:
        _say(f"error: could not create the secrets: {error}")
        server.shutdown()
        return
    _say("ready")  # the queues may still be in the making: the sandbox holds what uses them until reported
    making.join()
    report({"queues": f"error: could not create the queues in the embedded SQS: {queues[0]}" if queues else "ready"})
    sweep_every = float(os.environ.get("DEVKIT_TTL_SWEEP_SECONDS") or 30)
    swept, failure = time.monotonic(), None
    while True:
        time.sleep(check_every)
        failure = _recreate_vanished(tables, report, failure)
        if secrets:
            _restore_secrets(endpoint, os.environ.get("DEVKIT_TABLES_REGION", "us-east-1"), secrets, report)
        if time.monotonic() - swept >= sweep_every:
            swept = time.monotonic()
            try:
                deleted = tables.sweep_expired()
            except Exception as error:  # the next sweep tries again
                report({"log": f"TTL sweep failed: {error}"})
                continue
            if deleted:
                report({"log": f"TTL removed {deleted} expired item(s)"})


def share_moto_session() -> None:
    """Make moto's own boto3 session (its backends read the region list from it) boto3's default, so the
    tables' client parses botocore's endpoint data into the same loader: once, not twice (about 11 MB)."""
    import boto3
    from moto.core.base_backend import AccountSpecificBackend

    moto_session = getattr(AccountSpecificBackend, "get_session", None)  # moto 5's; without it, two loaders
    if moto_session is not None:
        boto3.DEFAULT_SESSION = moto_session()


def _secrets_client(endpoint: str, region: str):
    import boto3

    return boto3.client("secretsmanager", endpoint_url=endpoint, region_name=region, aws_access_key_id="sandbox", aws_secret_access_key="sandbox")


def make_secrets(endpoint: str, region: str, names: str) -> dict[str, str]:
    """Create each comma-separated secret with a fresh random value (48 random bytes, URL-safe), as the
    stack's `GenerateSecretString` does on AWS; the values are kept only here, in this process's memory
    (to restore them after a reset), never written anywhere."""
    import secrets

    client = _secrets_client(endpoint, region)
    made = {name: secrets.token_urlsafe(48) for name in filter(None, names.split(","))}
    for name, value in made.items():
        client.create_secret(Name=name, SecretString=value)
    return made


def _restore_secrets(endpoint: str, region: str, kept: dict[str, str], report) -> None:
    """Recreate, with their values, the secrets a reset removed (warm workers hold those values)."""
    try:
        client = _secrets_client(endpoint, region)
        present = {s["Name"] for page in client.get_paginator("list_secrets").paginate() for s in page["SecretList"]}
        for name in sorted(set(kept) - present):
            client.create_secret(Name=name, SecretString=kept[name])
            report({"log": f"recreated secret {name} (vanished from the embedded services) with its value"})
    except Exception as error:  # the next round tries again
        report({"log": f"error: could not check or recreate the secrets: {error}"})


def _make_queues(endpoint: str, region: str, problems: list[str]) -> None:
    """Create `DEVKIT_QUEUES` (devkit/sandbox/queues.py); a failure is appended to `problems`."""
    if not os.environ.get("DEVKIT_QUEUES"):
        return
    from functools import partial

    from devkit.sandbox.queues import create_queues, specs_from_json, speed_up_moto, sync_call

    try:
        speed_up_moto()
        create_queues(partial(sync_call, endpoint, region), specs_from_json(os.environ["DEVKIT_QUEUES"]))
    except Exception as error:
        problems.append(str(error))


def _recreate_vanished(tables, report, failure: str | None) -> str | None:
    """Recreate whichever tables are gone, saying so; returns the error that stopped it, if any
    (reported only when it differs from `failure`, the previous round's, so a lasting one is said once)."""
    try:
        gone = tables.missing()
        if gone:
            report(
                {"log": f"error: table(s) {', '.join(gone)} vanished from the embedded DynamoDB (deleted, or reset by another process); recreating them empty"}
            )
            created = tables.create()
            report({"log": f"recreated table(s) {', '.join(created)}; the items they held are gone"})
    except Exception as error:
        if str(error) != failure:
            report({"log": f"error: could not check or recreate the tables in the embedded DynamoDB: {error}"})
        return str(error)
    return None


def _say(line: str) -> None:
    """One line to the sandbox on stdout, which then goes nowhere (the sandbox stops reading it)."""
    os.write(1, (line + "\n").encode())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


if __name__ == "__main__":
    main(sys.argv[1:])
