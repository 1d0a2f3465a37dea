# Sourced by tools/build-curl.sh and tools/audit.sh: an apt configuration of their own for Debian 12
# (bookworm), with every suite that publishes its packages: bookworm, bookworm-updates and
# bookworm-security. Lists and cache live under the directory given; the system's apt is untouched.
# For the arm64 package, set debian_codename=trixie and debian_arch=arm64 after sourcing.
#
#   debian_apt_setup DIR deb|deb-src   sets the array debian_apt_opts (for apt-get/apt-cache) and
#                                      runs apt-get update; exits with a clear message on failure
#
# The mirrors are the ones this machine already uses (deb822 .sources or one-line .list), else
# deb.debian.org; DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR override them.

debian_codename=bookworm
debian_arch=""

# The first URI this machine's apt sources give for suite $1.
debian_mirror_of() {
    local suite=$1 f
    {
        for f in /etc/apt/sources.list.d/*.sources; do
            [[ -f "$f" ]] || continue
            awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" } {
                u = ""; su = ""; on = 1
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); u = $i }
                    else if ($i ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", $i); su = " " $i " " }
                    else if ($i ~ /^Enabled:[ \t]*no/) { on = 0 }
                }
                if (on && u != "" && index(su, " " s " ")) { split(u, a, " "); print a[1] }
            }' "$f"
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [[ -f "$f" ]] || continue
            awk -v s="$suite" '$1 == "deb" || $1 == "deb-src" {
                i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == s) print $i
            }' "$f"
        done
    } | head -n1
}

debian_apt_setup() {
    local dir=$1 type=$2 mirror security keyring signed_by=""
    mirror=${DEBIAN_MIRROR:-$(debian_mirror_of "$debian_codename")}
    mirror=${mirror:-http://deb.debian.org/debian}
    security=${DEBIAN_SECURITY_MIRROR:-$(debian_mirror_of "$debian_codename-security")}
    security=${security:-http://deb.debian.org/debian-security}
    # apt reads relative Dir:: paths against its own directories: make it absolute.
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [[ -f "$keyring" ]] && signed_by="[signed-by=$keyring] "
    mkdir -p "$dir/sources.list.d" "$dir/lists/partial" "$dir/cache/archives/partial"
    {
        echo "$type $signed_by$mirror $debian_codename main"
        echo "$type $signed_by$mirror $debian_codename-updates main"
        echo "$type $signed_by$security $debian_codename-security main"
    } >"$dir/sources.list.d/debian.list"
    debian_apt_opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$dir/sources.list.d"
        -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o Acquire::Retries=2)
    [ "$(id -u)" -eq 0 ] && debian_apt_opts+=(-o APT::Sandbox::User=root)
    [[ -z "$debian_arch" ]] || debian_apt_opts+=(-o "APT::Architecture=$debian_arch" -o "APT::Architectures::=$debian_arch")
    debian_mirrors="$mirror and $security"
    # apt-get update exits 0 when a source cannot be fetched (it only warns): read the warnings.
    local log
    log=$(apt-get "${debian_apt_opts[@]}" update 2>&1) && ! grep -Eq '^(W|E): (Failed to fetch|Some index files failed)' <<<"$log" || {
        echo "$log" | grep -E '^(W|E):' >&2
        echo "cannot read Debian's $debian_codename indexes from $debian_mirrors (no network to the mirror?" \
            "set DEBIAN_MIRROR / DEBIAN_SECURITY_MIRROR)" >&2
        return 1
    }
}

# The newest of the versions given, one a line, by Debian's ordering (dpkg --compare-versions).
debian_newest() {
    local newest="" version
    while read -r version; do
        [[ -n "$version" ]] || continue
        if [[ -z "$newest" ]] || dpkg --compare-versions "$version" gt "$newest"; then newest=$version; fi
    done
    echo "$newest"
}
