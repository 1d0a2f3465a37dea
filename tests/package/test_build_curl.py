"""tools/build-curl.sh picks and fetches the curl source it builds: Debian's version ordering, every
bookworm suite (the security suite included), and clear errors. Needs Debian's apt mirror."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PINNED = "7.88.1-10+deb12u15"


def build_curl(*arguments: str, **environment: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CURL_SOURCE_MIRROR", "DEBIAN_MIRROR",
                                                             "DEBIAN_SECURITY_MIRROR", "CURL_ALLOW_OLDER")}
    env.update(environment)
    return subprocess.run([str(REPO / "tools" / "build-curl.sh"), *arguments], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_version_older_than_the_pin_is_refused():
    # deb12u5 < deb12u15 for dpkg, though "deb12u5" > "deb12u15" as strings.
    result = build_curl(CURL_DEB_VERSION="7.88.1-10+deb12u5")
    assert result.returncode == 1
    assert f"curl 7.88.1-10+deb12u5 is older than the pinned {PINNED}" in result.stderr
    assert "CURL_ALLOW_OLDER=1" in result.stderr


def test_a_version_only_in_the_security_suite_can_be_fetched():
    # bookworm-security carries its last upload of curl, which the main suite has superseded.
    result = build_curl("--fetch-only", CURL_DEB_VERSION="7.88.1-10+deb12u5", CURL_ALLOW_OLDER="1")
    assert result.returncode == 0, result.stderr
    assert "OLDER than the pinned" in result.stderr
    dsc = REPO / result.stdout.strip()
    assert dsc.name == "curl_7.88.1-10+deb12u5.dsc" and dsc.is_file()


def test_a_version_no_suite_has_is_a_clear_error():
    result = build_curl("--fetch-only", CURL_DEB_VERSION="7.88.1-10+deb12u99")
    assert result.returncode == 1
    assert "curl 7.88.1-10+deb12u99 is not on" in result.stderr
    assert f"they have: " in result.stderr and PINNED in result.stderr


def test_an_unreachable_mirror_is_a_clear_error():
    result = build_curl("--fetch-only", CURL_DEB_VERSION="7.88.1-10+deb12u99",
                        CURL_SOURCE_MIRROR="http://127.0.0.1:9/debian",
                        DEBIAN_SECURITY_MIRROR="http://127.0.0.1:9/debian-security")
    assert result.returncode == 1
    assert "cannot read Debian's bookworm indexes from http://127.0.0.1:9/debian" in result.stderr
