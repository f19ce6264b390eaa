/**
 * Text ⇄ token ids, as llama.cpp does it for the same GGUF file:
 *  - special-token splitting first (control tokens only when the caller allows them, user-defined always);
 *  - SentencePiece: space → ▁, then merges by score with byte fallback (<0xNN>);
 *  - byte-level BPE: pre-tokenizer regexes, bytes → printable code points, merges by rank.
 */
import { ZincError } from "../errors.ts";
import { Heap } from "./heap.ts";
import { preTokenize, preTokenizerFor, type CompiledPreTokenizer } from "./pretokenizers.ts";
import { TokenType, type Vocab } from "./vocab.ts";

export interface EncodeOptions {
  /** Add BOS/EOS as the model's metadata asks (default true). */
  addSpecial?: boolean;
  /**
   * Recognise control tokens written in the text (default false: "<|im_start|>" typed by a user is plain text).
   * A function restricts recognition to the text ranges it accepts — how the chat template's own markers
   * become special while the messages inside stay plain text.
   */
  parseSpecial?: boolean | ((start: number, end: number) => boolean);
}

interface Fragment {
  text?: string;
  token?: number;
  /** Offset of `text` in the original string. */
  offset: number;
}

// GPT-2's byte ↔ printable code point table.
const byteToChar: string[] = new Array(256);
const charToByte = new Map<string, number>();
{
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const cp = printable(b) ? b : 256 + extra++;
    byteToChar[b] = String.fromCodePoint(cp);
    charToByte.set(byteToChar[b], b);
  }
}

const utf8 = new TextEncoder();

export class Tokenizer {
  private readonly pre: CompiledPreTokenizer | undefined;
  private readonly byteTokens: Int32Array;
  private readonly pieceCache: Uint8Array[];
  private readonly wordCache = new Map<string, number[]>();
  /**
   * SentencePiece merges never cross a word start ("x▁") unless some token contains one; when none does
   * (Llama's, Phi-3's vocabularies), each ▁-word is tokenized on its own — the same result, much faster.
   */
  private readonly spmWordSplit: boolean;

  /** `wordSplit: false` forces SentencePiece over the whole text (the tests compare both). */
  constructor(
    readonly vocab: Vocab,
    options: { wordSplit?: boolean } = {},
  ) {
    if (vocab.kind === "bpe") {
      this.pre = preTokenizerFor(vocab.pre);
      if (!this.pre) throw new ZincError(`unknown BPE pre-tokenizer "${vocab.pre}"`, "zinc knows the pre-tokenizers llama.cpp knows; see src/tokenizer/pretokenizers.ts");
    }
    this.byteTokens = new Int32Array(256).fill(-1);
    for (let b = 0; b < 256; b++) {
      const hex = `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
      const id = vocab.kind === "spm" ? vocab.tokenToId.get(hex) : vocab.tokenToId.get(byteToChar[b]);
      if (id !== undefined) this.byteTokens[b] = id;
    }
    this.pieceCache = new Array(vocab.tokens.length);
    this.spmWordSplit = (options.wordSplit ?? true) && vocab.kind === "spm" && !vocab.tokens.some((t) => /[^\u2581]\u2581/u.test(t));
  }

  get size(): number {
    return this.vocab.tokens.length;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const addSpecial = options.addSpecial ?? true;
    const parseSpecial = options.parseSpecial ?? false;
    const v = this.vocab;
    const out: number[] = [];
    if (addSpecial && v.addBos && v.bos >= 0) out.push(v.bos);
    const fragments = this.splitSpecial(text, parseSpecial);
    if (v.kind === "spm") {
      let previousSpecial = true;
      for (const f of fragments) {
        if (f.token !== undefined) {
          out.push(f.token);
          previousSpecial = true;
          continue;
        }
        const prefixed = ((v.addSpacePrefix && previousSpecial ? " " : "") + f.text!).replaceAll(" ", "\u2581");
        if (this.spmWordSplit) {
          for (const word of prefixed.split(/(?<=[^\u2581])(?=\u2581)/u)) this.cachedWord(word, out, (w, o) => this.encodeSpm(w, o));
        } else {
          this.encodeSpm(prefixed, out);
        }
        previousSpecial = false;
      }
    } else {
      for (const f of fragments) {
        if (f.token !== undefined) out.push(f.token);
        else for (const word of preTokenize(f.text!, this.pre!)) this.encodeBpeWord(word, out);
      }
    }
    if (addSpecial && v.addEos && v.eos >= 0) out.push(v.eos);
    return out;
  }

  /** llama.cpp's tokenizer_st_partition: longest special tokens first, each splitting the remaining text. */
  private splitSpecial(text: string, parseSpecial: boolean | ((start: number, end: number) => boolean)): Fragment[] {
    let fragments: Fragment[] = [{ text, offset: 0 }];
    if (text.length === 0) return [];
    const v = this.vocab;
    for (const id of v.specialTokens) {
      const type = v.types[id];
      const isControl = type === TokenType.control || type === TokenType.unknown;
      if (isControl && parseSpecial === false) continue;
      const needle = v.tokens[id];
      const next: Fragment[] = [];
      for (const f of fragments) {
        if (f.text === undefined || !f.text.includes(needle)) {
          next.push(f);
          continue;
        }
        let from = 0;
        let at = f.text.indexOf(needle, from);
        while (at >= 0) {
          const start = f.offset + at;
          const allowed = !isControl || parseSpecial === true || (typeof parseSpecial === "function" && parseSpecial(start, start + needle.length));
          if (allowed) {
            if (at > from) next.push({ text: f.text.slice(from, at), offset: f.offset + from });
            next.push({ token: id, offset: start });
            from = at + needle.length;
            at = f.text.indexOf(needle, from);
          } else {
            at = f.text.indexOf(needle, at + 1);
          }
        }
        if (from < f.text.length) next.push({ text: f.text.slice(from), offset: f.offset + from });
      }
      fragments = next;
    }
    return fragments;
  }

  // ---- SentencePiece -------------------------------------------------------------------------------------------

  private encodeSpm(text: string, out: number[]): void {
    const v = this.vocab;
    if (text.length === 0) return;
    // Symbols are spans [start, end) of UTF-16 units over `text`, one code point each to begin with; a merge
    // joins two neighbours, so every symbol's text is a substring — no string building in the hot loop.
    const n = text.length;
    const start = new Int32Array(n);
    const end = new Int32Array(n);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    let count = 0;
    for (let i = 0; i < n; ) {
      const cp = text.codePointAt(i)!;
      const width = cp > 0xffff ? 2 : 1;
      start[count] = i;
      end[count] = i + width;
      prev[count] = count - 1;
      next[count] = i + width < n ? count + 1 : -1;
      count++;
      i += width;
    }
    // Candidate merges in a binary heap of indices into parallel arrays: highest score first, then leftmost
    // (llama.cpp's llm_bigram_spm ordering). `size` detects candidates made stale by an earlier merge.
    let capacity = 2 * count + 16;
    let bigramLeft = new Int32Array(capacity);
    let bigramRight = new Int32Array(capacity);
    let bigramScore = new Float32Array(capacity);
    let bigramSize = new Int32Array(capacity);
    let heap = new Int32Array(capacity);
    let heapSize = 0;
    let bigrams = 0;
    const before = (a: number, b: number) =>
      bigramScore[a] > bigramScore[b] || (bigramScore[a] === bigramScore[b] && bigramLeft[a] < bigramLeft[b]);
    const push = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const id = v.tokenToId.get(text.substring(start[left], end[right]));
      if (id === undefined) return;
      if (bigrams === capacity) {
        capacity *= 2;
        const grow = <T extends Int32Array | Float32Array>(arr: T): T => {
          const bigger = new (arr.constructor as new (n: number) => T)(capacity);
          bigger.set(arr);
          return bigger;
        };
        bigramLeft = grow(bigramLeft);
        bigramRight = grow(bigramRight);
        bigramScore = grow(bigramScore);
        bigramSize = grow(bigramSize);
        heap = grow(heap);
      }
      const b = bigrams++;
      bigramLeft[b] = left;
      bigramRight[b] = right;
      bigramScore[b] = v.scores[id];
      bigramSize[b] = end[right] - start[left];
      let i = heapSize++;
      heap[i] = b;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!before(heap[i], heap[parent])) break;
        const t = heap[i];
        heap[i] = heap[parent];
        heap[parent] = t;
        i = parent;
      }
    };
    const pop = (): number => {
      const top = heap[0];
      heap[0] = heap[--heapSize];
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heapSize && before(heap[l], heap[m])) m = l;
        if (r < heapSize && before(heap[r], heap[m])) m = r;
        if (m === i) break;
        const t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
      }
      return top;
    };
    const alive = new Uint8Array(count).fill(1);
    for (let i = 1; i < count; i++) push(i - 1, i);
    while (heapSize > 0) {
      const b = pop();
      const left = bigramLeft[b];
      const right = bigramRight[b];
      if (!alive[left] || !alive[right] || end[right] - start[left] !== bigramSize[b] || next[left] !== right) continue;
      end[left] = end[right];
      alive[right] = 0;
      next[left] = next[right];
      if (next[right] >= 0) prev[next[right]] = left;
      push(prev[left], left);
      push(left, next[left]);
    }
    // Merges only ever form vocabulary tokens, so a final symbol is a token unless it is a single character
    // the vocabulary lacks: that one falls back to its UTF-8 bytes as <0xNN> tokens.
    for (let i = 0; i !== -1; i = next[i]) {
      const piece = text.substring(start[i], end[i]);
      const id = v.tokenToId.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      for (const byte of utf8.encode(piece)) {
        const t = this.byteTokens[byte];
        out.push(t >= 0 ? t : v.unknown);
      }
    }
  }

  // ---- byte-level BPE ------------------------------------------------------------------------------------------

  private encodeBpeWord(word: string, out: number[]): void {
    this.cachedWord(word, out, (w, o) => o.push(...this.bpeWord(w)));
  }

  /** Words repeat: remember each one's ids (up to a bound, so memory stays small). */
  private cachedWord(word: string, out: number[], encode: (word: string, out: number[]) => void): void {
    const cached = this.wordCache.get(word);
    if (cached) {
      for (const t of cached) out.push(t);
      return;
    }
    const ids: number[] = [];
    encode(word, ids);
    if (this.wordCache.size < 100_000) this.wordCache.set(word, ids);
    for (const t of ids) out.push(t);
  }

  private bpeWord(word: string): number[] {
    const v = this.vocab;
    let mapped = "";
    for (const byte of utf8.encode(word)) mapped += byteToChar[byte];
    if (this.pre!.ignoreMerges) {
      const whole = v.tokenToId.get(mapped);
      if (whole !== undefined) return [whole];
    }
    const sym = Array.from(mapped);
    const n = sym.length;
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    interface Bigram { left: number; right: number; rank: number; text: string }
    const queue = new Heap<Bigram>((a, b) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left));
    const add = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const rank = v.mergeRanks.get(`${sym[left]} ${sym[right]}`);
      if (rank === undefined) return;
      queue.push({ left, right, rank, text: sym[left] + sym[right] });
    };
    for (let i = 1; i < n; i++) add(i - 1, i);
    for (let b = queue.pop(); b !== undefined; b = queue.pop()) {
      if (sym[b.left] === "" || sym[b.right] === "" || sym[b.left] + sym[b.right] !== b.text) continue;
      sym[b.left] = b.text;
      sym[b.right] = "";
      next[b.left] = next[b.right];
      if (next[b.right] >= 0) prev[next[b.right]] = b.left;
      add(prev[b.left], b.left);
      add(b.left, next[b.left]);
    }
    const ids: number[] = [];
    for (let i = 0; i !== -1; i = next[i]) {
      const id = v.tokenToId.get(sym[i]);
      if (id !== undefined) ids.push(id);
      else for (const ch of sym[i]) {
        const t = v.tokenToId.get(ch);
        if (t !== undefined) ids.push(t);
      }
    }
    return ids;
  }

  // ---- decoding ------------------------------------------------------------------------------------------------

  /** The bytes one token stands for; control tokens are empty unless `special`. */
  pieceBytes(id: number, special = false): Uint8Array {
    const v = this.vocab;
    if (id < 0 || id >= v.tokens.length) throw new ZincError(`token id ${id} is outside the vocabulary (0..${v.tokens.length - 1})`);
    const type = v.types[id];
    if (type === TokenType.control || type === TokenType.unknown) {
      return special ? utf8.encode(v.tokens[id]) : new Uint8Array(0);
    }
    if (type === TokenType.unused) return new Uint8Array(0);
    const cached = this.pieceCache[id];
    if (cached) return cached;
    const text = v.tokens[id];
    let bytes: Uint8Array;
    if (v.kind === "spm") {
      const byteMatch = type === TokenType.byte ? /^<0x([0-9A-Fa-f]{2})>$/.exec(text) : null;
      bytes = byteMatch ? Uint8Array.of(parseInt(byteMatch[1], 16)) : utf8.encode(text.replaceAll("\u2581", " "));
    } else if (type === TokenType.userDefined) {
      bytes = utf8.encode(text);
    } else {
      const arr: number[] = [];
      for (const ch of text) {
        const b = charToByte.get(ch);
        if (b !== undefined) arr.push(b);
        else for (const x of utf8.encode(ch)) arr.push(x);
      }
      bytes = Uint8Array.from(arr);
    }
    this.pieceCache[id] = bytes;
    return bytes;
  }

  decode(ids: number[], options: { special?: boolean } = {}): string {
    const parts: Uint8Array[] = ids.map((id) => this.pieceBytes(id, options.special));
    const total = parts.reduce((n, p) => n + p.length, 0);
    const all = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(all);
  }

  /**
   * A streaming decoder: push ids, get text back only once its UTF-8 is complete. As SentencePiece's decoder
   * (and llama2.c) do, a piece right after BOS loses its leading space — the space the tokenizer added.
   */
  streamDecoder(options: { special?: boolean; previous?: number } = {}): { push(id: number): string; flush(): string } {
    const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
    let previous = options.previous ?? -1;
    const v = this.vocab;
    return {
      push: (id) => {
        let bytes = this.pieceBytes(id, options.special);
        if (previous === v.bos && v.kind === "spm" && bytes[0] === 0x20) bytes = bytes.subarray(1);
        previous = id;
        return decoder.decode(bytes, { stream: true });
      },
      flush: () => decoder.decode(),
    };
  }
}
