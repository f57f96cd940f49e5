#!/usr/bin/env bash
# Checks that vendor/rumqttd is exactly the released rumqttd 0.20.0 with vendor/rumqttd.patch
# applied (see vendor/README.md): fetches the release with cargo, applies the patch, compares.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/probe/src"
: > "$work/probe/src/lib.rs"
cat > "$work/probe/Cargo.toml" <<'TOML'
[package]
name = "vendor-probe"
version = "0.0.0"
edition = "2021"

[dependencies]
rumqttd = { version = "=0.20.0", default-features = false }
TOML
(cd "$work/probe" && cargo vendor --quiet --versioned-dirs "$work/released" >/dev/null)
mkdir "$work/expected"
cp -r "$work/released/rumqttd-0.20.0" "$work/expected/rumqttd"
# Dropped from the copy: cargo's bookkeeping, not code.
rm -f "$work/expected/rumqttd/"{.cargo-checksum.json,.cargo_vcs_info.json,Cargo.lock,Cargo.toml.orig}
(cd "$work/expected" && patch --quiet -p0 < "$here/rumqttd.patch")
diff -r --exclude=.gitignore "$work/expected/rumqttd" "$here/rumqttd"
echo "vendor/rumqttd is rumqttd 0.20.0 with vendor/rumqttd.patch, nothing else"
