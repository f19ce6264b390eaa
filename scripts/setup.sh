#!/usr/bin/env bash
# Everything a fresh clone needs after `npm install`: the pinned Zig, then every kernel library variant.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
zig="$(bash "$root/scripts/zig-path.sh")"
cd "$root"
echo "zinc: building kernel libraries with $zig ($("$zig" version))" >&2
"$zig" build --release=fast --summary none
