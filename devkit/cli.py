"""`python -m devkit sandbox | deploy | destroy | smoke`: the kit's one entry point.

Every command reads the app only through `devkit.manifest`. Expected failures print one clear line,
without a traceback: the user's to fix (a broken manifest, missing credentials, a busy port) exit 2;
AWS or the network failing under a command exit 1.
"""

from __future__ import annotations

import argparse
import os
import sys

from devkit.contract import DEFAULT_PORT
from devkit.errors import ServiceError, UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devkit", description=__doc__.splitlines()[0])
    parser.add_argument("--app", default="app.arc", help="the manifest (default: ./app.arc)")
    commands = parser.add_subparsers(dest="command", required=True)

    sandbox = commands.add_parser("sandbox", help="run the app locally: HTTP, WebSocket, Management API, DynamoDB")
    sandbox.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"), help="address to bind (default 127.0.0.1; $HOST)")
    sandbox.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)), help=f"port for everything (default {DEFAULT_PORT}; $PORT)")
    sandbox.add_argument(
        "--dynamodb-endpoint",
        default=os.environ.get("SANDBOX_DYNAMODB_ENDPOINT"),
        help="use this DynamoDB endpoint instead of the embedded one ($SANDBOX_DYNAMODB_ENDPOINT)",
    )
    sandbox.add_argument("--no-reload", action="store_true", help="do not restart workers when src/ changes")
    sandbox.add_argument("--quiet", action="store_true", help="no log line per request")
    sandbox.add_argument("--no-iam", action="store_true", help="do not enforce the functions' @permissions ($SANDBOX_IAM=off does the same)")
    sandbox.add_argument("--json-logs", action="store_true", help="print handlers' JSON log lines as they are (default: readable on a terminal)")

    stage_help = "which stack: <App>Staging or <App>Production (region: @aws region in app.arc, else $AWS_REGION)"
    for name, verb in (("deploy", "create or update"), ("destroy", "delete")):
        command = commands.add_parser(name, help=f"{verb} the app's CloudFormation stack for a stage")
        command.add_argument("--stage", choices=("staging", "production"), required=True, help=stage_help)
        if name == "deploy":
            command.add_argument("--dry-run", action="store_true", help="write build/ (template, packages); no AWS call")
            command.add_argument("--no-smoke", action="store_true", help="do not run the smoke test after deploying")
            command.add_argument("--adopt", action="store_true", help="production: take the tables kept by an earlier destroy into the new stack")
        else:
            command.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    smoke = commands.add_parser("smoke", help="check a running copy of the app end to end, one line per step")
    target = smoke.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="the app's page URL (e.g. http://localhost:3333/)")
    target.add_argument("--stage", choices=("staging", "production"), help="use that stack's PageUrl output")
    smoke.add_argument("--timeout", type=float, default=10.0, help="seconds each step may wait (default 10)")

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sandbox":
            from devkit.sandbox.command import run

            return run(args)
        from devkit.deploy import command

        return getattr(command, args.command)(args)
    except UsageError as error:  # ManifestError is one
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ServiceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
