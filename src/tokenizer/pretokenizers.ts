/**
 * Byte-level BPE pre-tokenizers, as data: `tokenizer.ggml.pre` names → the regexes llama.cpp applies in order
 * (each one splits the pieces the previous one left) and whether whole words found in the vocabulary skip the
 * merges. Taken from llama.cpp's llama-vocab.cpp; add a name here to support a new model family.
 */
interface PreTokenizer {
  regexes: string[];
  ignoreMerges?: boolean;
}

const contractions = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const llama3 = `${contractions}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const qwen2 = `${contractions}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const gpt4o =
  `[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+${contractions}?|` +
  `[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*${contractions}?|` +
  "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const tekken =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|" +
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|" +
  "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const families: Record<string, PreTokenizer> = {
  llama3: { regexes: [llama3], ignoreMerges: true },
  qwen2: { regexes: [qwen2] },
  gpt2: { regexes: [gpt2] },
  starcoder: { regexes: ["\\p{N}", gpt2] },
  falcon: { regexes: ["[\\p{P}\\$\\+<=>\\^~\\|`]+", gpt2, "[0-9][0-9][0-9]"] },
  deepseekLlm: {
    regexes: [
      "[\\r\\n]",
      "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
      "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
      "\\s+$",
      "[一-龥ࠀ-一가-퟿]+",
      "\\p{N}+",
    ],
  },
  deepseekCoder: { regexes: ["[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"] },
  deepseek3: {
    regexes: [
      "\\p{N}{1,3}",
      "[一-龥぀-ゟ゠-ヿ]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  bloom: { regexes: [" ?[^(\\s|.,!?…。，、।۔،)]+"] },
  viking: { regexes: [" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"] },
  chatglm4: { regexes: [llama3] },
  gpt4o: { regexes: [gpt4o] },
  tekken: { regexes: [tekken], ignoreMerges: true },
  seedCoder: { regexes: [`${contractions}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`] },
  default: { regexes: ["[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2, "\\p{N}+", "[0-9][0-9][0-9]"] },
};

/** `tokenizer.ggml.pre` value → family. */
const names: Record<string, keyof typeof families> = {
  "llama3": "llama3", "llama-v3": "llama3", "llama-bpe": "llama3", "falcon3": "llama3", "falcon-h1": "llama3", "pixtral": "llama3",
  "midm-2.0": "llama3", "lfm2": "llama3", "dbrx": "llama3", "smaug-bpe": "llama3",
  "qwen2": "qwen2", "deepseek-r1-qwen": "qwen2", "megrez": "qwen2", "stablelm2": "qwen2", "hunyuan": "qwen2", "grok-2": "qwen2", "kormo": "qwen2",
  "gpt-2": "gpt2", "phi-2": "gpt2", "jina-es": "gpt2", "jina-de": "gpt2", "gigachat": "gpt2", "jina-v2-es": "gpt2", "jina-v2-de": "gpt2",
  "jina-v1-en": "gpt2", "jina-v2-code": "gpt2", "roberta-bpe": "gpt2", "mpt": "gpt2", "olmo": "gpt2", "jais": "gpt2", "trillion": "gpt2",
  "exaone4": "gpt2", "mellum": "gpt2", "a.x-4.0": "gpt2", "modern-bert": "gpt2", "granite-docling": "gpt2",
  "starcoder": "starcoder", "refact": "starcoder", "command-r": "starcoder", "smollm": "starcoder", "codeshell": "starcoder",
  "exaone": "starcoder", "minerva-7b": "starcoder",
  "falcon": "falcon",
  "deepseek-llm": "deepseekLlm", "deepseek-coder": "deepseekCoder", "deepseek-v3": "deepseek3", "hunyuan-dense": "deepseek3",
  "poro-chat": "bloom", "bloom": "bloom", "gpt3-finnish": "bloom", "viking": "viking",
  "chatglm-bpe": "chatglm4", "glm4": "chatglm4",
  "gpt-4o": "gpt4o", "llama4": "gpt4o", "minimax-m2": "gpt4o",
  "tekken": "tekken", "seed-coder": "seedCoder",
  "default": "default",
};

export interface CompiledPreTokenizer {
  family: string;
  regexes: RegExp[];
  ignoreMerges: boolean;
}

export function preTokenizerFor(pre: string): CompiledPreTokenizer | undefined {
  const family = names[pre];
  if (!family) return undefined;
  const spec = families[family];
  return { family, regexes: spec.regexes.map((r) => new RegExp(r, "gu")), ignoreMerges: spec.ignoreMerges ?? false };
}

export const knownPreTokenizers = Object.keys(names);

/** Splits text into words: each regex splits every current piece; unmatched gaps stay pieces of their own. */
export function preTokenize(text: string, pre: CompiledPreTokenizer): string[] {
  let pieces = [text];
  for (const regex of pre.regexes) {
    const next: string[] = [];
    for (const piece of pieces) {
      let last = 0;
      regex.lastIndex = 0;
      for (let m = regex.exec(piece); m !== null; m = regex.exec(piece)) {
        if (m[0].length === 0) {
          regex.lastIndex++;
          continue;
        }
        if (m.index > last) next.push(piece.slice(last, m.index));
        next.push(m[0]);
        last = m.index + m[0].length;
      }
      if (last < piece.length) next.push(piece.slice(last));
    }
    pieces = next;
  }
  return pieces;
}
