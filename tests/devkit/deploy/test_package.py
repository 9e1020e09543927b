"""Function packages: what each zip holds, byte-for-byte reproducibility, the requirements cache, and
one real `pip install --platform` for Lambda on arm64."""

import hashlib
import zipfile

import pytest

from devkit import manifest as manifest_module
from devkit.deploy import package


def names(path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


@pytest.fixture
def built(app_copy, tmp_path, fake_pip):
    app = manifest_module.load(app_copy / "app.arc")
    folder = app_copy / "src/http/get-index"
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__/index.cpython-313.pyc").write_bytes(b"\0")
    (folder / "tests").mkdir()
    (folder / "tests/test_page.py").write_text("def test(): pass\n")
    (folder / "test_local.py").write_text("def test(): pass\n")
    (app_copy / ".venv/lib").mkdir(parents=True)
    (app_copy / ".venv/lib/stray.py").write_text("")
    # what `arc sandbox` leaves in a function folder: its pip installs and a copy of src/shared
    (app_copy / "src/ws/connect/vendor/shared").mkdir(parents=True)
    (app_copy / "src/ws/connect/vendor/shared/config.py").write_text("")
    (app_copy / "src/ws/connect/vendor/boto3.py").write_text("")
    return app, package.build_all(app, tmp_path / "build")


def test_every_function_and_the_static_site_get_a_package(built):
    app, packages = built
    assert set(packages) == {f.id for f in app.functions} | {"static"}


def test_get_index_zip_holds_handler_template_shared_and_jinja2_only(built):
    _, packages = built
    entries = names(packages["http-get-index"].path)
    assert {"index.py", "index.html", "requirements.txt", "shared/__init__.py", "shared/config.py", "jinja2/__init__.py"} <= set(entries)
    assert not [n for n in entries if "__pycache__" in n or n.endswith(".pyc") or "test" in n or n.startswith((".venv", "bin/", "src/"))]


def test_websocket_zip_holds_handler_shared_and_its_requirements(built):
    _, packages = built
    assert sorted(names(packages["ws-connect"].path)) == [  # config.arc rides along, as in Architect's packages
        "aws_lambda_powertools/__init__.py",
        "config.arc",
        "index.py",
        "pyjwt/__init__.py",
        "requirements.txt",
        "shared/__init__.py",
        "shared/architect.py",
        "shared/config.py",
        "shared/connections.py",
        "shared/fanout.py",
        "shared/lambda_context.py",
        "shared/messages.py",
        "shared/origins.py",
        "shared/queue.py",
        "shared/requirements.txt",
        "shared/sender.py",
        "shared/tokens.py",
    ]


def test_static_zip_holds_the_generated_handler_and_public(built):
    _, packages = built
    assert sorted(names(packages["static"].path)) == ["index.py", "public/backoff.mjs", "public/index.css", "public/index.mjs", "public/seen.mjs"]
    with zipfile.ZipFile(packages["static"].path) as archive:
        assert archive.read("index.py") == package.STATIC_HANDLER.read_bytes()


def test_entries_are_sorted_dated_1980_and_mode_0644(built):
    _, packages = built
    with zipfile.ZipFile(packages["http-get-index"].path) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_building_twice_gives_the_same_bytes_and_key(app_copy, tmp_path, fake_pip):
    app = manifest_module.load(app_copy / "app.arc")
    first = {k: p.path.read_bytes() for k, p in package.build_all(app, tmp_path / "one").items()}
    (app_copy / "src/ws/connect/index.py").touch()  # a newer mtime must not matter
    second_packages = package.build_all(app, tmp_path / "two")
    assert {k: p.path.read_bytes() for k, p in second_packages.items()} == first
    for function_id, built in second_packages.items():
        digest = hashlib.sha256(first[function_id]).hexdigest()
        assert built.key == f"{app.app}/{function_id}/{digest}.zip"


def test_a_changed_handler_changes_only_its_own_key(app_copy, tmp_path, fake_pip):
    app = manifest_module.load(app_copy / "app.arc")
    before = package.build_all(app, tmp_path / "build")
    with open(app_copy / "src/ws/default/index.py", "a") as handler:
        handler.write("\n# changed\n")
    after = package.build_all(app, tmp_path / "build")
    assert [k for k in before if before[k].key != after[k].key] == ["ws-default"]


def test_requirements_are_installed_once_per_platform_then_cached(app_copy, tmp_path, fake_pip):
    app = manifest_module.load(app_copy / "app.arc")
    package.build_all(app, tmp_path / "build")
    package.build_all(app, tmp_path / "build")
    distinct = {package.requirements_text(app, f) for f in app.functions}
    assert sorted(text for text, _ in fake_pip.calls) == sorted(t + "\n" for t in distinct)
    assert {platform for _, platform in fake_pip.calls} == {package.Platform("python3.13", "arm64")}
    (app_copy / "src/http/get-index/config.arc").write_text("@aws\narchitecture x86_64\n")
    package.build_all(manifest_module.load(app_copy / "app.arc"), tmp_path / "build")
    assert fake_pip.calls[-1][1] == package.Platform("python3.13", "x86_64")
    assert len(fake_pip.calls) == len(distinct) + 1


def test_shared_requirements_go_into_every_function(app_copy, tmp_path, fake_pip):
    (app_copy / "src/shared/requirements.txt").write_text("tzdata>=2024\n")
    for own in app_copy.glob("src/ws/*/requirements.txt"):
        own.unlink()
    app = manifest_module.load(app_copy / "app.arc")
    packages = package.build_all(app, tmp_path / "build")
    assert "tzdata/__init__.py" in names(packages["ws-connect"].path)
    assert "tzdata/__init__.py" in names(packages["http-get-index"].path)
    assert all(text.startswith("tzdata>=2024\n") for text, _ in fake_pip.calls)


@pytest.mark.parametrize(
    "runtime, architecture, tags",
    [
        ("python3.13", "arm64", ("manylinux2014_aarch64", "manylinux_2_28_aarch64")),
        ("python3.12", "x86_64", ("manylinux2014_x86_64", "manylinux_2_28_x86_64")),
        ("python3.11", "x86_64", ("manylinux2014_x86_64",)),  # Amazon Linux 2: glibc 2.26
    ],
)
def test_platform_tags_follow_the_runtime_and_architecture(runtime, architecture, tags):
    platform = package.Platform(runtime, architecture)
    assert platform.pip_platforms == tags
    assert platform.python_version == runtime.removeprefix("python")


def test_a_requirement_pip_cannot_install_is_one_line_naming_the_file_the_platform_and_the_package(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("this-package-does-not-exist-devkit==0.0.1\n")
    with pytest.raises(package.PackageError) as refused:
        package.pip_install(requirements, package.Platform("python3.13", "arm64"), tmp_path / "site")
    assert str(refused.value) == (
        f"pip could not install {requirements} for python3.13 on arm64 (binary wheels only): "
        "ERROR: No matching distribution found for this-package-does-not-exist-devkit==0.0.1"
    ), "pip's own last line, which names the package, ends the message"


def test_real_platform_install_of_jinja2_for_arm64(app_copy, tmp_path):
    """Really runs pip against PyPI: the compiled part of MarkupSafe must be the Linux aarch64 build."""
    app = manifest_module.load(app_copy / "app.arc")
    built = package.build_all(app, tmp_path / "build")["http-get-index"]
    entries = names(built.path)
    assert "jinja2/__init__.py" in entries
    assert "markupsafe/_speedups.cpython-313-aarch64-linux-gnu.so" in entries
    assert not [n for n in entries if n.endswith(".so") and "aarch64-linux-gnu" not in n]
