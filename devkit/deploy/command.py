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

Returns the exit status: 0 done (or nothing to do), 1 a deploy that failed on AWS, 130 interrupted
(saying what was done and what was not). Expected failures raise what the CLI prints as one line:
`UsageError` (credentials, packaging, AWS refusing a call; status 2) or `ServiceError` (AWS or the
network failing under the command, naming what it was doing; status 1).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from devkit.contract import table_variable
from devkit.deploy import adopt, imports_check, operations, package, smoke_declaration, stack, tags, template
from devkit.deploy import smoke as smoke_test
from devkit.errors import ServiceError, UsageError
from devkit.manifest import DEFAULT_AWS, Manifest, load
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
    return lambda: out.redraw(f"  {SPINNER[next(frames) % len(SPINNER)]} waiting for CloudFormation ({int(time.monotonic() - started)} s)")


def build_dir(manifest: Manifest) -> Path:
    """`$DEVKIT_BUILD_DIR`, else `build/` next to app.arc."""
    return Path(os.environ.get(BUILD_DIR_VARIABLE) or manifest.root / "build")


def region_of(manifest: Manifest) -> tuple[str, str]:
    """(region, where it came from): `@aws region` in app.arc wins, then `$AWS_REGION`, then the default."""
    if manifest.aws.where("region"):
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
    done = _Done(name, package_count=len(manifest.functions) + (1 if package.has_static(manifest) else 0))
    try:
        return _deploy(args, manifest, out, name, region, declaration, done)
    except KeyboardInterrupt:
        out.line(f"Interrupted {done}.")
        return 130


def _deploy(args, manifest: Manifest, out: Progress, name: str, region: str, declaration, done: _Done) -> int:
    if not args.dry_run:
        # before the build: missing credentials should not wait for pip
        with aws_errors("checking the AWS credentials", hint="; `--dry-run` needs none"):
            aws = stack.session(region)
            account = stack.account_id(aws)
        with aws_errors("reading API Gateway's account settings"):
            logs_on = operations.enabled(manifest.aws.access_logs, args.stage in template.PROTECTED_STAGES)
            if logs_on and manifest.ws_functions and stack.cloudwatch_role_missing(aws.client("apigateway")):
                raise UsageError(
                    f"access logs are on, but API Gateway in {region} has no CloudWatch role to write the WebSocket "
                    "stage's logs: set one once per account and region (docs/deploy.md, Operations), or `@aws access-logs false`"
                )
    build = build_dir(manifest)
    done.phase = "packaging"
    try:
        packages = package.build_all(manifest, build, progress=done.tracking(out.line))
        if _missing_packages(manifest, packages, out):
            return 1
        document = template.build(manifest, args.stage, {k: p.key for k, p in packages.items()})
    except (package.PackageError, template.TemplateError) as error:
        raise UsageError(str(error)) from None
    build.mkdir(parents=True, exist_ok=True)
    template_path = build / "template.json"
    template_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if args.dry_run:
        _describe(out, manifest, args.stage, name, region, packages, template_path)
        return 0
    s3, cfn = aws.client("s3"), aws.client("cloudformation")
    kept: dict[str, str] = {}
    if args.stage in template.PROTECTED_STAGES:
        with aws_errors(f"looking for tables a destroyed {name} kept"):
            if stack.stack_status(cfn, name) in ("", "REVIEW_IN_PROGRESS"):
                kept = adopt.kept_tables(aws.client("dynamodb"), name, document)
        if kept and not getattr(args, "adopt", False):
            raise UsageError(adopt.refusal(name, kept, args.stage))
    bucket = stack.bucket_name(account, region)
    done.phase = "preparing the deployment bucket"
    with aws_errors(f"preparing the deployment bucket {bucket}"):
        created = stack.ensure_bucket(s3, bucket, region, account)
    out.line(f"deployment bucket {bucket}{' (created)' if created else ''}")
    done.phase = "uploading"
    for function_id, built in packages.items():
        done.current = function_id
        with aws_errors(f"uploading {function_id}'s package to {bucket}"):
            sent = stack.upload(s3, bucket, account, built.key, built.path.read_bytes())
        done.uploaded.append(function_id)
        out.line(f"  {'uploaded ' if sent else 'unchanged'} {function_id} ({_size(built.size)})")
    done.phase = "preparing the deployment bucket"
    with aws_errors(f"refreshing the packages stack {name} uses in {bucket}"):
        # Keep what the stack runs now (a failed deploy rolls back to it) and what it will run.
        in_use = stack.packages_in_use(cfn, name, bucket) | {p.key for p in packages.values()}
        for key in stack.refresh(s3, bucket, account, in_use):
            out.line(
                f"  note: {key}, which the deployed stack uses, has expired from the bucket: a rollback of this deploy could not restore that function's code"
            )
        body = json.dumps(document, separators=(",", ":"))
        template_source = stack.template_source(s3, bucket, account, manifest.app, body)
    out.line(f"deploying stack {name} to {region} (account {account})")
    stack_tags = tags.resource_tags(manifest.app, args.stage, manifest.tags)
    with aws_errors(f"deploying stack {name}", stack_name=name):
        try:
            if kept:
                out.line(f"adopting the kept tables {', '.join(sorted(kept.values()))} (CloudFormation resource import)")
                adopt.import_tables(
                    cfn,
                    name,
                    document,
                    kept,
                    tags.stack_tags(name, stack_tags),
                    on_event=lambda e: out.line(event_line(e)),
                    on_wait=waiting(out),
                    poll_seconds=stack.POLL_SECONDS,
                )
            result = stack.deploy(
                cfn,
                name,
                template_source,
                {"DeploymentBucket": bucket},
                on_event=lambda e: out.line(event_line(e)),
                on_wait=waiting(out),
                on_notice=out.line,
                poll_seconds=stack.POLL_SECONDS,
                app=manifest.app,
                tags=stack_tags,
            )
        except stack.DeployError as error:
            _report_failure(out, error)
            return 1
        except KeyboardInterrupt:
            _report_interrupted(out, cfn, name)
            return 130
        done.phase = "deployed"
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
    done.phase = "smoke test"
    if smoke_test.run(result.outputs["PageUrl"], declaration, out=out.line) != 0:
        out.line("The stack is deployed, but the smoke test failed: see the step above, and the functions' logs.")
        return 1
    return 0


class _Done:
    """What a deploy has done so far, for the line Ctrl-C prints (`Interrupted {done}.`)."""

    def __init__(self, stack_name: str, package_count: int):
        self.stack_name, self.package_count = stack_name, package_count
        self.phase = "checking"
        self.current = ""  # the package being built or uploaded
        self.packaged: list[str] = []
        self.uploaded: list[str] = []

    def tracking(self, progress: Callable[[str], None]) -> Callable[[str], None]:
        """`progress` for package.build_all, noting each package as it is started."""

        def line(text: str) -> None:
            if text.startswith("packaging "):
                if self.current:
                    self.packaged.append(self.current)
                self.current = text.split()[1]
            progress(text)

        return line

    def __str__(self) -> str:
        unchanged = f"stack {self.stack_name} was not changed"
        if self.phase == "checking":
            return f"before anything was built or uploaded: {unchanged}"
        if self.phase == "packaging":
            return f"while packaging {self.current} ({len(self.packaged)} of {self.package_count} packages built): nothing was sent to AWS, and {unchanged}"
        if self.phase == "uploading":
            sent = f" ({', '.join(self.uploaded)})" if self.uploaded else ""
            return (
                f"while uploading {self.current}: {len(self.uploaded)} of {self.package_count} packages are in the "
                f"deployment bucket{sent}, {self.package_count - len(self.uploaded)} not; {unchanged}"
            )
        if self.phase == "preparing the deployment bucket":
            return f"while preparing the deployment bucket: {unchanged}"
        if self.phase == "smoke test":
            return f"during the smoke test: stack {self.stack_name} is deployed; check it with `python -m devkit smoke`"
        return f"after stack {self.stack_name} was deployed, before the steps after it: deploy again to finish them"


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
    with aws_errors("checking the AWS credentials"):
        aws = stack.session(region)
        stack.account_id(aws)
    with aws_errors(f"reading stack {name}'s page URL"):
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
    try:
        with aws_errors("checking the AWS credentials"):
            aws = stack.session(region)
            account = stack.account_id(aws)
        with aws_errors(f"reading stack {name}"):
            cfn = aws.client("cloudformation")
            if not stack.stack_status(cfn, name):
                out.line(f"Nothing to destroy: there is no stack {name} in {region} (account {account}; region from {source}).")
                return 0
            stack.check_owner(cfn, name, manifest.app)  # before asking: never offer to delete another app's stack
            kept = stack.retained_tables(cfn, name) if protected else []
        if not args.yes:  # `--yes` is the consent, termination protection included
            what = (
                "turn its termination protection off and delete its functions and APIs (its tables are kept)"
                if protected
                else "delete its functions, APIs and tables with their data"
            )
            if not confirm(f"Stack {name} in {region} (account {account}): {what}?"):
                out.line("Nothing deleted.")
                return 1
    except KeyboardInterrupt:
        out.line(f"Interrupted before anything was deleted: stack {name} was not changed.")
        return 130
    with aws_errors(f"deleting stack {name}", stack_name=name):
        if protected:
            stack.set_termination_protection(cfn, name, False)
            out.line(f"Turned termination protection off for {name}, to delete it.")
        try:
            stack.destroy(cfn, name, on_event=lambda e: out.line(event_line(e)), on_wait=waiting(out), poll_seconds=stack.POLL_SECONDS, app=manifest.app)
        except stack.DeployError as error:
            _report_failure(out, error)
            if protected:
                _protect_again(out, cfn, name)
            return 1
        except KeyboardInterrupt:
            _report_interrupted(out, cfn, name)
            return 130
    out.line(f"Stack {name} deleted. The deployment bucket {stack.bucket_name(account, region)} stays (shared by every devkit app in this account and region).")
    for logical_id, table in kept:
        out.line(f"Kept table {table} ({logical_id}) with its data, deletion-protected. To delete it for good:")
        out.line(f"  aws dynamodb update-table --region {region} --table-name {table} --no-deletion-protection-enabled")
        out.line(f"  aws dynamodb delete-table --region {region} --table-name {table}")
    return 0


def _protect_again(out: Progress, cfn, name: str) -> None:
    """After a failed delete of a protected stack: its termination protection back on, and say so."""
    if not stack.stack_status(cfn, name):
        return
    try:
        stack.set_termination_protection(cfn, name, True)
    except ClientError as error:
        out.line(
            f"Could not turn termination protection back on for {name} ({error}): turn it on in the console, "
            f"or run `aws cloudformation update-termination-protection --enable-termination-protection --stack-name {name}`."
        )
        return
    out.line(f"Turned termination protection back on for {name}: the stack stays protected until the delete is retried.")


def confirm(question: str) -> bool:
    """Ask on the terminal; without one, refuse with a hint about `--yes`."""
    if not sys.stdin.isatty():
        raise UsageError(f"{question} Not asking without a terminal: pass --yes to confirm")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


@contextlib.contextmanager
def aws_errors(doing: str, hint: str = "", stack_name: str = "") -> Iterator[None]:
    """Turn what AWS or the network can do to a command `doing` something into one line:
    credential problems (`hint` ends the line) and an unfinished stack operation as UsageError; AWS
    refusing a call, AWS unreachable, or a connection lost or timed out, as ServiceError naming `doing`
    (and, for a stack operation, that CloudFormation carries on without this command)."""
    try:
        yield
    except stack.CredentialsError as error:
        raise UsageError(f"{error}{hint}") from None
    except ClientError as error:
        details = error.response.get("Error", {})
        raise ServiceError(f"AWS refused {error.operation_name} while {doing}: {details.get('Code')}: {details.get('Message')}") from None
    except stack.DeployError as error:
        raise UsageError(str(error)) from None
    except (*stack.NETWORK_ERRORS, BotoCoreError, ConnectionError) as error:
        after = (
            (
                f"; CloudFormation carries on without this command: see where stack {stack_name} stands with "
                f"`aws cloudformation describe-stacks --stack-name {stack_name}`"
            )
            if stack_name
            else ""
        )
        raise ServiceError(f"{doing} failed: {error}{after}") from None


def _missing_packages(manifest: Manifest, packages: dict[str, package.Package], out: Progress) -> bool:
    """True, after one `error:` line per function, when a handler would not import on Lambda
    (devkit/deploy/imports_check.py): nothing is uploaded then."""
    out.line("checking that each handler imports with only its package and the runtime's boto3")
    problems = imports_check.check(manifest, packages, progress=out.line)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return bool(problems)


def _describe(out: Progress, manifest: Manifest, stage: str, name: str, region: str, packages: dict[str, package.Package], template_path: Path) -> None:
    out.line(f"Dry run: stack {name} in {region} would contain")
    for function in manifest.functions:
        built = packages[function.id]
        out.line(
            f"  {function.route_key:<24} {function.id:<18} {function.runtime} {function.architecture} "
            f"{function.memory} MB {function.timeout} s  {_size(built.size)}  {built.path.name}"
        )
    if template.STATIC_ID in packages:
        out.line(f"  {template.STATIC_ROUTE_KEY:<24} {template.STATIC_ID:<18} public/ ({_size(packages['static'].size)})")
    kept = ", kept and deletion-protected" if stage in template.PROTECTED_STAGES else ", deleted with the stack"
    for table in manifest.tables:
        out.line(
            f"  table {table.name} ({table_variable(table.name)}), on demand"
            + (f", TTL on {table.ttl_attribute}" if table.ttl_attribute else "")
            + (", point-in-time recovery" if table.pitr else "")
            + kept
        )
    out.line(
        f"  throttled per route: {manifest.aws.throttle_rate} per second, bursts of {manifest.aws.throttle_burst}"
        + "".join(
            f"; {f.route_key} {f.throttle_rate}/s, bursts of {f.throttle_burst}"
            for f in manifest.functions
            if (f.throttle_rate, f.throttle_burst) != (manifest.aws.throttle_rate, manifest.aws.throttle_burst)
        )
    )
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
    except Exception as error:
        status = f"unknown ({error})"
    out.line(f"Interrupted. Stack {name} is {status}.")
    if status.endswith("_IN_PROGRESS"):
        out.line(
            "CloudFormation carries on without this command: follow it with "
            f"`aws cloudformation describe-stack-events --stack-name {name}`, and deploy again once it settles."
        )


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
