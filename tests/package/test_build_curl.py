"""tools/build-curl.sh picks and fetches the curl source it builds: Debian's version ordering, every
bookworm suite (the security suite included), and clear errors. Needs Debian's apt mirror."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PINNED = "7.88.1-10+deb12u15"


def build_curl(*arguments: str, **environment: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CURL_SOURCE_MIRROR", "DEBIAN_MIRROR",
                                                             "DEBIAN_SECURITY_MIRROR", "CURL_ALLOW_OLDER", "ARCH")}
    env.update(environment)
    return subprocess.run([str(REPO / "tools" / "build-curl.sh"), *arguments], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("arguments, environment, messages", [
    # deb12u5 < deb12u15 for dpkg, though "deb12u5" > "deb12u15" as strings.
    ((), {"CURL_DEB_VERSION": "7.88.1-10+deb12u5"},
     [f"curl 7.88.1-10+deb12u5 is older than the pinned {PINNED}", "CURL_ALLOW_OLDER=1"]),
    (("--fetch-only",), {"CURL_DEB_VERSION": "7.88.1-10+deb12u99"},
     ["curl 7.88.1-10+deb12u99 is not on", "they have: ", PINNED]),
    (("--fetch-only",), {"CURL_DEB_VERSION": "7.88.1-10+deb12u99", "CURL_SOURCE_MIRROR": "http://127.0.0.1:9/debian",
                         "DEBIAN_SECURITY_MIRROR": "http://127.0.0.1:9/debian-security"},
     ["cannot read Debian's bookworm indexes from http://127.0.0.1:9/debian"]),
], ids=["older-than-the-pin", "in-no-suite", "unreachable-mirror"])
def test_a_refused_version_or_an_unreachable_mirror_is_a_clear_error(arguments, environment, messages):
    result = build_curl(*arguments, **environment)
    assert result.returncode == 1
    for message in messages:
        assert message in result.stderr, message


def test_a_version_only_in_the_security_suite_can_be_fetched():
    # bookworm-security carries its last upload of curl, which the main suite has superseded.
    result = build_curl("--fetch-only", CURL_DEB_VERSION="7.88.1-10+deb12u5", CURL_ALLOW_OLDER="1")
    assert result.returncode == 0, result.stderr
    assert "OLDER than the pinned" in result.stderr
    dsc = REPO / result.stdout.strip()
    assert dsc.name == "curl_7.88.1-10+deb12u5.dsc" and dsc.is_file()


arm64 = pytest.mark.skipif(os.environ.get("ARCH") != "arm64",
                           reason="the arm64 root (tools/arm64-root.sh): make test-arm64 runs these")
PINNED_ARM64 = "8.14.1-2+deb13u5"


@arm64
def test_arm64_fetches_trixies_pinned_source_by_default():
    result = build_curl("--fetch-only", ARCH="arm64")
    assert result.returncode == 0, result.stderr
    assert f"source curl_{PINNED_ARM64}.dsc sha256 " in result.stderr and "(pinned)" in result.stderr
    assert (REPO / result.stdout.strip()).name == f"curl_{PINNED_ARM64}.dsc"


@arm64
def test_arm64_asks_trixies_suites_for_another_version():
    result = build_curl("--fetch-only", ARCH="arm64", CURL_DEB_VERSION="8.14.1-2+deb13u99")
    assert result.returncode == 1
    assert "deb-src of trixie" in result.stderr
    assert "curl 8.14.1-2+deb13u99 is not on" in result.stderr and PINNED_ARM64 in result.stderr
