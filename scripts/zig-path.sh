#!/usr/bin/env bash
# Prints the path of a Zig binary of exactly the version pinned in package.json ("zinc.zigVersion").
# A `zig` on PATH is used when it is that version; otherwise the official build is taken from PyPI's
# `ziglang` wheel (a zip: no pip install, no venv) into .cache/toolchain/, which git ignores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
want="$(node -p "require('$root/package.json').zinc.zigVersion")"

if command -v zig >/dev/null 2>&1 && [ "$(zig version 2>/dev/null)" = "$want" ]; then
  command -v zig
  exit 0
fi

dir="$root/.cache/toolchain/zig-$want"
if [ -x "$dir/ziglang/zig" ] && [ "$("$dir/ziglang/zig" version)" = "$want" ]; then
  echo "$dir/ziglang/zig"
  exit 0
fi

echo "zinc: Zig $want not on PATH; fetching PyPI package ziglang==$want into $dir" >&2
rm -rf "$dir.partial"
mkdir -p "$dir.partial"
python3 -m pip download --quiet --no-deps --only-binary=:all: "ziglang==$want" -d "$dir.partial" >&2 || {
  echo "zinc: could not download ziglang==$want with pip; install Zig $want and put it on PATH" >&2
  exit 1
}
wheel="$(ls "$dir.partial"/ziglang-*.whl | head -n 1)"
python3 - "$wheel" "$dir.partial" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith("ziglang/"):
            continue
        z.extract(info, dest)
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(os.path.join(dest, info.filename), mode)
PY
chmod +x "$dir.partial/ziglang/zig"
rm -f "$wheel"
rm -rf "$dir"
mv "$dir.partial" "$dir"
echo "$dir/ziglang/zig"
