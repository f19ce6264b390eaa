/**
 * Chat prompts: the model's own `tokenizer.chat_template` rendered with a real Jinja engine
 * (@huggingface/jinja), a named built-in when the file has none, or a template file the user gives.
 *
 * The rendered prompt is tokenized so that only the template's own markers can become control tokens: the
 * spans of the text that came from message contents are recorded and special-token matching is refused
 * inside them. A user typing "<|im_start|>" gets those characters, not the control token.
 */
import { Template } from "@huggingface/jinja";
import { ZincError } from "../errors.ts";
import type { Tokenizer } from "./tokenizer.ts";

export interface ChatMessage {
  role: "system" | "user" | "assistant" | string;
  content: string;
}

const builtins: Record<string, string> = {
  chatml:
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  // llama.cpp's built-in Gemma format: no system role, so the system text (trimmed) opens the first user turn.
  gemma:
    "{% set ns = namespace(system='') %}{% for message in messages %}{% if message['role'] == 'system' %}{% set ns.system = ns.system + (message['content'] | trim) %}" +
    "{% else %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}{{ '<start_of_turn>' + role + '\\n' }}" +
    "{% if ns.system != '' and role != 'model' %}{{ ns.system + '\\n\\n' }}{% set ns.system = '' %}{% endif %}" +
    "{{ (message['content'] | trim) + '<end_of_turn>\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}",
  llama2:
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ '<<SYS>>\\n' + message['content'] + '\\n<</SYS>>\\n\\n' }}" +
    "{% elif message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ ' ' + message['content'] + eos_token }}{% endif %}{% endfor %}",
  phi3:
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}",
};

export const builtinTemplateNames = Object.keys(builtins);

export class ChatTemplate {
  private readonly template: Template;

  constructor(
    readonly source: string,
    readonly name: string,
  ) {
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new ZincError(`chat template ${name} does not parse: ${(err as Error).message}`, "pass a valid Jinja template with --chat-template FILE");
    }
  }

  static builtin(name: string): ChatTemplate {
    const source = builtins[name];
    if (!source) throw new ZincError(`no built-in chat template "${name}"`, `built-ins: ${builtinTemplateNames.join(", ")}`);
    return new ChatTemplate(source, name);
  }

  /** The model's template, or the built-in that suits its architecture when it has none. */
  static forModel(source: string | undefined, arch: string, tokens: string[]): ChatTemplate {
    if (source) return new ChatTemplate(source, "model");
    if (arch.startsWith("gemma")) return ChatTemplate.builtin("gemma");
    if (arch === "phi3") return ChatTemplate.builtin("phi3");
    if (tokens.includes("<|im_start|>")) return ChatTemplate.builtin("chatml");
    return ChatTemplate.builtin("chatml");
  }

  render(messages: ChatMessage[], options: { addGenerationPrompt?: boolean; bosToken?: string; eosToken?: string } = {}): string {
    try {
      return this.template.render({
        messages,
        add_generation_prompt: options.addGenerationPrompt ?? true,
        bos_token: options.bosToken ?? "",
        eos_token: options.eosToken ?? "",
      });
    } catch (err) {
      throw new ZincError(`chat template ${this.name} failed to render: ${(err as Error).message}`);
    }
  }

  /**
   * Renders and tokenizes, with control tokens recognised only outside the message contents. The contents
   * are located by rendering a second time with unique placeholders: the template text between placeholders
   * is found, in order, in the real rendering, and what lies between is message text (even if the template
   * trimmed or otherwise changed it).
   */
  tokenize(tokenizer: Tokenizer, messages: ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): { text: string; ids: number[] } {
    const v = tokenizer.vocab;
    const bosToken = v.bos >= 0 ? v.tokens[v.bos] : "";
    const eosToken = v.eos >= 0 ? v.tokens[v.eos] : "";
    const text = this.render(messages, { ...options, bosToken, eosToken });
    const marker = /\u0000zinc-content-\d+\u0000/g;
    const skeleton = this.render(
      messages.map((m, i) => ({ ...m, content: `\u0000zinc-content-${i}\u0000` })),
      { ...options, bosToken, eosToken },
    );
    const pieces = skeleton.split(marker);
    const userSpans: [number, number][] = [];
    let at = 0;
    let aligned = text.startsWith(pieces[0]);
    if (aligned) at = pieces[0].length;
    for (let i = 1; aligned && i < pieces.length; i++) {
      const next = i === pieces.length - 1 && pieces[i] === "" ? text.length : text.indexOf(pieces[i], at);
      if (next < 0) {
        aligned = false;
        break;
      }
      userSpans.push([at, next]);
      at = next + pieces[i].length;
    }
    if (!aligned) {
      // Could not align: refuse control tokens wherever any message text occurs.
      userSpans.length = 0;
      for (const m of messages) {
        for (let p = m.content ? text.indexOf(m.content) : -1; p >= 0; p = text.indexOf(m.content, p + 1)) userSpans.push([p, p + m.content.length]);
      }
    }
    const insideUserText = (start: number, end: number) => userSpans.some(([s, e]) => start < e && end > s);
    // The template writes BOS itself when the model wants one; the tokenizer must not add another.
    const templateHasBos = bosToken !== "" && text.startsWith(bosToken);
    const ids = tokenizer.encode(text, { addSpecial: !templateHasBos && v.addBos, parseSpecial: (s, e) => !insideUserText(s, e) });
    return { text, ids };
  }
}
