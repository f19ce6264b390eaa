/**
 * Perplexity by llama.cpp's method (llama-perplexity): the text is tokenized once (BOS as the model's metadata
 * asks), cut into non-overlapping chunks of `ctx` tokens, each chunk's first token replaced by BOS when the
 * model uses one, and only the second half of each chunk is scored: logits at position j predict token j+1
 * for j from ctx/2 to ctx-2.
 */
import { ZincError } from "../errors.ts";
import type { LoadedModel } from "../index.ts";

export interface PerplexityResult {
  perplexity: number;
  /** Standard error of the perplexity estimate (llama.cpp's formula). */
  uncertainty: number;
  chunks: number;
  ctx: number;
  scoredTokens: number;
  tokensPerSecond: number;
}

export function computePerplexity(model: LoadedModel, text: string, ctx: number, onChunk?: (chunk: number, ppl: number) => void): PerplexityResult {
  const tokens = model.tokenize(text);
  if (tokens.length < 2 * ctx) {
    throw new ZincError(`the text is ${tokens.length} tokens; perplexity at --ctx ${ctx} needs at least ${2 * ctx}`, "use a longer text or a smaller --ctx");
  }
  if (ctx > model.model.contextLength) throw new ZincError(`--ctx ${ctx} is larger than the model context ${model.model.contextLength}`);
  const vocab = model.tokenizer.vocab;
  const addBos = vocab.addBos && vocab.bos >= 0;
  const chunks = Math.floor(tokens.length / ctx);
  const first = Math.floor(ctx / 2);
  const V = model.config.vocabSize;
  let nll = 0;
  let nll2 = 0;
  let count = 0;
  const started = performance.now();
  for (let c = 0; c < chunks; c++) {
    const chunk = tokens.slice(c * ctx, (c + 1) * ctx);
    if (addBos) chunk[0] = vocab.bos;
    model.session.reset();
    const logits = model.model.forward(chunk, { allLogits: true });
    for (let j = first; j < ctx - 1; j++) {
      const row = logits.subarray(j * V, (j + 1) * V);
      let max = -Infinity;
      for (let i = 0; i < V; i++) if (row[i] > max) max = row[i];
      let sum = 0;
      for (let i = 0; i < V; i++) sum += Math.exp(row[i] - max);
      const logProb = row[chunk[j + 1]] - max - Math.log(sum);
      nll -= logProb;
      nll2 += logProb * logProb;
      count++;
    }
    onChunk?.(c, Math.exp(nll / count));
  }
  model.session.reset();
  const mean = nll / count;
  const variance = nll2 / count - mean * mean;
  const uncertainty = count > 1 ? Math.exp(mean) * Math.sqrt(Math.max(variance, 0) / (count - 1)) : 0;
  return {
    perplexity: Math.exp(mean),
    uncertainty,
    chunks,
    ctx,
    scoredTokens: count,
    tokensPerSecond: (chunks * ctx) / ((performance.now() - started) / 1000),
  };
}
