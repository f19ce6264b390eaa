#!/usr/bin/env bash
# The README's results table and charts (docs/report/): bench the real models, re-quantize SmolLM2-135M and
# Gemma-3-270M to several mixes with `zinc quantize` and measure their perplexity on data/perplexity.txt, then
# `zinc report`. Quantizing an already-quantized file measures the loss on top of its original mix, so the
# charts compare mixes with each other, not with the unquantized models.
#   bash scripts/report-figures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export ZINC_MODELS="${ZINC_MODELS:-$PWD/.cache/models}"
results=docs/results.jsonl
mkdir -p docs .cache/report-models
rm -f "$results"
# Bun from the project (npm install puts it in node_modules/.bin).
export PATH="$PWD/node_modules/.bin:$PATH"
zinc() { bun src/cli/main.ts "$@"; }
for m in smollm2-135m gemma3-270m qwen2.5-coder-0.5b qwen2.5-coder-1.5b; do
  zinc bench -m "$m" -p 128 -n 32 -r 2 --results "$results" > /dev/null
done
for m in smollm2-135m gemma3-270m; do
  src=$m
  zinc perplexity -m "$src" -f data/perplexity.txt --ctx 256 --results "$results" > /dev/null 2>&1
  for q in Q8_0 Q6_K Q5_K_M Q4_K_M Q4_0 Q3_K_M Q2_K; do
    out=.cache/report-models/$m-$q.gguf
    [ -f "$out" ] || zinc quantize "$src" "$out" "$q" > /dev/null
    zinc perplexity -m "$out" -f data/perplexity.txt --ctx 256 --results "$results" > /dev/null 2>&1
  done
done
zinc report --results "$results" --out docs/report
