"""`python -m devkit deploy | destroy --stage staging|production`: package, upload, deploy, report.

`deploy` writes `<build>/template.json` and `<build>/packages/*.zip`, then (unless `--dry-run`, which
makes no AWS call and needs no credentials) uploads the packages to the account's deployment bucket,
creates or updates the stack `<App><Stage>` through a change set while printing its events, and ends
with the page and WebSocket URLs. `destroy` deletes the stack after asking (`--yes` skips the question).
`<build>` is `build/` next to app.arc, or `$DEVKIT_BUILD_DIR` when set.

Returns the exit status: 0 done (or nothing to do), 1 a deploy that failed on AWS; expected failures
(credentials, packaging, AWS refusing a call) raise `UsageError`, which the CLI prints as one line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from botocore.exceptions import ClientError

from devkit.errors import UsageError
from devkit.deploy import package, stack, template
from devkit.manifest import Manifest, load

BUILD_DIR_VARIABLE = "DEVKIT_BUILD_DIR"
SPINNER = "|/-\\"


class Progress:
    """Lines for what happened; on a terminal, one spinner line for the wait, overwritten in place."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self.frame = 0
        self.spinning = False

    def line(self, text: str) -> None:
        self._clear()
        print(text, file=self.stream, flush=True)

    def event(self, event: stack.StackEvent) -> None:
        reason = f"  {event.reason}" if event.reason else ""
        when = event.timestamp.astimezone().strftime("%H:%M:%S")
        self.line(f"  {when}  {event.status:<26} {event.resource_type:<34} {event.logical_id}{reason}")

    def wait(self) -> None:
        if not self.tty:
            return
        self.frame += 1
        elapsed = int(time.monotonic() - self.started)
        self.stream.write(f"\r  {SPINNER[self.frame % len(SPINNER)]} waiting for CloudFormation ({elapsed} s)")
        self.stream.flush()
        self.spinning = True

    def _clear(self) -> None:
        if self.spinning:
            self.stream.write("\r\033[K")
            self.spinning = False


def build_dir(manifest: Manifest) -> Path:
    """`$DEVKIT_BUILD_DIR`, else `build/` next to app.arc."""
    return Path(os.environ.get(BUILD_DIR_VARIABLE) or manifest.root / "build")


def deploy(args) -> int:
    manifest = load(args.app)
    out = Progress()
    for warning in manifest.warnings:
        out.line(f"warning: {warning}")
    name = template.stack_name(manifest.app, args.stage)
    region = manifest.aws.region
    if not args.dry_run:
        with _aws_errors():  # before the build: missing credentials should not wait for pip
            aws = stack.session(region)
            account = stack.account_id(aws)
    build = build_dir(manifest)
    try:
        packages = package.build_all(manifest, build, progress=out.line)
        document = template.build(manifest, args.stage, {k: p.key for k, p in packages.items()})
    except (package.PackageError, template.TemplateError) as error:
        raise UsageError(str(error)) from None
    build.mkdir(parents=True, exist_ok=True)
    template_path = build / "template.json"
    template_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if args.dry_run:
        _describe(out, manifest, args.stage, name, packages, template_path)
        return 0
    with _aws_errors():
        s3, cfn = aws.client("s3"), aws.client("cloudformation")
        bucket = stack.bucket_name(account, region)
        created = stack.ensure_bucket(s3, bucket, region, account)
        out.line(f"deployment bucket {bucket}{' (created)' if created else ''}")
        for function_id, built in packages.items():
            sent = stack.upload(s3, bucket, account, built.key, built.path.read_bytes())
            out.line(f"  {'uploaded ' if sent else 'unchanged'} {function_id} ({_size(built.size)})")
        body = json.dumps(document, separators=(",", ":"))
        source = stack.template_source(s3, bucket, account, manifest.app, body)
        out.line(f"deploying stack {name} to {region} (account {account})")
        try:
            result = stack.deploy(cfn, name, source, {"DeploymentBucket": bucket}, on_event=out.event,
                                  on_wait=out.wait, on_notice=out.line, poll_seconds=stack.POLL_SECONDS,
                                  app=manifest.app)
        except stack.DeployError as error:
            _report_failure(out, error)
            return 1
        except KeyboardInterrupt:
            _report_interrupted(out, cfn, name)
            return 130
    if result.action == "unchanged":
        out.line(f"No changes: stack {name} is already up to date.")
    else:
        out.line(f"Stack {name} {result.action} ({result.status}).")
    _print_outputs(out, result.outputs)
    return 0


def destroy(args) -> int:
    manifest = load(args.app)
    out = Progress()
    name = template.stack_name(manifest.app, args.stage)
    region = manifest.aws.region
    with _aws_errors():
        aws = stack.session(region)
        account = stack.account_id(aws)
        cfn = aws.client("cloudformation")
        if not stack.stack_status(cfn, name):
            out.line(f"Nothing to destroy: there is no stack {name} in {region} (account {account}).")
            return 0
        stack.check_owner(cfn, name, manifest.app)  # before asking: never offer to delete another app's stack
        if not args.yes:
            question = f"Delete stack {name} in {region} (account {account}): its functions, APIs and tables' data?"
            if not confirm(question):
                out.line("Nothing deleted.")
                return 1
        try:
            stack.destroy(cfn, name, on_event=out.event, on_wait=out.wait, poll_seconds=stack.POLL_SECONDS,
                          app=manifest.app)
        except stack.DeployError as error:
            _report_failure(out, error)
            return 1
        except KeyboardInterrupt:
            _report_interrupted(out, cfn, name)
            return 130
    out.line(f"Stack {name} deleted. The deployment bucket {stack.bucket_name(account, region)} stays "
             "(shared by every devkit app in this account and region).")
    return 0


def confirm(question: str) -> bool:
    """Ask on the terminal; without one, refuse with a hint about `--yes`."""
    if not sys.stdin.isatty():
        raise UsageError(f"{question} Not asking without a terminal: pass --yes to confirm")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


class _aws_errors:
    """Turn credential problems and AWS refusals into one-line UsageErrors."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, stack.CredentialsError):
            raise UsageError(str(error)) from None
        if isinstance(error, ClientError):
            details = error.response.get("Error", {})
            raise UsageError(f"AWS refused {error.operation_name}: {details.get('Code')}: {details.get('Message')}") from None
        if isinstance(error, stack.DeployError):
            raise UsageError(str(error)) from None
        return False


def _describe(out: Progress, manifest: Manifest, stage: str, name: str,
              packages: dict[str, package.Package], template_path: Path) -> None:
    out.line(f"Dry run: stack {name} in {manifest.aws.region} would contain")
    for function in manifest.functions:
        built = packages[function.id]
        out.line(f"  {function.route_key:<24} {function.id:<18} {function.runtime} {function.architecture} "
                 f"{function.memory} MB {function.timeout} s  {_size(built.size)}  {built.path.name}")
    if template.STATIC_ID in packages:
        out.line(f"  {template.STATIC_ROUTE_KEY:<24} {template.STATIC_ID:<18} public/ ({_size(packages['static'].size)})")
    for table in manifest.tables:
        out.line(f"  table {table.name} ({table.env_var}), on demand" + (f", TTL on {table.ttl_attribute}" if table.ttl_attribute else ""))
    out.line(f"Template: {template_path}")
    out.line(f"Packages: {template_path.parent / 'packages'}")
    out.line(f"No AWS call was made. To deploy: make deploy-{stage}")


def _report_failure(out: Progress, error: stack.DeployError) -> None:
    out.line(f"Deploy failed: {error}")
    for event in error.failures:
        out.line(f"  {event.logical_id} ({event.resource_type}): {event.reason or event.status}")
    if error.rolled_back:
        out.line("CloudFormation rolled back: the resources are as they were before this deploy.")
    elif error.failures:
        out.line("CloudFormation did not roll back (or its rollback failed): see the stack's events in the AWS console.")


def _report_interrupted(out: Progress, cfn, name: str) -> None:
    """Ctrl-C stops this command, not CloudFormation: say where the stack stands and what to do."""
    try:
        status = stack.stack_status(cfn, name) or "absent (not created, or deleted)"
    except Exception as error:  # noqa: BLE001  (already interrupted: report, never raise)
        status = f"unknown ({error})"
    out.line(f"Interrupted. Stack {name} is {status}.")
    if status.endswith("_IN_PROGRESS"):
        out.line("CloudFormation carries on without this command: follow it with "
                 f"`aws cloudformation describe-stack-events --stack-name {name}`, and deploy again once it settles.")


def _print_outputs(out: Progress, outputs: dict[str, str]) -> None:
    labels = {"PageUrl": "Page", "WebSocketUrl": "WebSocket"}
    for key, label in labels.items():
        if key in outputs:
            out.line(f"{label + ':':<11}{outputs[key]}")
    for key, value in sorted(outputs.items()):
        if key not in labels:
            out.line(f"{key + ':':<11}{value}")


def _size(size: int) -> str:
    return f"{size / 1024:.0f} KB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MB"
