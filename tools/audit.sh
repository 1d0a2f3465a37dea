#!/usr/bin/env bash
# make audit: is every library bundled in the Lambda package still Debian's newest for bookworm?
# (make audit ARCH=arm64: the arm64 package's against trixie's arm64 packages.)
#
#   tools/audit.sh [dist/summarizer-lambda.zip | dist/summarizer-lambda-arm64.zip | path/to/MANIFEST]
#
# The zip carries its own loader, glibc, libstdc++, OpenSSL and libcurl (tools/package.sh), so
# Lambda's patching of the host OS never reaches them: a security fix in any of them reaches the
# function only when the package is rebuilt and redeployed. This reads the MANIFEST that
# tools/package.sh writes into the zip (each library's Debian package and version; libcurl is our
# build of Debian's curl source, checked against libcurl4 of the same source), asks Debian's
# bookworm, bookworm-updates and bookworm-security indexes for the newest version of each package,
# and fails when one is behind. Only Debian's apt mirror is contacted.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source tools/debian-apt.sh

target=${1:-dist/summarizer-lambda.zip}
say() { echo "audit: $*"; }
[[ -f "$target" ]] || { say "$target is missing: build the package first (make package)" >&2; exit 2; }
if [[ "$target" == *.zip ]]; then
    manifest=$(unzip -p "$target" MANIFEST) || { say "$target has no MANIFEST" >&2; exit 2; }
else
    manifest=$(cat "$target")
fi

# The MANIFEST says which Debian release and architecture its libraries are from; one without
# that line is an amd64 bookworm package.
if [[ "$manifest" =~ \#\ architecture:\ ([a-z0-9_]+)\;\ libraries\ from\ Debian\ ([a-z]+) ]]; then
    debian_codename=${BASH_REMATCH[2]}
    [[ "${BASH_REMATCH[1]}" != arm64 ]] || debian_arch=arm64
fi

# Debian binary package to ask the index about, for a package named in the MANIFEST (trixie's
# libcurl4 is libcurl4t64 since the 64-bit time_t transition).
declare -A binary_of=([curl]=libcurl4)
[[ "$debian_codename" == bookworm ]] || binary_of[curl]=libcurl4t64

declare -A version_of=() libraries_of=()
while IFS= read -r line; do
    [[ "$line" == lib/* ]] || continue
    library=${line%%:*}
    # "...: why [package version]; needed by ..." or "[curl version (Debian source, minimal build)]"
    if [[ "$line" =~ \[([a-z0-9][a-z0-9+.-]*)\ ([0-9][^] ]*)[^]]*\]\;\ needed\ by ]]; then
        package=${BASH_REMATCH[1]}
        version=${BASH_REMATCH[2]}
    else
        say "$library: no Debian package and version in the MANIFEST line: $line" >&2
        exit 1
    fi
    package=${binary_of[$package]:-$package}
    if [[ -n "${version_of[$package]:-}" && "${version_of[$package]}" != "$version" ]]; then
        say "$package appears with two versions (${version_of[$package]}, $version)" >&2
        exit 1
    fi
    version_of[$package]=$version
    libraries_of[$package]+="${libraries_of[$package]:+ }$library"
done <<<"$manifest"
(( ${#version_of[@]} )) || { say "no bundled libraries in $target" >&2; exit 1; }

debian_apt_setup ".build/audit/apt-$debian_codename${debian_arch:+-$debian_arch}" deb || exit 1
say "newest versions in $debian_codename, $debian_codename-updates and $debian_codename-security${debian_arch:+ for $debian_arch} ($debian_mirrors)"

behind=()
for package in $(printf '%s\n' "${!version_of[@]}" | sort); do
    bundled=${version_of[$package]}
    newest=$(apt-cache "${debian_apt_opts[@]}" madison "$package" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | debian_newest)
    if [[ -z "$newest" ]]; then
        say "$package is not in Debian's $debian_codename indexes: cannot check ${libraries_of[$package]}" >&2
        exit 1
    fi
    if dpkg --compare-versions "$bundled" lt "$newest"; then
        state="BEHIND"
        behind+=("$package $bundled < $newest (${libraries_of[$package]})")
    else
        state="ok"
    fi
    printf 'audit:   %-11s bundled %-20s newest %-20s %s\n' "$package" "$bundled" "$newest" "$state"
done

if (( ${#behind[@]} )); then
    say "${#behind[@]} bundled package(s) behind Debian's security and point releases:"
    printf 'audit:   %s\n' "${behind[@]}"
    say "rebuild and redeploy: apt-get update && apt-get upgrade on the build machine (or a fresh one), then make package and make deploy"
    exit 1
fi
say "every bundled library is Debian's newest: nothing to redeploy"
