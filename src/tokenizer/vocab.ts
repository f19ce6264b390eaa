/**
 * The vocabulary as GGUF's `tokenizer.ggml.*` metadata describes it: token texts, scores, types, merges and
 * the special ids and flags. Everything the tokenizers need, read from the file alone.
 */
import { ZincError } from "../errors.ts";
import { metaArray, metaBool, metaNumber, metaString, type GgufFile } from "../gguf/reader.ts";

/** llama.cpp's token types (tokenizer.ggml.token_type). */
export const TokenType = { undefined: 0, normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

export type VocabKind = "spm" | "bpe";

export interface Vocab {
  kind: VocabKind;
  /** tokenizer.ggml.pre (BPE only), "default" when absent. */
  pre: string;
  tokens: string[];
  scores: Float32Array;
  types: Uint8Array;
  tokenToId: Map<string, number>;
  /** "left right" → rank, BPE only. */
  mergeRanks: Map<string, number>;
  bos: number;
  eos: number;
  unknown: number;
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  /** Ids that end a generation: EOS, EOT and the end-of-turn markers of common chat formats. */
  endOfGeneration: Set<number>;
  /** Control, user-defined and unknown tokens, longest text first: what special-token splitting looks for. */
  specialTokens: number[];
}

const endOfTurnTexts = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<|end_of_text|>", "<｜end▁of▁sentence｜>", "<|return|>", "<|call|>"];

export function readVocab(file: GgufFile): Vocab {
  const model = metaString(file, "tokenizer.ggml.model");
  if (model === undefined) throw new ZincError(`${file.path} has no tokenizer (tokenizer.ggml.model missing)`);
  let kind: VocabKind;
  if (model === "llama") kind = "spm";
  else if (model === "gpt2") kind = "bpe";
  else throw new ZincError(`tokenizer "${model}" in ${file.path} is not supported`, "zinc supports SentencePiece (llama) and byte-level BPE (gpt2) vocabularies");

  const tokenValues = metaArray(file, "tokenizer.ggml.tokens");
  if (!tokenValues || tokenValues.some((t) => typeof t !== "string")) throw new ZincError(`${file.path}: tokenizer.ggml.tokens missing or not strings`);
  const tokens = tokenValues as string[];
  const n = tokens.length;

  const scores = new Float32Array(n);
  const scoreValues = metaArray(file, "tokenizer.ggml.scores");
  if (scoreValues) for (let i = 0; i < Math.min(n, scoreValues.length); i++) scores[i] = Number(scoreValues[i]);

  const types = new Uint8Array(n).fill(TokenType.normal);
  const typeValues = metaArray(file, "tokenizer.ggml.token_type");
  if (typeValues) for (let i = 0; i < Math.min(n, typeValues.length); i++) types[i] = Number(typeValues[i]);

  const tokenToId = new Map<string, number>();
  // As llama.cpp builds its map: when a text occurs twice, the later id wins.
  for (let i = 0; i < n; i++) tokenToId.set(tokens[i], i);

  const mergeRanks = new Map<string, number>();
  const merges = metaArray(file, "tokenizer.ggml.merges");
  if (merges) merges.forEach((m, rank) => typeof m === "string" && mergeRanks.set(m, rank));

  const id = (key: string, fallback: number) => {
    const v = metaNumber(file, key);
    return v !== undefined && v < n ? v : fallback;
  };
  const bos = id("tokenizer.ggml.bos_token_id", kind === "spm" ? 1 : -1);
  const eos = id("tokenizer.ggml.eos_token_id", kind === "spm" ? 2 : -1);
  const unknown = id("tokenizer.ggml.unknown_token_id", kind === "spm" ? 0 : -1);

  const endOfGeneration = new Set<number>();
  if (eos >= 0) endOfGeneration.add(eos);
  const eot = id("tokenizer.ggml.eot_token_id", -1);
  if (eot >= 0) endOfGeneration.add(eot);
  for (const text of endOfTurnTexts) {
    const t = tokenToId.get(text);
    if (t !== undefined && types[t] === TokenType.control) endOfGeneration.add(t);
  }

  const specialTokens: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = types[i];
    if ((t === TokenType.control || t === TokenType.userDefined || t === TokenType.unknown) && tokens[i].length > 0) specialTokens.push(i);
  }
  specialTokens.sort((a, b) => tokens[b].length - tokens[a].length);

  return {
    kind,
    pre: metaString(file, "tokenizer.ggml.pre") ?? "default",
    tokens,
    scores,
    types,
    tokenToId,
    mergeRanks,
    bos,
    eos,
    unknown,
    addBos: metaBool(file, "tokenizer.ggml.add_bos_token") ?? kind === "spm",
    addEos: metaBool(file, "tokenizer.ggml.add_eos_token") ?? false,
    addSpacePrefix: metaBool(file, "tokenizer.ggml.add_space_prefix") ?? kind === "spm",
    endOfGeneration,
    specialTokens,
  };
}
