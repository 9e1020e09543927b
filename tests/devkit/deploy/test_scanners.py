"""Scanners on the generated templates, both stages, with every opt-in on and every default switched
off: checkov finds nothing failed that the template does not explain where the resource is, and
cfn-lint with its informational rules finds nothing at all. The reasons are docs/deploy.md's, word for word.

checkov cannot share the dev tools' virtualenv (it pins boto3 1.35 and an old `packaging`, below what
moto and the kit use), so it lives in `.venv-checkov`: `make scan` creates it and runs this file.
"""

import json
import re
import shutil
import subprocess

import pytest
from cfnlint.api import ManualArgs, lint

from devkit import manifest as manifest_module
from devkit.deploy import accepted, template
from tests.support.repo import ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VARIANTS = {
    "default": ("", ""),
    "every-opt-in-on": ("  PITR true\n  encrypt " + KMS_KEY + "\n", "access-logs true\nalarms ops@example.com\nconcurrency 20\n"),
    "every-default-off": ("", "access-logs false\nalarms false\nconcurrency unthrottled\n"),
}


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, dict]:
    """`<variant>-<stage>` -> its template, for each variant of the app and each stage."""
    documents = {}
    for variant, (table_lines, aws_lines) in VARIANTS.items():
        root = tmp_path_factory.mktemp(variant)
        shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ROOT / "public", root / "public")
        text = (ROOT / "app.arc").read_text().replace("  expires TTL\n", "  expires TTL\n" + table_lines)
        (root / "app.arc").write_text(text + "\n" + aws_lines + "\n@tags\nteam chat\ncost-centre 42\n")
        manifest = manifest_module.load(root / "app.arc")
        keys = {**{f.id: f"k/{f.id}.zip" for f in manifest.functions}, template.STATIC_ID: "k/static.zip"}
        for stage in template.STAGES:
            documents[f"{variant}-{stage}"] = template.build(manifest, stage, keys)
    return documents


def test_checkov_fails_nothing_and_every_skip_carries_its_reason(templates, tmp_path):
    assert CHECKOV.exists(), "checkov is not installed: `make test` (or `make scan`) installs it in .venv-checkov"
    for name, document in templates.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(document))
    run = subprocess.run(
        [str(CHECKOV), "-d", str(tmp_path), "--framework", "cloudformation", "-o", "json", "--skip-download"], capture_output=True, text=True, timeout=600
    )
    report = json.loads(run.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [(c["file_path"], c["resource"], c["check_id"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["resource_count"] > 0 and report["summary"]["parsing_errors"] == 0
    reasons = {a.check: a.reason for a in accepted.ACCEPTED}
    skipped = report["results"]["skipped_checks"]
    assert skipped and all(c["check_result"]["suppress_comment"] == reasons[c["check_id"]] for c in skipped)
    assert {c["check_id"] for c in skipped} == set(reasons), "each accepted check is one checkov still reports"


def test_cfn_lint_with_informational_rules_finds_nothing(templates):
    config = ManualArgs(regions=["us-east-1"], include_checks=["I"])
    findings = {name: [str(m) for m in lint(json.dumps(document), config=config)] for name, document in templates.items()}
    assert findings == {name: [] for name in templates}


def test_each_accepted_reason_is_written_word_for_word_in_the_docs():
    docs = re.sub(r"\s+", " ", (ROOT / "docs/deploy.md").read_text())
    for check in accepted.ACCEPTED:
        assert f"| {check.check} | {check.reason} |" in docs, check.check


def test_a_skip_is_written_only_on_a_resource_that_fails_the_check(templates):
    on = templates["every-opt-in-on-production"]["Resources"]
    skipped = {check["id"] for resource in on.values() for check in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}
    assert {"CKV_AWS_28", "CKV_AWS_119", "CKV_AWS_95", "CKV_AWS_115"}.isdisjoint(skipped)  # PITR, the key, logs, concurrency: on
    off = templates["every-default-off-production"]["Resources"]
    assert all("ReservedConcurrentExecutions" not in r["Properties"] for r in off.values() if r["Type"] == "AWS::Lambda::Function")
    assert not [k for k, r in off.items() if r["Type"] == "AWS::CloudWatch::Alarm"]
