#!/usr/bin/env bash
# References for tests/quantized-agreement.test.ts: SmolLM2-135M re-quantized by `zinc quantize` to each target
# (whose tensors are byte-identical to llama-quantize's, see tests/quantize.test.ts), then run by llama.cpp.
#   scripts/reference/quantized-agreement.sh PATH/llama-reference > tests/fixtures/reference/smollm2-135m-quantized.json
set -euo pipefail
reference=$1
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
model=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
echo "{"
first=1
for target in Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K IQ4_NL IQ4_XS Q4_0 Q5_1; do
  bun src/cli/main.ts quantize "$model" "$tmp/$target.gguf" "$target" > /dev/null
  [ $first = 1 ] || echo ","
  first=0
  printf '"%s": ' "$target"
  # Where zinc follows llama.cpp's repacked Q4_0/Q4_K/IQ4_NL kernels (repackedOrderFor: such tensors and no
  # other type llama.cpp repacks), llama.cpp as it runs by default on AVX2, repacking on, with the long prompt
  # for whole batch tiles too. The others with repacking off, as every other reference.
  repacked=$(bun -e "import { openGguf } from './src/gguf/reader.ts'; import { repackedOrderFor } from './src/model/model.ts';
    console.log(repackedOrderFor(openGguf('$tmp/$target.gguf').tensors.map((t) => t.type.name)) ? 1 : 0)")
  if [ "$repacked" = 1 ]; then
    LLAMA_REF_REPACK=1 "$reference" "$tmp/$target.gguf" 32 "def fibonacci(n):" "Once upon a time, in a small village," "$(cat tests/fixtures/reference/long-prompt.txt)" 2> /dev/null
  else
    "$reference" "$tmp/$target.gguf" 32 "def fibonacci(n):" "Once upon a time, in a small village," 2> /dev/null
  fi
done
echo "}"
