"""make audit (tools/audit.sh): the libraries bundled in the zip against Debian's newest for bookworm,
security suite included. Needs Debian's apt mirror, as the package build does."""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ZIP = REPO / "dist" / "summarizer-lambda.zip"


def audit(target: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "tools" / "audit.sh"), str(target)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def manifest() -> str:
    if not ZIP.exists():
        pytest.fail(f"{ZIP} is missing: run tools/package.sh (make test does)")
    with zipfile.ZipFile(ZIP) as archive:
        return archive.read("MANIFEST").decode()


def audit_with(directory: Path, manifest: str, package: str, version: str) -> subprocess.CompletedProcess:
    """The audit of MANIFEST with PACKAGE at VERSION."""
    changed, count = re.subn(rf"\[{re.escape(package)} [^] ]+", f"[{package} {version}", manifest)
    assert count, f"{package} is not in the MANIFEST"
    path = directory / f"MANIFEST-{package}-{version}"
    path.write_text(changed)
    return audit(path)


def test_the_package_just_built_is_up_to_date():
    """tools/package.sh upgrades the bundled packages first, so a fresh package passes."""
    result = audit(ZIP)
    assert result.returncode == 0, result.stdout + result.stderr
    for package in ("libc6", "libssl3", "libstdc++6", "libgcc-s1", "libcurl4"):
        assert re.search(rf"^audit: +{re.escape(package)} +bundled .* ok$", result.stdout, re.M), package
    assert "nothing to redeploy" in result.stdout


@pytest.mark.parametrize("package, stale, expected", [
    ("libssl3", "3.0.11-1~deb12u2", r"libssl3 3\.0\.11-1~deb12u2 < \S+ \(lib/libcrypto\.so\.3 lib/libssl\.so\.3\)"),
    # Our libcurl is built from Debian's curl source: checked against libcurl4 of that source.
    ("curl", "7.88.1-10+deb12u5", r"libcurl4 7\.88\.1-10\+deb12u5 < \S+ \(lib/libcurl\.so\.4\)"),
])
def test_a_stale_library_fails_with_rebuild_and_redeploy(manifest, tmp_path, package, stale, expected):
    result = audit_with(tmp_path, manifest, package, stale)
    assert result.returncode == 1
    assert re.search(expected, result.stdout), result.stdout
    assert "rebuild and redeploy" in result.stdout


def test_versions_compare_the_way_dpkg_does(manifest, tmp_path):
    """Debian's ordering, not a string comparison: a "+local1" suffix sorts after, a "~rc1" before."""
    current = re.search(r"\[libc6 ([^] ]+)\]", manifest).group(1)
    assert "deb12u" in current
    assert audit_with(tmp_path, manifest, "libc6", current + "+local1").returncode == 0
    result = audit_with(tmp_path, manifest, "libc6", current + "~rc1")
    assert result.returncode == 1 and f"libc6 {current}~rc1 <" in result.stdout


def test_a_library_of_unknown_origin_cannot_pass(manifest, tmp_path):
    odd = tmp_path / "MANIFEST"
    odd.write_text(manifest.replace("[libstdc++6 ", "[libstdc++6-from-nowhere ", 1))
    result = audit(odd)
    assert result.returncode == 1
    assert "libstdc++6-from-nowhere is not in Debian's bookworm indexes" in result.stderr


def test_an_arm64_manifest_is_checked_against_trixie_for_arm64(tmp_path):
    """The arm64 package's MANIFEST names its Debian release and architecture: its libraries are
    trixie's arm64 packages (libssl3t64 exists in trixie only)."""
    path = tmp_path / "MANIFEST"
    path.write_text("# architecture: arm64; libraries from Debian trixie\n"
                    "lib/libssl.so.3: TLS [libssl3t64 3.0.0-1]; needed by lib/libcurl.so.4\n"
                    "lib/libcurl.so.4: HTTP client [curl 8.0.0-1 (Debian source, minimal build)]; needed by bin/summarizer\n")
    result = audit(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "newest versions in trixie, trixie-updates and trixie-security for arm64" in result.stdout
    assert re.search(r"libssl3t64 3\.0\.0-1 < \S+ \(lib/libssl\.so\.3\)", result.stdout), result.stdout
    assert re.search(r"libcurl4t64 8\.0\.0-1 < \S+ \(lib/libcurl\.so\.4\)", result.stdout), result.stdout
