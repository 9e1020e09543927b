"""Deploy packages exactly what the sandbox serves from public/ (devkit/public.py), and refuses a
symbolic link out of public/ rather than publish its target. No AWS call: packaging is local."""

from __future__ import annotations

import zipfile

import pytest

from devkit import manifest as manifest_module
from devkit import public
from devkit.deploy import package
from devkit.deploy.template import STATIC_ID


def static_names(app_copy, tmp_path) -> set[str]:
    built = package.build_all(manifest_module.load(app_copy / "app.arc"), tmp_path / "build")
    with zipfile.ZipFile(built[STATIC_ID].path) as archive:
        return {n for n in archive.namelist() if n.startswith("public/")}


def test_the_static_package_holds_what_the_sandbox_serves(app_copy, tmp_path, fake_pip):
    files = app_copy / "public"
    (files / ".env").write_text("SECRET=1\n")
    (files / "tests").mkdir()
    (files / "tests" / "spec.js").write_text("//\n")
    (files / "inside.js").symlink_to(files / "tests" / "spec.js")  # a link within public/ is served: kept
    served = {"public/" + name for name, _ in public.files(files)}
    assert static_names(app_copy, tmp_path) == served
    assert {"public/tests/spec.js", "public/inside.js"} <= served and "public/.env" not in served


def test_a_link_out_of_public_is_refused_with_its_path(app_copy, tmp_path, fake_pip):
    (tmp_path / "secret.txt").write_text("not public\n")
    (app_copy / "public" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(package.PackageError, match=r"public/leak\.txt: a symbolic link to .*secret\.txt, outside public/"):
        package.build_all(manifest_module.load(app_copy / "app.arc"), tmp_path / "build")


def test_a_file_too_large_for_lambda_is_warned_at_packaging(app_copy, tmp_path, fake_pip):
    (app_copy / "public" / "video.bin").write_bytes(b"\0" * (public.max_file_bytes() + 1))
    lines = []
    package.build_all(manifest_module.load(app_copy / "app.arc"), tmp_path / "build", progress=lines.append)
    assert any(line.startswith("warning: public/video.bin") and "6 MB" in line for line in lines)
