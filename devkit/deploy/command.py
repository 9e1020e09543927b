"""`python -m devkit deploy | destroy | smoke`: package, upload, deploy, report; delete; check.

`deploy` writes `<build>/template.json` and `<build>/packages/*.zip`, then (unless `--dry-run`, which
makes no AWS call and needs no credentials) uploads the packages to the account's deployment bucket,
creates or updates the stack `<App><Stage>` through a change set while printing its events, turns on
termination protection for production, prints the page and WebSocket URLs and runs the smoke test
the app declares in `smoke.json` next to app.arc against the page (`--no-smoke` skips it; the
declaration is read before anything is built, so a broken one fails first). `destroy` deletes the stack after asking (`--yes` skips the
question); production's tables are kept, and it says how to delete them for good. `smoke` runs
`devkit.deploy.smoke` against `--url` or a stage's `PageUrl` output.
`<build>` is `build/` next to app.arc, or `$DEVKIT_BUILD_DIR` when set. The region is `@aws region` in
app.arc when it is set there, else `$AWS_REGION`, else us-east-1 (`region_of`).

Returns the exit status: 0 done (or nothing to do), 1 a deploy that failed on AWS; expected failures
(credentials, packaging, AWS refusing a call) raise `UsageError`, which the CLI prints as one line.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import ClientError

from devkit.deploy import package, smoke_declaration, stack, template
from devkit.deploy import smoke as smoke_test
from devkit.errors import UsageError
from devkit.manifest import DEFAULT_AWS, Manifest, load, parse
from devkit.progress import Progress

BUILD_DIR_VARIABLE = "DEVKIT_BUILD_DIR"
SPINNER = "|/-\\"


def event_line(event: stack.StackEvent) -> str:
    """One CloudFormation stack event as a line: local time, status, type, resource and any reason."""
    reason = f"  {event.reason}" if event.reason else ""
    when = event.timestamp.astimezone().strftime("%H:%M:%S")
    return f"  {when}  {event.status:<26} {event.resource_type:<34} {event.logical_id}{reason}"


def waiting(out: Progress) -> Callable[[], None]:
    """The `on_wait` of a stack call: on a terminal, a spinner with the seconds waited so far."""
    started, frames = time.monotonic(), itertools.count(1)
    return lambda: out.redraw(f"  {SPINNER[next(frames) % len(SPINNER)]} waiting for CloudFormation "
                              f"({int(time.monotonic() - started)} s)")


def build_dir(manifest: Manifest) -> Path:
    """`$DEVKIT_BUILD_DIR`, else `build/` next to app.arc."""
    return Path(os.environ.get(BUILD_DIR_VARIABLE) or manifest.root / "build")


def region_of(manifest: Manifest) -> tuple[str, str]:
    """(region, where it came from): `@aws region` in app.arc wins, then `$AWS_REGION`, then the default."""
    declared = any(e.words[0] == "region" for e in parse(manifest.path.read_text(encoding="utf-8"), manifest.path).get("aws", []))
    if declared:
        return manifest.aws.region, "@aws region in app.arc"
    if os.environ.get("AWS_REGION"):
        return os.environ["AWS_REGION"], "$AWS_REGION (app.arc sets no @aws region)"
    return DEFAULT_AWS["region"], "the default (neither @aws region in app.arc nor $AWS_REGION is set)"


def deploy(args) -> int:
    manifest = load(args.app)
    out = Progress()
    for warning in manifest.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    name = template.stack_name(manifest.app, args.stage)
    region, source = region_of(manifest)
    out.line(f"stack {name} in {region}, from {source}")
    declaration = None if args.dry_run or args.no_smoke else smoke_declaration.load(smoke_declaration.path_for(args.app))
    if not args.dry_run:
        with _aws_errors(hint="; `--dry-run` needs none"):  # before the build: missing credentials should not wait for pip
            aws = stack.session(region)
            account = stack.account_id(aws)
            if manifest.aws.access_logs and manifest.ws_functions and stack.cloudwatch_role_missing(aws.client("apigateway")):
                raise UsageError(
                    f"access-logs is on, but API Gateway in {region} has no CloudWatch role to write the WebSocket "
                    "stage's logs: set one once per account and region (docs/deploy.md, Opt-in operations), or drop access-logs"
                )
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
        _describe(out, manifest, args.stage, name, region, packages, template_path)
        return 0
    with _aws_errors():
        s3, cfn = aws.client("s3"), aws.client("cloudformation")
        bucket = stack.bucket_name(account, region)
        created = stack.ensure_bucket(s3, bucket, region, account)
        out.line(f"deployment bucket {bucket}{' (created)' if created else ''}")
        for function_id, built in packages.items():
            sent = stack.upload(s3, bucket, account, built.key, built.path.read_bytes())
            out.line(f"  {'uploaded ' if sent else 'unchanged'} {function_id} ({_size(built.size)})")
        # Keep what the stack runs now (a failed deploy rolls back to it) and what it will run.
        in_use = stack.packages_in_use(cfn, name, bucket) | {p.key for p in packages.values()}
        for key in stack.refresh(s3, bucket, account, in_use):
            out.line(f"  note: {key}, which the deployed stack uses, has expired from the bucket: a rollback "
                     "of this deploy could not restore that function's code")
        body = json.dumps(document, separators=(",", ":"))
        template_source = stack.template_source(s3, bucket, account, manifest.app, body)
        out.line(f"deploying stack {name} to {region} (account {account})")
        try:
            result = stack.deploy(cfn, name, template_source, {"DeploymentBucket": bucket}, on_event=lambda e: out.line(event_line(e)),
                                  on_wait=waiting(out), on_notice=out.line, poll_seconds=stack.POLL_SECONDS, app=manifest.app)
        except stack.DeployError as error:
            _report_failure(out, error)
            return 1
        except KeyboardInterrupt:
            _report_interrupted(out, cfn, name)
            return 130
        if args.stage in template.PROTECTED_STAGES:
            stack.set_termination_protection(cfn, name, True)
    if result.action == "unchanged":
        out.line(f"No changes: stack {name} is already up to date.")
    else:
        out.line(f"Stack {name} {result.action} ({result.status}).")
    if args.stage in template.PROTECTED_STAGES:
        out.line("Termination protection is on; its tables are kept even if the stack is deleted.")
    _print_outputs(out, result.outputs)
    if args.no_smoke:
        return 0
    if "PageUrl" not in result.outputs:
        out.line("Smoke test skipped: the stack has no PageUrl output.")
        return 0
    assert declaration is not None, "read before the deploy unless --no-smoke"
    if smoke_test.run(result.outputs["PageUrl"], declaration, out=out.line) != 0:
        out.line("The stack is deployed, but the smoke test failed: see the step above, and the functions' logs.")
        return 1
    return 0


def smoke(args) -> int:
    """`--url`: that page; `--stage`: the page of that stage's stack (its PageUrl output). Checks what the
    app declares in `smoke.json` next to app.arc."""
    declaration = smoke_declaration.load(smoke_declaration.path_for(args.app))
    url = args.url or stage_page_url(args.app, args.stage)
    return smoke_test.run(url, declaration, timeout=args.timeout)


def stage_page_url(app, stage: str) -> str:
    """The page of `stage`'s stack (its PageUrl output); UsageError when there is none."""
    manifest = load(app)
    name = template.stack_name(manifest.app, stage)
    region, _ = region_of(manifest)
    with _aws_errors():
        aws = stack.session(region)
        stack.account_id(aws)
        cfn = aws.client("cloudformation")
        if not stack.stack_status(cfn, name):
            raise UsageError(f"there is no stack {name} in {region}: deploy it first (make deploy-{stage})")
        url = stack.outputs(cfn, name).get("PageUrl")
    if not url:
        raise UsageError(f"stack {name} has no PageUrl output to test")
    return url


def destroy(args) -> int:
    manifest = load(args.app)
    out = Progress()
    name = template.stack_name(manifest.app, args.stage)
    region, source = region_of(manifest)
    protected = args.stage in template.PROTECTED_STAGES
    with _aws_errors():
        aws = stack.session(region)
        account = stack.account_id(aws)
        cfn = aws.client("cloudformation")
        if not stack.stack_status(cfn, name):
            out.line(f"Nothing to destroy: there is no stack {name} in {region} (account {account}; region from {source}).")
            return 0
        stack.check_owner(cfn, name, manifest.app)  # before asking: never offer to delete another app's stack
        kept = stack.retained_tables(cfn, name) if protected else []
        if not args.yes:
            what = "its functions and APIs (its tables are kept)" if protected else "its functions, APIs and tables with their data"
            if not confirm(f"Delete stack {name} in {region} (account {account}): {what}?"):
                out.line("Nothing deleted.")
                return 1
        if protected:
            stack.set_termination_protection(cfn, name, False)
            out.line(f"Turned termination protection off for {name}, to delete it.")
        try:
            stack.destroy(cfn, name, on_event=lambda e: out.line(event_line(e)), on_wait=waiting(out), poll_seconds=stack.POLL_SECONDS,
                          app=manifest.app)
        except stack.DeployError as error:
            _report_failure(out, error)
            return 1
        except KeyboardInterrupt:
            _report_interrupted(out, cfn, name)
            return 130
    out.line(f"Stack {name} deleted. The deployment bucket {stack.bucket_name(account, region)} stays "
             "(shared by every devkit app in this account and region).")
    for logical_id, table in kept:
        out.line(f"Kept table {table} ({logical_id}) with its data, deletion-protected. To delete it for good:")
        out.line(f"  aws dynamodb update-table --region {region} --table-name {table} --no-deletion-protection-enabled")
        out.line(f"  aws dynamodb delete-table --region {region} --table-name {table}")
    return 0


def confirm(question: str) -> bool:
    """Ask on the terminal; without one, refuse with a hint about `--yes`."""
    if not sys.stdin.isatty():
        raise UsageError(f"{question} Not asking without a terminal: pass --yes to confirm")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


class _aws_errors:
    """Turn credential problems and AWS refusals into one-line UsageErrors; `hint` ends a credentials one."""

    def __init__(self, hint: str = ""):
        self.hint = hint

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, stack.CredentialsError):
            raise UsageError(f"{error}{self.hint}") from None
        if isinstance(error, ClientError):
            details = error.response.get("Error", {})
            raise UsageError(f"AWS refused {error.operation_name}: {details.get('Code')}: {details.get('Message')}") from None
        if isinstance(error, stack.DeployError):
            raise UsageError(str(error)) from None
        return False


def _describe(out: Progress, manifest: Manifest, stage: str, name: str, region: str,
              packages: dict[str, package.Package], template_path: Path) -> None:
    out.line(f"Dry run: stack {name} in {region} would contain")
    for function in manifest.functions:
        built = packages[function.id]
        out.line(f"  {function.route_key:<24} {function.id:<18} {function.runtime} {function.architecture} "
                 f"{function.memory} MB {function.timeout} s  {_size(built.size)}  {built.path.name}")
    if template.STATIC_ID in packages:
        out.line(f"  {template.STATIC_ROUTE_KEY:<24} {template.STATIC_ID:<18} public/ ({_size(packages['static'].size)})")
    kept = ", kept and deletion-protected" if stage in template.PROTECTED_STAGES else ", deleted with the stack"
    for table in manifest.tables:
        out.line(f"  table {table.name} ({table.env_var}), on demand" + (f", TTL on {table.ttl_attribute}" if table.ttl_attribute else "")
                 + (", point-in-time recovery" if table.pitr else "") + kept)
    out.line(f"  throttled per route: {manifest.aws.throttle_rate} per second, bursts of {manifest.aws.throttle_burst}"
             + "".join(f"; {f.route_key} {f.throttle_rate}/s, bursts of {f.throttle_burst}" for f in manifest.functions
                       if (f.throttle_rate, f.throttle_burst) != (manifest.aws.throttle_rate, manifest.aws.throttle_burst)))
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
