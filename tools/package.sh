#!/usr/bin/env bash
# Build the Lambda deployment package: dist/summarizer-lambda.zip with `bootstrap` at its root.
# ARCH=arm64 (make package ARCH=arm64): dist/summarizer-lambda-arm64.zip for Graviton, the same
# layout, cross-compiled with Debian 13's Swift 6.0.3 and linked against trixie's arm64 libraries
# in the root tools/arm64-root.sh makes (swift.org's toolchains cannot be downloaded here). Its
# libraries come from that root and are listed by its own loader under qemu-aarch64-static.
#
# The binary is built on Debian 12 (glibc 2.36); Amazon Linux 2 has glibc 2.26 and OpenSSL 1.0.2,
# Amazon Linux 2023 glibc 2.34. So the package carries its own dynamic loader and every shared
# library the binary needs, and `bootstrap` starts the binary through that loader: nothing of
# the host's userland is used at run time, and the same zip runs on provided.al2 and
# provided.al2023.
#
# libcurl is not Debian's: tools/build-curl.sh builds the same libcurl.so.4 (same Debian source,
# soname and CURL_OPENSSL_4 symbol version) with HTTP(S) on OpenSSL only, which needs nothing
# but libssl, libcrypto and libc; Debian's would drag in 27 more libraries (GnuTLS, Kerberos,
# LDAP, SASL, libssh2, nghttp2, libidn2, libpsl, brotli, zstd, p11-kit, ...). dist/package/MANIFEST
# (also in the zip) lists every file with its origin and what needs it; a library that is not in
# the `why` table below fails the build, so a new dependency cannot slip into the package.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

arch=${ARCH:-x86_64}
case "$arch" in
    x86_64 | amd64)
        arch=x86_64 out=dist/package zip_path=dist/summarizer-lambda.zip binary=.build/release/bootstrap
        loader_name=ld-linux-x86-64.so.2 sysroot="" cross="" debian=bookworm
        # The bundled libraries are this machine's: bring their packages to Debian's newest first,
        # so the zip never carries a library Debian has already fixed (make audit checks the result).
        tools/apt-install.sh --upgrade libc6 libc6-dev libssl3 libssl-dev libstdc++6 libgcc-s1 libcurl4-openssl-dev
        swift build -c release --static-swift-stdlib --product bootstrap >/dev/null
        compiler=$(swift --version 2>&1 | head -n1)
        list_libraries() { LD_LIBRARY_PATH="$1" ldd "$2"; }
        ;;
    arm64 | aarch64)
        arch=arm64 out=dist/package-arm64 zip_path=dist/summarizer-lambda-arm64.zip
        binary=.build-arm64/aarch64-unknown-linux-gnu/release/bootstrap
        loader_name=ld-linux-aarch64.so.1 cross=aarch64-linux-gnu- debian=trixie
        tools/apt-install.sh qemu-user-static binutils-aarch64-linux-gnu
        # The same for the root's trixie packages.
        sysroot=$(tools/arm64-root.sh --upgrade)
        tools/arm64-root.sh swift-build -c release --static-swift-stdlib --product bootstrap --scratch-path .build-arm64 >/dev/null
        compiler="$(tools/arm64-root.sh run swift --version 2>&1 | head -n1) (Debian trixie swiftlang $(dpkg-query --admindir="$sysroot/var/lib/dpkg" -W -f='${Version}' swiftlang)), cross-compiling for aarch64-unknown-linux-gnu"
        # ldd is the loader's --list: the root's arm64 loader under qemu, which looks up the
        # binary's libraries in the root first (-L).
        list_libraries() {
            qemu-aarch64-static -L "$sysroot" "$sysroot/usr/lib/aarch64-linux-gnu/$loader_name" --library-path "$1" --list "$2"
        }
        ;;
    *) echo "package: ARCH=$arch: x86_64 or arm64" >&2; exit 2 ;;
esac

rm -rf "$out" "$zip_path"
mkdir -p "$out/bin" "$out/lib"
"${cross}strip" --strip-all -o "$out/bin/summarizer" "$binary"

curl_libdir="$PWD/$(ARCH=$arch tools/build-curl.sh)"

# Why each library is in the package. Anything else ldd finds is an error (see the header).
declare -A why=(
    [$loader_name]="dynamic loader; bootstrap starts bin/summarizer through it (the host's glibc may be older)"
    [libc.so.6]="C library"
    [libm.so.6]="math functions of the Swift stdlib (exp, log, pow, hypotf, ...)"
    [libstdc++.so.6]="C++ runtime of the Swift runtime and stdlib (linked statically, they still need it)"
    [libgcc_s.so.1]="unwinder (_Unwind_Backtrace of Swift crash backtraces, C++ exceptions)"
    [libcurl.so.4]="HTTP client (Runtime API, SageMaker InvokeEndpoint)"
    [libssl.so.3]="TLS of libcurl (https to SageMaker, https proxies)"
    [libcrypto.so.3]="SHA-256/HMAC of SigV4 signing; crypto of libssl"
    # arm64 only: trixie's OpenSSL 3.5 is linked with zlib and zstd (TLS certificate compression).
    [libz.so.1]="zlib, which trixie's libcrypto.so.3 is linked with (certificate compression)"
    [libzstd.so.1]="zstd, which trixie's libcrypto.so.3 is linked with (certificate compression)"
)

# Every library the loader resolves, the loader itself included (ldd prints it without "=>"),
# with the minimal libcurl found first. ldd reports missing libraries and symbol versions as
# "not found", on stdout or stderr. Paths are the target's: under the root for arm64.
ldd_output=$(list_libraries "$curl_libdir" "$out/bin/summarizer" 2>&1)
if grep -q "not found" <<<"$ldd_output"; then
    echo "package: ldd $out/bin/summarizer:" >&2; echo "$ldd_output" >&2; exit 1
fi
# A target path as this machine sees it (qemu -L falls back to the host's path, as for libcurl).
on_host() { if [[ -n "$sysroot" && -e "$sysroot$1" ]]; then echo "$sysroot$1"; else echo "$1"; fi; }
loader=""
declare -A origin=()
while read -r name arrow path _; do
    # The loader is "/lib/ld-linux-...so.N (0x...)" in ldd's output, "... => path" in --list's.
    if [[ "$name" == /*ld-linux* ]]; then
        loader=$(basename "$name")
        cp -L "$(on_host "$name")" "$out/lib/$loader"
        origin[$loader]=$name
    elif [[ "$arrow" == "=>" && -n "$path" ]]; then
        cp -L "$(on_host "$path")" "$out/lib/$name"
        origin[$name]=$path
    fi
done <<<"$ldd_output"
[[ "$loader" == "$loader_name" ]] || { echo "package: the dynamic loader is ${loader:-missing}, not $loader_name" >&2; exit 1; }
[[ "${origin[libcurl.so.4]:-}" == "$curl_libdir/libcurl.so.4" ]] \
    || { echo "package: libcurl.so.4 resolved to ${origin[libcurl.so.4]:-nothing}, not $curl_libdir" >&2; exit 1; }
for name in "${!origin[@]}"; do
    [[ -n "${why[$name]:-}" ]] || {
        echo "package: $name (${origin[$name]}) is a new dependency: say why in tools/package.sh, or get rid of it" >&2
        exit 1
    }
done
"${cross}strip" --strip-unneeded "$out"/lib/*.so* 2>/dev/null || true
chmod 755 "$out/lib/$loader"

# Where a library comes from: its Debian package and version (from the root's dpkg database for
# arm64), or the minimal curl build.
dpkg_query() { dpkg-query ${sysroot:+--admindir="$sysroot/var/lib/dpkg"} "$@"; }
provenance() {
    local path=$1 candidate package
    if [[ "$path" == "$curl_libdir/"* ]]; then
        sed -n 's/^source: \(curl [^ ]*\).*/\1 (Debian source, minimal build)/p' "$curl_libdir/../BUILDINFO"
        return
    fi
    local resolved
    resolved=$(readlink -f "$(on_host "$path")")
    for candidate in "$path" "${resolved#"$sysroot"}"; do
        for candidate in "$candidate" "${candidate#/usr}" "/usr$candidate"; do
            package=$(dpkg_query -S "$candidate" 2>/dev/null | grep -v '^diversion ' | head -n1 | cut -d' ' -f1) || true
            package=${package%:}
            if [[ -n "$package" ]]; then
                echo "${package%:*} $(dpkg_query -W -f='${Version}' "$package")"
                return
            fi
        done
    done
    echo "unknown"
}

# Who needs what: DT_NEEDED of the binary and of every bundled library.
declare -A needed_by=()
for object in "$out/bin/summarizer" "$out"/lib/*; do
    for name in $("${cross}objdump" -p "$object" | awk '$1 == "NEEDED" { print $2 }'); do
        needed_by[$name]+="${needed_by[$name]:+, }${object#"$out/"}"
    done
done
needed_by[$loader]="bootstrap${needed_by[$loader]:+, ${needed_by[$loader]}}"
{
    echo "# $zip_path: every file, where it comes from and what needs it (written by tools/package.sh)"
    echo "# architecture: $arch; libraries from Debian $debian"
    echo "# compiler: $compiler"
    echo "bootstrap: sh script, runs bin/summarizer through lib/$loader with --library-path lib"
    echo "bin/summarizer: the Swift binary, stripped (Swift stdlib linked statically)"
    for name in $(ls "$out/lib"); do
        echo "lib/$name: ${why[$name]} [$(provenance "${origin[$name]}")]; needed by ${needed_by[$name]:-nothing}"
    done
    echo "# libcurl build:"
    sed 's/^/#   /' "$curl_libdir/../BUILDINFO"
} > "$out/MANIFEST"

# The repository's own launcher, as it is.
cp bootstrap "$out/bootstrap"
chmod 755 "$out/bootstrap" "$out/bin/summarizer"

# Fixed timestamps so the same inputs give the same zip.
find "$out" -exec touch -h -d '2026-01-01 00:00:00' {} +
(cd "$out" && zip -q -X -9 -r "../$(basename "$zip_path")" bootstrap bin lib MANIFEST)

unpacked=$(du -sb "$out" | cut -f1)
zipped=$(stat -c %s "$zip_path")
grep -v '^#' "$out/MANIFEST" | sed 's/^/package:   /'
echo "package: $zip_path $(( zipped / 1024 )) KiB zipped, $(( unpacked / 1024 )) KiB unpacked, $(ls "$out/lib" | wc -l) libraries"
