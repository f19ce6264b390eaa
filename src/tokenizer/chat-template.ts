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
  // Gemma has no system role: the system text is prefixed to the first user turn, as Google's template does.
  gemma:
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set first = messages[0]['content'] + '\\n\\n' %}{% set loop_messages = messages[1:] %}" +
    "{% else %}{% set first = '' %}{% set loop_messages = messages %}{% endif %}" +
    "{% for message in loop_messages %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}" +
    "{{ '<start_of_turn>' + role + '\\n' + (first if loop.first else '') + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}",
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
   * Renders and tokenizes, with control tokens recognised only outside the message contents. Each content
   * is rendered as a unique placeholder first, so its position in the output is known exactly.
   */
  tokenize(tokenizer: Tokenizer, messages: ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): { text: string; ids: number[] } {
    const v = tokenizer.vocab;
    const bosToken = v.bos >= 0 ? v.tokens[v.bos] : "";
    const eosToken = v.eos >= 0 ? v.tokens[v.eos] : "";
    const marker = (i: number) => `\u0000zinc-content-${i}\u0000`;
    const placeholders = messages.map((m, i) => ({ ...m, content: marker(i) }));
    const skeleton = this.render(placeholders, { ...options, bosToken, eosToken });
    // Substitute the contents back, remembering where each landed.
    const userSpans: [number, number][] = [];
    let text = "";
    let rest = skeleton;
    for (;;) {
      const m = /\u0000zinc-content-(\d+)\u0000/.exec(rest);
      if (!m) break;
      text += rest.slice(0, m.index);
      const content = messages[Number(m[1])].content;
      userSpans.push([text.length, text.length + content.length]);
      text += content;
      rest = rest.slice(m.index + m[0].length);
    }
    text += rest;
    if (userSpans.length === 0 && messages.length > 0) {
      // The template transformed the content (e.g. trim): fall back to rendering it directly, still refusing
      // control tokens anywhere inside the message texts.
      text = this.render(messages, { ...options, bosToken, eosToken });
      for (const m of messages) {
        let at = text.indexOf(m.content);
        while (m.content && at >= 0) {
          userSpans.push([at, at + m.content.length]);
          at = text.indexOf(m.content, at + 1);
        }
      }
    }
    const insideUserText = (start: number, end: number) => userSpans.some(([s, e]) => start < e && end > s);
    // The template writes BOS itself when the model wants one; the tokenizer must not add another.
    const templateHasBos = bosToken !== "" && text.startsWith(bosToken);
    const ids = tokenizer.encode(text, { addSpecial: !templateHasBos && v.addBos, parseSpecial: (s, e) => !insideUserText(s, e) });
    return { text, ids };
  }
}
