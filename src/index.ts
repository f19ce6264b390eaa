/**
 * zinc's scripting API.
 *
 *   const model = await loadModel("smollm2-135m");
 *   for await (const piece of model.generate("Once upon a time", { maxTokens: 32 })) process.stdout.write(piece);
 *   const logits = model.forward(model.tokenize("Hello"));
 *
 * Everything here is typed; see examples/ for runnable scripts.
 */
import { readFileSync } from "node:fs";
import { ZincError } from "./errors.ts";
import { metaString } from "./gguf/reader.ts";
import { Session, type GenerateOptions, type GenerationStats } from "./generate/session.ts";
import { openModel, type CaptureHook, type Model, type ModelOptions } from "./model/model.ts";
import { locateModel } from "./registry/registry.ts";
import { pullModel } from "./registry/pull.ts";
import { ChatTemplate, type ChatMessage } from "./tokenizer/chat-template.ts";
import { Tokenizer, type EncodeOptions } from "./tokenizer/tokenizer.ts";
import { readVocab } from "./tokenizer/vocab.ts";

export { ZincError } from "./errors.ts";
export type { ChatMessage } from "./tokenizer/chat-template.ts";
export type { GenerateOptions, GenerationStats } from "./generate/session.ts";
export type { CaptureHook } from "./model/model.ts";

export interface LoadOptions extends ModelOptions {
  /** Download a registry model that is not there yet (default true). */
  pull?: boolean;
  /** A Jinja chat template file to use instead of the model's own. */
  chatTemplateFile?: string;
}

export class LoadedModel {
  readonly session: Session;
  readonly template: ChatTemplate;

  constructor(
    readonly path: string,
    readonly model: Model,
    readonly tokenizer: Tokenizer,
    template: ChatTemplate,
  ) {
    this.session = new Session(model, tokenizer);
    this.template = template;
  }

  get config() {
    return this.model.config;
  }

  /** Text → ids. BOS is added as the model's metadata asks; control tokens in the text stay plain text. */
  tokenize(text: string, options: EncodeOptions = {}): number[] {
    return this.tokenizer.encode(text, options);
  }

  detokenize(ids: number[], options: { special?: boolean } = {}): string {
    return this.tokenizer.decode(ids, options);
  }

  /**
   * Runs `tokens` from an empty context and returns a copy of the last token's logits (or every token's with
   * allLogits). `capture` sees every named intermediate tensor: inp_embd, blk.N.attn_norm, blk.N.q/k/v,
   * blk.N.attn_out, blk.N.attn_residual, blk.N.ffn_hidden, blk.N.out, result_norm, result_output (past the last
   * layer's attn_proj, only the rows whose logits are returned, as in llama.cpp).
   */
  forward(tokens: number[], options: { allLogits?: boolean; capture?: CaptureHook } = {}): Float32Array {
    this.session.reset();
    const logits = this.model.forward(tokens, options).slice();
    this.session.tokens = [...tokens];
    return logits;
  }

  /** Streams a completion of `prompt` (text, or token ids used as they are). */
  async *generate(prompt: string | number[], options: GenerateOptions = {}): AsyncGenerator<string, GenerationStats> {
    const ids = typeof prompt === "string" ? this.tokenize(prompt) : prompt;
    const run = this.session.generate(ids, options);
    for (;;) {
      const next = run.next();
      if (next.done) return next.value;
      if (next.value.text) yield next.value.text;
      // Let other work (a Ctrl-C handler, a UI) run between tokens.
      await Promise.resolve();
    }
  }

  /** The prompt ids of a chat, rendered with the model's template (only its markers are control tokens). */
  chatPrompt(messages: ChatMessage[]): { text: string; ids: number[] } {
    return this.template.tokenize(this.tokenizer, messages, { addGenerationPrompt: true });
  }

  /** Streams the assistant's reply to `messages`; the KV cache of earlier turns is reused. */
  async *chat(messages: ChatMessage[], options: GenerateOptions = {}): AsyncGenerator<string, GenerationStats> {
    return yield* this.generate(this.chatPrompt(messages).ids, options);
  }

  /** Generates to completion and returns the text. */
  async complete(prompt: string | number[], options: GenerateOptions = {}): Promise<string> {
    let text = "";
    for await (const piece of this.generate(prompt, options)) text += piece;
    return text;
  }

  close(): void {
    this.model.close();
  }
}

/** Opens a model by registry alias (pulled on first use) or by path. */
export async function loadModel(nameOrPath: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const location = locateModel(nameOrPath);
  let path = location.path;
  if (location.kind === "alias" && !location.downloaded) {
    if (options.pull === false) throw new ZincError(`model ${location.entry.alias} is not downloaded`, `run \`zinc pull ${location.entry.alias}\``);
    path = await pullModel(location.entry);
  }
  return openLoadedModel(path, options);
}

export function openLoadedModel(path: string, options: LoadOptions = {}): LoadedModel {
  const model = openModel(path, options);
  try {
    const tokenizer = new Tokenizer(readVocab(model.file));
    const template = options.chatTemplateFile
      ? new ChatTemplate(readTemplateFile(options.chatTemplateFile), options.chatTemplateFile)
      : ChatTemplate.forModel(metaString(model.file, "tokenizer.chat_template"), model.config.arch, tokenizer.vocab.tokens);
    return new LoadedModel(path, model, tokenizer, template);
  } catch (err) {
    model.close();
    throw err;
  }
}

function readTemplateFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    throw new ZincError(`cannot read chat template file ${path}`);
  }
}
