#!/usr/bin/env bash
# Build the Lambda deployment package: dist/summarizer-lambda.zip with `bootstrap` at its root.
#
# The binary is built on Debian 12 (glibc 2.36); Amazon Linux 2 has glibc 2.26 and OpenSSL 1.0.2,
# Amazon Linux 2023 glibc 2.34. So the package carries its own dynamic loader and every shared
# library the binary needs, and `bootstrap` starts the binary through that loader: nothing of
# the host's userland is used at run time, and the same zip runs on provided.al2 and
# provided.al2023.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=dist/package
zip_path=dist/summarizer-lambda.zip
binary=.build/release/bootstrap

swift build -c release --static-swift-stdlib -Xswiftc -Osize --product bootstrap >/dev/null
rm -rf "$out" "$zip_path"
mkdir -p "$out/bin" "$out/lib"
strip --strip-all -o "$out/bin/summarizer" "$binary"

# Every library the loader resolves, the loader itself included (ldd prints it without "=>").
loader=""
while read -r name arrow path _; do
    if [[ "$arrow" == "=>" && -n "$path" && "$path" != "not" ]]; then
        cp -L "$path" "$out/lib/$name"
    elif [[ "$name" == /*ld-linux* ]]; then
        loader=$(basename "$name")
        cp -L "$name" "$out/lib/$loader"
    fi
done < <(ldd "$out/bin/summarizer")
[[ -n "$loader" ]] || { echo "package: no dynamic loader found in ldd output" >&2; exit 1; }
strip --strip-unneeded "$out"/lib/*.so* 2>/dev/null || true
chmod 755 "$out/lib/$loader"

# POSIX sh only (busybox ash on the test chroot, bash on Amazon Linux): no dirname, no readlink.
cat > "$out/bootstrap" <<SCRIPT
#!/bin/sh
root="\${LAMBDA_TASK_ROOT:-\${0%/*}}"
exec "\$root/lib/$loader" --library-path "\$root/lib" "\$root/bin/summarizer" "\$@"
SCRIPT
chmod 755 "$out/bootstrap" "$out/bin/summarizer"

# Fixed timestamps so the same inputs give the same zip.
find "$out" -exec touch -h -d '2026-01-01 00:00:00' {} +
(cd "$out" && zip -q -X -9 -r "../$(basename "$zip_path")" bootstrap bin lib)

unpacked=$(du -sb "$out" | cut -f1)
zipped=$(stat -c %s "$zip_path")
echo "package: $zip_path $(( zipped / 1024 )) KiB zipped, $(( unpacked / 1024 )) KiB unpacked, $(ls "$out/lib" | wc -l) libraries"
