#!/usr/bin/env bash
# The whole test suite, as `npm test` runs it (after `npm install`):
#   1. the pinned Zig and all kernel libraries, built fresh;
#   2. `zig build test`: every variant this CPU can run natively, SIMD against scalar references, and the
#      aarch64 (NEON) variant under qemu-user (installed from Debian's packages when missing and we are root);
#   3. the TypeScript type check;
#   4. `bun test` with the auto-chosen variant, then the kernel-dependent files (*.variants.test.ts) again
#      forcing each other variant this CPU can run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
zig="$(bash scripts/zig-path.sh)"
# Real models for the tests are downloaded once into the repo's ignored cache and reused. The cache also
# holds the test logs the counts below are read from; it does not exist yet when Zig came from PATH.
export ZINC_MODELS="${ZINC_MODELS:-$root/.cache/models}"
mkdir -p .cache

if ! command -v qemu-aarch64-static >/dev/null 2>&1 && ! command -v qemu-aarch64 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "zinc test: installing qemu-user-static for the aarch64 kernel tests" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >/dev/null
  else
    echo "zinc test: the aarch64 kernel tests need qemu-aarch64: install Debian's qemu-user-static" >&2
    exit 1
  fi
fi

echo "== zig build (all variants)"
"$zig" build --release=fast --summary none
echo "== zig build test"
"$zig" build test --summary all 2>&1 | tee .cache/zig-test.log | grep -E "^(Build Summary|\+-|\|)|error|FAIL" || true
zig_status=${PIPESTATUS[0]}
[ "$zig_status" = 0 ] || { echo "zig build test failed" >&2; exit 1; }

echo "== typecheck"
tsc --noEmit -p .

passed=0
failed=0
run_bun_tests() {
  local label="$1"
  shift
  echo "== bun test ($label)"
  set +e
  "$@" 2>&1 | tee .cache/bun-test.log
  local status=${PIPESTATUS[0]}
  set -e
  passed=$((passed + $(grep -oE '^ *[0-9]+ pass$' .cache/bun-test.log | grep -oE '[0-9]+' || echo 0)))
  failed=$((failed + $(grep -oE '^ *[0-9]+ fail$' .cache/bun-test.log | grep -oE '[0-9]+' || echo 0)))
  [ "$status" = 0 ] || failed=$((failed > 0 ? failed : 1))
}

run_bun_tests "auto variant" env -u ZINC_KERNELS bun test --timeout 600000
best="$(env -u ZINC_KERNELS bun src/cli/main.ts doctor --json | bun -e 'const d = JSON.parse(await Bun.stdin.text()); console.log(d.best)')"
for variant in $(env -u ZINC_KERNELS bun src/cli/main.ts doctor --json | bun -e 'const d = JSON.parse(await Bun.stdin.text()); console.log(d.variants.filter((v) => v.runnable).map((v) => v.name).join(" "))'); do
  [ "$variant" = "$best" ] && continue
  run_bun_tests "ZINC_KERNELS=$variant" env ZINC_KERNELS="$variant" bun test --timeout 600000 .variants.test
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
