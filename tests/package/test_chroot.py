"""The deployment zip is self-contained: unpacked into an otherwise empty root (a static busybox
as /bin/sh and a CA bundle where Amazon Linux keeps it), chrooted, it serves invocations through
the RIE (running outside) against an HTTPS stand-in endpoint. Nothing of Debian is used at run
time: this is the closest thing to Amazon Linux this machine can run.

ARCH=arm64: the same for dist/summarizer-lambda-arm64.zip, with trixie's static arm64 busybox (from
tools/arm64-root.sh) as /bin/sh; every aarch64 executable runs under qemu (with-arm64-binfmt)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import harness
import pytest

REPO = Path(__file__).resolve().parents[2]

ARCH = os.environ.get("ARCH", "x86_64")
HERE = Path(__file__).resolve().parent
if ARCH == "arm64":
    ZIP = REPO / "dist" / "summarizer-lambda-arm64.zip"
    LOADER = "ld-linux-aarch64.so.1"
    # Runs whatever follows with aarch64 executables under qemu.
    ENTER = [str(HERE / "with-arm64-binfmt")]
else:
    ZIP = REPO / "dist" / "summarizer-lambda.zip"
    LOADER = "ld-linux-x86-64.so.2"
    ENTER = []


@functools.cache
def static_busybox() -> Path:
    """A static busybox of the package's architecture."""
    if ARCH != "arm64":
        path = Path("/bin/busybox")
        assert path.is_file(), "/bin/busybox is missing: apt-get install busybox-static"
        return path
    root = subprocess.run([str(REPO / "tools" / "arm64-root.sh")], capture_output=True, text=True, timeout=1800)
    assert root.returncode == 0, root.stderr
    return Path(root.stdout.strip()) / "opt" / "arm64-busybox" / "usr" / "bin" / "busybox"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root (CI runs as root)")


def self_signed(directory: Path, *subject: str) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *subject,
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("tls"), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1")


def make_root(base: Path, ca_bundle: Path | None) -> Path:
    """An empty root: the unpacked zip at /var/task, busybox as /bin/sh, optionally a CA bundle."""
    assert ZIP.is_file(), f"{ZIP} is missing: run `make package ARCH={ARCH}`"
    root = base / "root"
    task = root / "var" / "task"
    task.mkdir(parents=True)
    with zipfile.ZipFile(ZIP) as archive:
        for member in archive.infolist():
            archive.extract(member, task)
            if mode := member.external_attr >> 16:
                os.chmod(task / member.filename, mode & 0o777)
    (root / "bin").mkdir()
    shutil.copy(static_busybox(), root / "bin" / "busybox")
    (root / "bin" / "sh").symlink_to("busybox")
    (root / "tmp").mkdir()
    if ca_bundle is not None:
        certs = root / "etc" / "pki" / "tls" / "certs"
        certs.mkdir(parents=True)
        shutil.copy(ca_bundle, certs / "ca-bundle.crt")
    return root


def chrooted_bootstrap(base: Path, ca_bundle: Path | None) -> Path:
    """What the RIE starts: a host-side wrapper that runs the zip's bootstrap chrooted into make_root."""
    root = make_root(base, ca_bundle)
    wrapper = base / "enter-root"
    enter = "".join(f'"{word}" ' for word in ENTER)
    wrapper.write_text(f'#!/bin/sh\nexec {enter}chroot "{root}" /var/task/bootstrap\n')
    wrapper.chmod(0o755)
    return wrapper


def test_zip_layout_and_its_launcher_is_the_repositorys_bootstrap():
    assert ZIP.is_file(), f"{ZIP} is missing: run `make package`"
    with zipfile.ZipFile(ZIP) as archive:
        names = set(archive.namelist())
        bootstrap = archive.getinfo("bootstrap")
        assert (bootstrap.external_attr >> 16) & 0o111, "bootstrap must be executable"
        # The file at the top of the repository, not one generated.
        assert archive.read(bootstrap) == (REPO / "bootstrap").read_bytes()
    assert (REPO / "bootstrap").read_bytes().startswith(b"#!/bin/sh\n")
    assert {"bin/summarizer", f"lib/{LOADER}", "lib/libc.so.6", "lib/libcurl.so.4",
            "lib/libcrypto.so.3"} <= names


def test_serves_invocations_over_tls_from_an_empty_root(tmp_path, certificate):
    cert, key = certificate
    bootstrap = chrooted_bootstrap(tmp_path, ca_bundle=cert)
    with harness.StandIn("--session-token", harness.SESSION_TOKEN, "--tls-cert", str(cert), "--tls-key", str(key)) as standin:
        assert standin.url.startswith("https://")
        standin.reset()  # opens the control connection now, so "connections" counts only the function's
        env = harness.function_env(standin.url)
        env["LAMBDA_TASK_ROOT"] = "/var/task"
        with harness.Lambda(bootstrap, env, timeout=10) as function:
            for _ in range(3):
                status, _, body = function.invoke({"inputs": "Gold rose 1%. The dollar slipped."})
                assert status == 200, function.output()
                assert json.loads(body)[0]["summary_text"] == "Gold rose 1%."
            status, _, body = function.invoke({
                "version": "2.0", "requestContext": {"http": {"method": "POST"}},
                "headers": {"content-type": "text/plain"}, "body": "Oil fell. Stocks rose."})
            assert json.loads(json.loads(body)["body"])[0]["summary_text"] == "Oil fell."
            pids = function.bootstrap_pids()
            assert len(pids) == 1, [open(f"/proc/{p}/cmdline").read() for p in pids]
        assert standin.stats()["succeeded"] == 4
        assert standin.stats()["connections"] == 1  # one TLS connection, kept alive


def test_missing_ca_bundle_is_a_clear_init_error(tmp_path, certificate):
    env = harness.function_env("https://runtime.sagemaker.us-east-1.amazonaws.com")
    with harness.Lambda(chrooted_bootstrap(tmp_path, ca_bundle=None), env, timeout=10) as function:
        status, _, body = function.invoke({"inputs": "Anything."})
    assert status == 502
    error = json.loads(body)
    assert error["errorType"] == "InvalidConfiguration"
    assert "no CA certificate bundle found" in error["errorMessage"]


def test_untrusted_certificate_is_a_tls_error_not_a_hang(tmp_path, certificate, tmp_path_factory):
    cert, key = certificate
    other, _ = self_signed(tmp_path_factory.mktemp("other"), "-subj", "/CN=other")
    bootstrap = chrooted_bootstrap(tmp_path, ca_bundle=other)
    with harness.StandIn("--session-token", harness.SESSION_TOKEN, "--tls-cert", str(cert), "--tls-key", str(key)) as standin:
        with harness.Lambda(bootstrap, harness.function_env(standin.url), timeout=10) as function:
            _, _, body = function.invoke({"inputs": "Anything."})
    error = json.loads(body)
    assert error["errorType"] == "UpstreamUnreachable"
    assert "TLS" in error["errorMessage"]


def test_bootstrap_outside_a_package_says_why_it_cannot_start(tmp_path):
    shutil.copy(REPO / "bootstrap", tmp_path / "bootstrap")
    result = subprocess.run([*ENTER, static_busybox(), "sh", str(tmp_path / "bootstrap")], capture_output=True, text=True, timeout=10,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 127
    assert "no dynamic loader" in result.stderr
