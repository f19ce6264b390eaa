/**
 * A conversation's state over one model context: the tokens whose K/V are in the cache, and the loop that
 * turns a prompt into streamed tokens. A new prompt that starts with tokens already in the cache only
 * computes the rest (a chat turn reuses the previous turns); when the context fills up, the oldest tokens
 * after the kept prefix (the system prompt) are dropped and the remainder recomputed, so generation goes on.
 */
import { ZincError } from "../errors.ts";
import type { Model } from "../model/model.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { argmax, Sampler, type SamplingOptions } from "./sampler.ts";

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most (default 256). */
  maxTokens?: number;
  /** Stop when the generated text contains one of these strings (not included in the output). */
  stop?: string[];
  /** Stop at the model's end-of-generation tokens (default true). */
  stopAtEog?: boolean;
  signal?: AbortSignal;
  /** Tokens at the start of the context that a context shift must keep (e.g. the system prompt). */
  keepTokens?: number;
  /**
   * Speculative decoding: a draft model's session proposes tokens, or "lookup" copies them from n-gram
   * matches in the context; the model verifies them in one batched forward pass. Greedy output is the same as
   * without drafts, token for token; sampled output follows the model's own distribution (speculative sampling).
   */
  draft?: Session | "lookup";
  /** Most tokens drafted per step (default 8); the length adapts between draftMin and this (nextDraftLength). */
  draftMax?: number;
  /** Fewer drafted tokens than this are not worth a verification pass (default 1). */
  draftMin?: number;
  /** A draft model stops drafting when its top probability falls below this (default 0.6). */
  draftPMin?: number;
}

export interface GenerationStats {
  promptTokens: number;
  /** Prompt tokens found in the cache and not recomputed. */
  reusedTokens: number;
  prefillTokens: number;
  generatedTokens: number;
  prefillMs: number;
  decodeMs: number;
  ttftMs: number;
  contextShifts: number;
  stopReason: "eog" | "length" | "stop" | "abort";
  /** Speculative decoding: tokens proposed, tokens the model accepted, and verification passes. */
  drafted: number;
  accepted: number;
  draftRounds: number;
}

/**
 * Adaptive draft length: after a pass where every draft was accepted, draft 2 more next time (up to max);
 * after a rejection, draft one more than were accepted (at least min). Drafting long only pays while the draft
 * keeps being right; a wrong guess early in a long draft wastes the whole verification batch.
 */
export function nextDraftLength(current: number, drafted: number, accepted: number, min: number, max: number): number {
  if (accepted >= drafted) return Math.min(max, Math.max(current, drafted) + 2);
  return Math.max(min, Math.min(max, accepted + 1));
}

export interface GeneratedPiece {
  token: number;
  text: string;
}

export class Session {
  /** Tokens whose keys and values are in the model's KV cache, in order. */
  tokens: number[] = [];
  lastStats: GenerationStats | undefined;

  constructor(
    readonly model: Model,
    readonly tokenizer: Tokenizer,
  ) {}

  reset(): void {
    this.tokens = [];
    this.model.cache.truncate(0);
  }

  /**
   * Rolls the context back to its first `length` tokens. When a sliding-window ring no longer holds what the
   * kept tokens need (see KvCache.exactPrefix), they are recomputed.
   */
  truncate(length: number): void {
    const exact = this.model.cache.exactPrefix(length);
    this.model.cache.truncate(exact);
    if (exact < length) this.model.forward(this.tokens.slice(exact, length));
    this.tokens.length = length;
  }

  /**
   * Makes the context hold exactly `tokens` and returns the logits after the last one, computing only the
   * tokens past the longest prefix already cached (at least the last one, whose logits are needed).
   */
  prefill(tokens: number[]): { logits: Float32Array; reused: number; computed: number } {
    if (tokens.length === 0) throw new ZincError("the prompt is empty");
    if (tokens.length > this.model.contextLength) {
      throw new ZincError(`the prompt is ${tokens.length} tokens but the context holds ${this.model.contextLength}`, "shorten the prompt or raise --ctx");
    }
    let common = 0;
    while (common < this.tokens.length && common < tokens.length && this.tokens[common] === tokens[common]) common++;
    if (common === tokens.length) common--; // recompute the last token to get its logits
    common = this.model.cache.exactPrefix(common);
    this.truncate(common);
    const rest = tokens.slice(common);
    const logits = this.model.forward(rest);
    this.tokens.push(...rest);
    return { logits, reused: common, computed: rest.length };
  }

  /** Appends one token and returns the logits after it, shifting the context first if it is full. */
  step(token: number, keep: number, stats: GenerationStats): Float32Array {
    if (this.tokens.length + 1 > this.model.contextLength) this.shift(keep, stats);
    const logits = this.model.forward([token]);
    this.tokens.push(token);
    return logits;
  }

  /** Drops the older half of the tokens after the first `keep`, keeping the context coherent. */
  private shift(keep: number, stats: GenerationStats): void {
    const k = Math.min(keep, this.tokens.length - 1);
    const movable = this.tokens.length - k;
    const drop = Math.max(1, Math.floor(movable / 2));
    const kept = [...this.tokens.slice(0, k), ...this.tokens.slice(k + drop)];
    const start = this.model.cache.exactPrefix(k);
    this.truncate(start);
    if (kept.length > start) {
      this.model.forward(kept.slice(start));
      this.tokens.push(...kept.slice(start));
    }
    stats.contextShifts++;
  }

  /**
   * Draft tokens to follow `token`: from the draft model (greedy, while it is confident) or, with "lookup",
   * the tokens that followed the longest recent n-gram match of the context's end (prompt-lookup decoding).
   */
  private proposeDrafts(token: number, options: GenerateOptions, max: number, sampler: Sampler | null): { tokens: number[]; q: Map<number, number>[] } {
    const history = [...this.tokens, token];
    if (options.draft === "lookup") {
      // Copied tokens are certain proposals: q is 1 on the copied token.
      for (let n = Math.min(4, history.length - 1); n >= 1; n--) {
        const tail = history.slice(history.length - n);
        for (let start = history.length - n - 1; start >= 0; start--) {
          let match = true;
          for (let j = 0; j < n && match; j++) match = history[start + j] === tail[j];
          if (match) {
            const tokens = history.slice(start + n, Math.min(start + n + max, history.length));
            return { tokens, q: tokens.map((t) => new Map([[t, 1]])) };
          }
        }
      }
      return { tokens: [], q: [] };
    }
    const draft = options.draft!;
    const pMin = options.draftPMin ?? 0.6;
    if (history.length + max > draft.model.contextLength) return { tokens: [], q: [] };
    let logits = draft.prefill(history).logits;
    const tokens: number[] = [];
    const q: Map<number, number>[] = [];
    while (tokens.length < max) {
      let next: number;
      if (sampler) {
        const dist = sampler.probabilities(logits.slice(), draft.tokens);
        next = sampler.drawFrom(dist);
        if ((dist.get(next) ?? 0) < pMin && tokens.length > 0) break;
        q.push(dist);
      } else {
        next = argmax(logits);
        // The draft's confidence: softmax probability of its top token.
        let sum = 0;
        const top = logits[next];
        for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - top);
        if (1 / sum < pMin) break;
        q.push(new Map([[next, 1]]));
      }
      tokens.push(next);
      if (tokens.length < max) {
        logits = draft.model.forward([next]);
        draft.tokens.push(next);
      }
    }
    return { tokens, q };
  }

  /** Generates from `prompt` (token ids), yielding each token with its text as soon as the text is whole. */
  *generate(prompt: number[], options: GenerateOptions = {}): Generator<GeneratedPiece, GenerationStats> {
    const vocab = this.tokenizer.vocab;
    const sampler = new Sampler(this.model.config.vocabSize, options);
    const maxTokens = options.maxTokens ?? 256;
    const stopAtEog = options.stopAtEog ?? true;
    const stops = options.stop ?? [];
    const stats: GenerationStats = {
      promptTokens: prompt.length,
      reusedTokens: 0,
      prefillTokens: 0,
      generatedTokens: 0,
      prefillMs: 0,
      decodeMs: 0,
      ttftMs: 0,
      contextShifts: 0,
      stopReason: "length",
      drafted: 0,
      accepted: 0,
      draftRounds: 0,
    };
    this.lastStats = stats;
    const t0 = performance.now();
    const pre = this.prefill(prompt);
    stats.reusedTokens = pre.reused;
    stats.prefillTokens = pre.computed;
    stats.prefillMs = performance.now() - t0;
    let logits = pre.logits;
    const decoder = this.tokenizer.streamDecoder({ previous: prompt[prompt.length - 1] });
    let text = "";
    let emitted = 0;
    const tDecode = performance.now();
    const speculative = options.draft !== undefined;
    if (options.draft instanceof Session) checkSameVocabulary(this.tokenizer, options.draft.tokenizer);
    // The draft model samples with its own random stream; greedy runs draft greedily.
    const draftSampler = new Sampler(this.model.config.vocabSize, { ...options, seed: (options.seed ?? 0) + 0x9e3779b9 });
    // Tokens already decided by a verification pass, emitted without sampling. `inCache` ones were drafts the
    // model accepted (their K/V are in the cache); a token drawn from the residual distribution after a
    // rejection is not. `afterVerified` holds the logits that follow the last accepted draft.
    const verified: { token: number; inCache: boolean }[] = [];
    let afterVerified: Float32Array = logits;
    const draftMax = options.draftMax ?? 8;
    const draftMin = Math.max(1, options.draftMin ?? 1);
    let draftLength = Math.max(draftMin, Math.ceil(draftMax / 2));
    const advance = (token: number, inCache: boolean): Float32Array => {
      if (inCache) return afterVerified;
      if (!speculative) return this.step(token, options.keepTokens ?? 0, stats);
      const room = this.model.contextLength - this.tokens.length - 1;
      const proposal = room > 0 ? this.proposeDrafts(token, options, Math.min(draftLength, room), sampler.greedy ? null : draftSampler) : { tokens: [], q: [] };
      const drafts = proposal.tokens;
      if (drafts.length < draftMin) return this.step(token, options.keepTokens ?? 0, stats);
      stats.drafted += drafts.length;
      stats.draftRounds++;
      const base = this.tokens.length;
      const rows = this.model.forward([token, ...drafts], { allLogits: true, oneTokenOrder: true });
      const V = this.model.config.vocabSize;
      const history = [...this.tokens, token];
      let accepted = 0;
      let replacement = -1;
      while (accepted < drafts.length) {
        const row = rows.subarray(accepted * V, (accepted + 1) * V);
        const d = drafts[accepted];
        if (sampler.greedy) {
          if (argmax(row) !== d) break;
        } else {
          // Speculative sampling: keep d with probability min(1, p(d)/q(d)); otherwise draw from the
          // normalized residual max(0, p - q), which makes the output distributed as the model's own.
          const p = sampler.probabilities(row.slice(), history);
          const q = proposal.q[accepted];
          const pd = p.get(d) ?? 0;
          const qd = q.get(d) ?? 0;
          if (qd <= 0 || sampler.uniform() >= Math.min(1, pd / qd)) {
            const residual = new Map<number, number>();
            for (const [id, pv] of p) {
              const r = pv - (q.get(id) ?? 0);
              if (r > 0) residual.set(id, r);
            }
            replacement = residual.size > 0 ? sampler.drawFrom(residual) : sampler.drawFrom(p);
            break;
          }
        }
        history.push(d);
        accepted++;
      }
      stats.accepted += accepted;
      draftLength = nextDraftLength(draftLength, drafts.length, accepted, draftMin, draftMax);
      // Keep `token` and the accepted drafts; forget the rest.
      this.tokens.push(token, ...drafts);
      this.truncate(base + 1 + accepted);
      for (const d of drafts.slice(0, accepted)) verified.push({ token: d, inCache: true });
      if (replacement >= 0) verified.push({ token: replacement, inCache: false });
      afterVerified = rows.slice(accepted * V, (accepted + 1) * V);
      return afterVerified;
    };
    for (let i = 0; i < maxTokens; i++) {
      if (options.signal?.aborted) {
        stats.stopReason = "abort";
        break;
      }
      const decided = verified.shift();
      const fromQueue = decided?.inCache ?? false;
      const token = decided ? decided.token : sampler.sample(logits, this.tokens);
      if (i === 0) stats.ttftMs = performance.now() - t0;
      stats.generatedTokens++;
      if (stopAtEog && vocab.endOfGeneration.has(token)) {
        stats.stopReason = "eog";
        // Keep the end-of-turn token in the context: the next chat turn's template expects it there.
        if (!fromQueue && this.tokens.length < this.model.contextLength) {
          this.model.forward([token]);
          this.tokens.push(token);
        }
        break;
      }
      text += decoder.push(token);
      const hit = stops.map((s) => text.indexOf(s, Math.max(0, emitted - s.length))).filter((p) => p >= 0);
      if (hit.length > 0) {
        const cut = Math.min(...hit);
        if (cut > emitted) yield { token, text: text.slice(emitted, cut) };
        stats.stopReason = "stop";
        if (!fromQueue) logits = this.step(token, options.keepTokens ?? 0, stats);
        break;
      }
      // Hold back text that could be the start of a stop string.
      const holdBack = stops.reduce((h, s) => Math.max(h, partialSuffix(text, s)), 0);
      const ready = text.length - holdBack;
      yield { token, text: text.slice(emitted, ready) };
      emitted = ready;
      // Keep the token in the context (a next turn continues after it), also after the last one.
      if (i + 1 === maxTokens) {
        if (!fromQueue) logits = this.step(token, options.keepTokens ?? 0, stats);
        break;
      }
      logits = advance(token, fromQueue);
    }
    // Accepted drafts that were never emitted leave the context again.
    const unemitted = verified.filter((v) => v.inCache).length;
    if (unemitted > 0) this.truncate(this.tokens.length - unemitted);
    stats.decodeMs = performance.now() - tDecode;
    return stats;
  }
}

export function checkSameVocabulary(target: Tokenizer, draft: Tokenizer): void {
  const a = target.vocab.tokens;
  const b = draft.vocab.tokens;
  const sample = [0, 1, 2, 3, 100, 1000, Math.floor(a.length / 2), a.length - 2, a.length - 1].filter((i) => i < a.length);
  if (a.length !== b.length || sample.some((i) => a[i] !== b[i])) {
    throw new ZincError(
      `the draft model's vocabulary (${b.length} tokens) is not the model's (${a.length} tokens)`,
      "use a draft from the same family (zinc models shows the pairings) or --draft lookup",
    );
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of `stop`. */
function partialSuffix(text: string, stop: string): number {
  for (let n = Math.min(stop.length - 1, text.length); n > 0; n--) if (text.endsWith(stop.slice(0, n))) return n;
  return 0;
}
