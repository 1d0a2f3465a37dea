#!/usr/bin/env bash
# Build the minimal libcurl.so.4 that tools/package.sh bundles instead of Debian's.
#
# Debian's libcurl4 (OpenSSL flavour) is built with every protocol and feature and pulls 27 more
# shared libraries into the package (GnuTLS via librtmp, Kerberos, LDAP, SASL, libssh2, nghttp2,
# libidn2, libpsl, brotli, zstd, p11-kit, ...). The bootstrap only speaks HTTP/1.1, plain to the
# Runtime API and over TLS (OpenSSL) to SageMaker, optionally through an http(s)_proxy. So this
# builds the very same library from the very same Debian source package (upstream 7.88.1 plus all
# of Debian's patches for the OpenSSL flavour, security fixes included, plus the few of ours in
# tools/curl-patches/, none of which changes what goes on the wire), with the same soname
# (libcurl.so.4) and the same symbol version (CURL_OPENSSL_4), but configured with HTTP(S),
# proxies, the threaded resolver and OpenSSL only. Its only dependencies are libssl, libcrypto
# and libc. The binary is still linked against Debian's libcurl at build time; the loader in
# the package resolves it to this one at run time.
#
# Output: .build-curl/<debian version>/lib/libcurl.so.4 (and BUILDINFO next to lib/). Progress
# goes to stderr; the only line on stdout is the lib directory, for tools/package.sh.
# Idempotent: does nothing when that library exists and was built with the same options.
# --fetch-only: fetch and check the source package, print the .dsc's path, build nothing (to fill
# .build-curl/src before going offline, or to check that the mirrors have a version).
#
# ARCH=arm64: the same library for the arm64 package, from trixie's curl source (the arm64 binary
# is built and linked in trixie, tools/arm64-root.sh), cross-compiled with trixie's
# aarch64-linux-gnu-gcc inside that root: run from the host, this script runs itself there.
# Output: .build-curl/<debian version>-arm64/lib/libcurl.so.4.
set -euo pipefail
fetch_only=""
[[ "${1:-}" == "--fetch-only" ]] && fetch_only=1
cd "$(dirname "${BASH_SOURCE[0]}")/.."

arch=${ARCH:-x86_64}
case "$arch" in
    x86_64 | amd64)
        arch=x86_64 deb_arch=amd64 codename=bookworm dev_package=libcurl4-openssl-dev multiarch=x86_64-linux-gnu
        cross="" suffix="" configure_host=()
        pinned_version=7.88.1-10+deb12u15
        pinned_dsc_sha256=2744f12e3aef161c0361743fa1b318296b122e566e47f381e4a63320fbcc23f4
        build_tools=(dpkg-dev build-essential libssl-dev pkg-config xz-utils patch ca-certificates)
        # Our own patches, applied after Debian's (tools/curl-patches/README.md says what each is for).
        patches=(tools/curl-patches/*.patch)
        # The last two patches of bookworm's series turn the tree into the GnuTLS and NSS flavours.
        flavour_patches=(99_nss.patch 90_gnutls.patch)
        ;;
    arm64 | aarch64)
        if [[ ! -f /.summarizer-root ]]; then
            tools/arm64-root.sh >/dev/null
            exec tools/arm64-root.sh run env ARCH=arm64 ${CURL_DEB_VERSION:+CURL_DEB_VERSION="$CURL_DEB_VERSION"} \
                ${CURL_ALLOW_OLDER:+CURL_ALLOW_OLDER="$CURL_ALLOW_OLDER"} ${CURL_SOURCE_MIRROR:+CURL_SOURCE_MIRROR="$CURL_SOURCE_MIRROR"} \
                ${DEBIAN_MIRROR:+DEBIAN_MIRROR="$DEBIAN_MIRROR"} ${DEBIAN_SECURITY_MIRROR:+DEBIAN_SECURITY_MIRROR="$DEBIAN_SECURITY_MIRROR"} \
                tools/build-curl.sh "$@"
        fi
        arch=arm64 deb_arch=arm64 codename=trixie dev_package=libcurl4-openssl-dev:arm64 multiarch=aarch64-linux-gnu
        cross=aarch64-linux-gnu- suffix=-arm64 configure_host=(--host=aarch64-linux-gnu)
        pinned_version=8.14.1-2+deb13u5
        pinned_dsc_sha256=9a9a2c95cdc8b5d76892c70858f25eaf2dc0b0a475a1e43e0b4ad428414752df
        build_tools=(dpkg-dev gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libssl-dev:arm64 pkgconf xz-utils patch ca-certificates)
        # tools/curl-patches/ is written against 7.88's lib/http.c and does not apply to 8.14:
        # the arm64 libcurl goes without it (bench/IMPROVEMENTS.md measured what it saves).
        patches=()
        # trixie's source has no flavour patches to revert: it builds GnuTLS in a separate tree.
        flavour_patches=()
        export PKG_CONFIG_LIBDIR=/usr/lib/$multiarch/pkgconfig:/usr/share/pkgconfig
        ;;
    *) echo "build-curl: ARCH=$arch: x86_64 or arm64" >&2; exit 2 ;;
esac

# The source package of the libcurl4-openssl-dev the binary is linked against, so both are the
# same release. apt checks what it downloads against the mirror's signed Sources index; the .dsc
# (which carries the checksums of the upstream tarball and Debian's patches, checked by
# dpkg-source) is also pinned for the release this was written against. A newer Debian security
# update builds unpinned, with a note; the export check below still compares it with Debian's.
# An older one than the pin (a machine that missed updates) is refused: it would bundle a libcurl
# with security fixes missing. CURL_ALLOW_OLDER=1 builds it anyway.
installed=$(dpkg-query -W -f='${Version}' "$dev_package" 2>/dev/null || true)
deb_version=${CURL_DEB_VERSION:-${installed:-$pinned_version}}
# Debian's mirrors can list a version in trixie's index whose source is not (yet) in the pool
# (deb.debian.org answered 404 for curl_8.14.1-2+deb13u7.dsc when deb13u7's binaries were
# there): for arm64 the pin is the default, and a newer installed -dev package is only noted.
if [[ "$arch" == arm64 && -z "${CURL_DEB_VERSION:-}" ]]; then
    deb_version=$pinned_version
    if [[ -n "$installed" ]] && dpkg --compare-versions "$installed" gt "$pinned_version"; then
        echo "build-curl: note: $dev_package is $installed, newer than the pinned source $pinned_version" \
            "(make audit says so too): update the pin when the mirror serves curl_$installed.dsc" >&2
    fi
fi
dsc_sha256=""
if [[ "$deb_version" == "$pinned_version" ]]; then
    dsc_sha256=$pinned_dsc_sha256
elif dpkg --compare-versions "$deb_version" lt "$pinned_version" && [[ "${CURL_ALLOW_OLDER:-}" != 1 ]]; then
    echo "build-curl: curl $deb_version is older than the pinned $pinned_version (security fixes missing):" \
        "apt-get upgrade libcurl4-openssl-dev, or set CURL_ALLOW_OLDER=1 to build it anyway" >&2
    exit 1
fi

# Everything not listed is either off by default in 7.88.1 (WebSockets, ECH, hyper, HTTP/3,
# c-ares, libgsasl, wolfssh, libssh) or wanted: HTTP, HTTPS, proxies (http_proxy/https_proxy,
# HTTPS proxies, Basic proxy auth), IPv6, the threaded resolver (timeouts cover DNS), verbose
# error strings (CURLOPT_ERRORBUFFER and curl_easy_strerror texts end up in errorMessage).
# The CA defaults are Debian's, so behaviour matches the library the binary was built against
# (the bootstrap passes its own CURLOPT_CAINFO anyway). No zlib: the bootstrap never sets
# CURLOPT_ACCEPT_ENCODING, so libcurl never asks for nor decodes compressed bodies.
configure_args=(
    --disable-dependency-tracking --disable-silent-rules --disable-static --enable-shared
    --enable-symbol-hiding --enable-versioned-symbols
    --with-openssl --with-ca-path=/etc/ssl/certs --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt
    --enable-http --enable-proxy --enable-ipv6 --enable-threaded-resolver --enable-verbose
    --disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp --disable-dict
    --disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp
    --disable-gopher --disable-mqtt --disable-websockets
    --disable-ntlm --disable-ntlm-wb --disable-tls-srp --disable-kerberos-auth
    --disable-negotiate-auth --without-gssapi
    --disable-cookies --disable-hsts --disable-alt-svc --disable-doh --disable-mime --disable-netrc
    --disable-unix-sockets --disable-manual --disable-libcurl-option --disable-progress-meter
    --without-zlib --without-brotli --without-zstd --without-libpsl --without-libidn2
    --without-nghttp2 --without-ngtcp2 --without-nghttp3 --without-quiche --without-msh3
    --without-librtmp --without-libssh2 --without-libssh --without-wolfssh --without-libgsasl
    --without-hyper --disable-ares
)

prefix=".build-curl/$deb_version$suffix"
libdir="$prefix/lib"
buildinfo="$prefix/BUILDINFO"
# The patches' checksums are part of the signature, so changing one rebuilds the library.
patches_sum=""
((${#patches[@]} == 0)) || patches_sum=$(cat "${patches[@]}" | sha256sum | cut -c1-16)
signature="debian $deb_version $arch; patches $patches_sum; configure ${configure_args[*]}"

# Everything goes to stderr but the lib directory, printed last on the original stdout (fd 3).
exec 3>&1 1>&2
say() { echo "build-curl: $*"; }

if [[ -z "$fetch_only" && -f "$libdir/libcurl.so.4" && -f "$buildinfo" ]] && [[ "$(head -n1 "$buildinfo")" == "$signature" ]]; then
    say "$libdir/libcurl.so.4 is up to date"
    echo "$libdir" >&3
    exit 0
fi
started=$SECONDS

# Build tools: dpkg-dev (dpkg-source, dpkg-buildflags), a C toolchain, OpenSSL's headers.
tools/apt-install.sh "${build_tools[@]}"

if [[ -z "$dsc_sha256" ]]; then
    if dpkg --compare-versions "$deb_version" gt "$pinned_version"; then
        say "note: building curl $deb_version, newer than the pinned $pinned_version: trusting apt's signed index for its checksums"
    else
        say "note: building curl $deb_version, OLDER than the pinned $pinned_version (CURL_ALLOW_OLDER=1): trusting apt's signed index for its checksums"
    fi
fi


# Fetch the source package with an apt configuration of its own (tools/debian-apt.sh): deb-src
# entries for bookworm (trixie for arm64), -updates and -security, since a version installed from
# the security suite is published there only; lists and cache under .build-curl/apt-<codename>.
# CURL_SOURCE_MIRROR (e.g. a snapshot.debian.org URL) is the main mirror.
work=".build-curl/src"
dsc="$work/curl_${deb_version}.dsc"
mkdir -p "$work"
verified() {
    if [[ -n "$dsc_sha256" ]]; then echo "$dsc_sha256  $dsc" | sha256sum -c --status 2>/dev/null; else [[ -f "$dsc" ]]; fi
}
if ! verified; then
    source tools/debian-apt.sh
    debian_codename=$codename
    [[ -z "${CURL_SOURCE_MIRROR:-}" ]] || DEBIAN_MIRROR=$CURL_SOURCE_MIRROR
    say "fetching source package curl $deb_version (deb-src of $debian_codename, -updates, -security)"
    debian_apt_setup "$PWD/.build-curl/apt-$codename" deb-src || exit 1
    if ! (cd "$work" && apt-get "${debian_apt_opts[@]}" -qq source --download-only "curl=$deb_version") >/dev/null 2>&1; then
        available=$(apt-cache "${debian_apt_opts[@]}" showsrc curl 2>/dev/null | awk '$1 == "Version:" { print $2 }' | sort -u | tr '\n' ' ')
        say "curl $deb_version is not on $debian_mirrors (they have: ${available:-nothing}): set CURL_SOURCE_MIRROR (e.g. a snapshot.debian.org URL) or update the pin in $0"
        exit 1
    fi
    verified || { say "checksum mismatch for $dsc (expected sha256 $dsc_sha256)"; exit 1; }
fi
say "source $(basename "$dsc") sha256 $(sha256sum "$dsc" | cut -d' ' -f1)${dsc_sha256:+ (pinned)}"
if [[ -n "$fetch_only" ]]; then
    echo "$dsc" >&3
    exit 0
fi

# dpkg-source checks the tarballs against the .dsc and applies Debian's whole patch series.
# The last two patches turn the tree into the GnuTLS and NSS flavours (debian/rules pops them
# with quilt before building libcurl4): revert them, as libcurl.vers.in must say CURL_OPENSSL_4.
src="$work/curl-$deb_version"
rm -rf "$src"
dpkg-source -x "$dsc" "$src" >"$work/dpkg-source.log" 2>&1 || { cat "$work/dpkg-source.log"; exit 1; }
for patch in "${flavour_patches[@]}"; do
    [[ "$(grep -v '^#' "$src/debian/patches/series" | grep . | tail -n2)" == *"$patch"* ]] \
        || { say "$patch is no longer among the last patches of the series"; exit 1; }
    patch -d "$src" -R -p1 -s --no-backup-if-mismatch < "$src/debian/patches/$patch"
done
[[ $codename != bookworm ]] || grep -q '^CURL_@CURL_LT_SHLIB_VERSIONED_FLAVOUR@4$' "$src/lib/libcurl.vers.in" \
    || { say "lib/libcurl.vers.in does not define CURL_<flavour>4"; exit 1; }
for patch in "${patches[@]}"; do
    patch -d "$src" -p1 -s --no-backup-if-mismatch --forward < "$patch" \
        || { say "$patch does not apply to curl $deb_version"; exit 1; }
done
say "unpacked $src: upstream $(sed -n 's/^#define LIBCURL_VERSION "\(.*\)"/\1/p' "$src/include/curl/curlver.h") + $(( $(grep -v '^#' "$src/debian/patches/series" | grep -c .) - ${#flavour_patches[@]} )) Debian patches (${#flavour_patches[@]} flavour patches reverted) + ${#patches[@]} of ours"

# Debian's compiler and linker flags for this package (debian/rules: hardening=+all). The
# upstream configure script is used as shipped: the Debian patches that touch configure.ac or
# Makefile.am concern GSS-API, LDAP and zsh completions, all disabled or not built here, and
# AM_MAINTAINER_MODE keeps make from regenerating the build system.
eval "$(cd "$src" && DEB_HOST_ARCH=$deb_arch DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
say "configure (HTTP/HTTPS with OpenSSL only)"
(cd "$src" && ./configure "${configure_host[@]}" --prefix=/usr "${configure_args[@]}") >"$work/configure.log" 2>&1 \
    || { tail -n 30 "$work/configure.log"; say "configure failed, see $work/configure.log"; exit 1; }
say "make -C lib -j2"
make -C "$src/lib" -j2 >"$work/make.log" 2>&1 \
    || { tail -n 30 "$work/make.log"; say "make failed, see $work/make.log"; exit 1; }

built=$(readlink -f "$src/lib/.libs/libcurl.so.4")

# What makes it a drop-in for Debian's: soname, symbol version, every exported function.
objdump() { command "${cross}objdump" "$@"; }
objdump -p "$built" | grep -Eq 'SONAME +libcurl\.so\.4$' || { say "soname is not libcurl.so.4"; exit 1; }
objdump -p "$built" | grep -Eq ' CURL_OPENSSL_4$' || { say "CURL_OPENSSL_4 is not defined"; exit 1; }
exports() { "${cross}nm" -D --defined-only "$1" | awk '$2 ~ /^[TDBRVW]$/ && $3 ~ /@/ { print $3 }' | sort; }
debian_lib=/usr/lib/$multiarch/libcurl.so.4
if [[ -f "$debian_lib" ]]; then
    lacking=$(comm -23 <(exports "$debian_lib") <(exports "$built"))
    [[ -z "$lacking" ]] || { say "exports missing compared with $debian_lib:"; echo "$lacking"; exit 1; }
fi
needed=$(objdump -p "$built" | awk '$1 == "NEEDED" { print $2 }' | tr '\n' ' ')
for library in $needed; do
    # glibc 2.41's aarch64 libraries name the loader too (__tls_get_addr).
    case "$library" in libssl.so.3 | libcrypto.so.3 | libc.so.6 | ld-linux-aarch64.so.1) ;; *) say "unexpected dependency $library"; exit 1 ;; esac
done

rm -rf "$prefix"
mkdir -p "$libdir"
cp "$built" "$libdir/libcurl.so.4"
{
    echo "$signature"
    echo "source: curl $deb_version (Debian $codename source package, .dsc sha256 $(sha256sum "$dsc" | cut -d' ' -f1)), ${#flavour_patches[@]} flavour patches reverted"
    echo "our patches: ${patches[*]##*/}"
    echo "CFLAGS: ${CFLAGS//"$PWD/$src"/<src>}"
    echo "CPPFLAGS: $CPPFLAGS"
    echo "LDFLAGS: $LDFLAGS"
    echo "features: $(sh "$src/curl-config" --features | tr '\n' ' ')"
    echo "protocols: $(sh "$src/curl-config" --protocols | tr '\n' ' ')"
    echo "needs: $needed"
    echo "exports: $(exports "$built" | wc -l) symbols, version CURL_OPENSSL_4"
} > "$buildinfo"
sed 's/^/build-curl:   /' "$buildinfo" | tail -n +2
say "built $libdir/libcurl.so.4 ($(( $(stat -c %s "$libdir/libcurl.so.4") / 1024 )) KiB unstripped) in $(( SECONDS - started )) s"
echo "$libdir" >&3
