/**
 * `zinc chat`: an interactive conversation. Each turn renders the whole conversation with the model's chat
 * template; the session keeps the KV cache of everything already processed, so a turn only computes its new
 * tokens. Piped stdin works too: one user turn per line. Ctrl-C stops an answer; at the prompt it exits.
 */
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { ZincError } from "../errors.ts";
import type { ChatMessage } from "../index.ts";
import { dim, openDraft, openFromFlags, writeFileAtomic } from "./common.ts";
import { addGenerationOptions, samplingFromFlags, type GenerationFlags } from "./run.ts";

interface ChatFlags extends GenerationFlags {
  system?: string;
}

const help = `commands:
  /reset          forget the conversation (keeps the system message)
  /system TEXT    set the system message and start over
  /save FILE      write the conversation to FILE (JSON)
  /load FILE      continue a conversation saved with /save
  /help           this list
  /exit           leave (Ctrl-D works too)`;

export function registerChat(program: Command): void {
  addGenerationOptions(program.command("chat").description("chat with a model (default: SmolLM2-135M-Instruct, downloaded on first use)"), { n: "512", temp: "0.7" })
    .option("--system <text>", "system message")
    .action(async (flags: ChatFlags) => {
      const sampling = samplingFromFlags(flags);
      const { model } = await openFromFlags(flags);
      const draft = await openDraft(flags, model);
      if (draft) sampling.draft = draft === "lookup" ? "lookup" : draft.session;
      const interactive = Boolean(process.stdin.isTTY);
      let system = flags.system;
      let messages: ChatMessage[] = [];
      const conversation = () => [...(system ? [{ role: "system", content: system }] : []), ...messages];

      if (interactive) {
        console.error(dim(`${model.config.name} · ${model.model.kernels.variant} kernels · ${model.model.kernels.threads} threads · /help for commands`));
      }
      const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: interactive ? "> " : "", terminal: interactive });
      let answering: AbortController | null = null;
      let closed = false;
      rl.on("close", () => (closed = true));
      const prompt = () => {
        if (!closed && interactive) rl.prompt();
      };
      rl.on("SIGINT", () => {
        if (answering) answering.abort();
        else {
          rl.close();
        }
      });
      process.on("SIGINT", () => answering?.abort());

      const answer = async (text: string) => {
        messages.push({ role: "user", content: text });
        // Keep room for an answer: when the conversation no longer fits, drop the oldest turns (the system
        // message stays). Within an answer, the session shifts the context itself.
        const room = Math.min(sampling.maxTokens ?? 256, Math.floor(model.model.contextLength / 2));
        let prompt = model.chatPrompt(conversation());
        let dropped = 0;
        while (prompt.ids.length + room > model.model.contextLength && messages.length > 1) {
          messages.splice(0, messages.length >= 3 ? 2 : 1);
          dropped++;
          prompt = model.chatPrompt(conversation());
        }
        if (prompt.ids.length >= model.model.contextLength) {
          messages.pop();
          throw new ZincError(`this message is ${prompt.ids.length} tokens, more than the context of ${model.model.contextLength}`, "send a shorter message or raise --ctx");
        }
        if (dropped) console.error(dim(`[context full: dropped the ${dropped} oldest turn${dropped > 1 ? "s" : ""}]`));
        answering = new AbortController();
        let reply = "";
        const keep = system ? model.chatPrompt([{ role: "system", content: system }]).ids.length : 0;
        const run = model.generate(prompt.ids, { ...sampling, signal: answering.signal, keepTokens: keep });
        let stats;
        for (;;) {
          const next = await run.next();
          if (next.done) {
            stats = next.value;
            break;
          }
          reply += next.value;
          process.stdout.write(next.value);
          // Let a Ctrl-C reach us between tokens.
          await new Promise((resolve) => setImmediate(resolve));
        }
        answering = null;
        process.stdout.write("\n");
        messages.push({ role: "assistant", content: reply });
        const decodeTokens = Math.max(1, stats.generatedTokens - 1);
        const rate = stats.decodeMs > 0 ? (decodeTokens / stats.decodeMs) * 1000 : 0;
        const used = model.session.tokens.length;
        console.error(
          dim(
            `[${stats.prefillTokens} new prompt tokens, ${stats.reusedTokens} reused · ${stats.generatedTokens} generated · ` +
              `${rate.toFixed(1)} tok/s · context ${used}/${model.model.contextLength}` +
              `${stats.contextShifts ? ` · ${stats.contextShifts} context shift(s)` : ""}` +
              `${stats.drafted ? ` · drafts ${stats.accepted}/${stats.drafted} accepted` : ""}${stats.stopReason === "abort" ? " · stopped" : ""}]`,
          ),
        );
      };

      const command = (line: string): boolean => {
        const [name, ...rest] = line.split(" ");
        const arg = rest.join(" ").trim();
        switch (name) {
          case "/help":
            console.log(help);
            return true;
          case "/reset":
            messages = [];
            model.session.reset();
            console.error(dim("[conversation cleared]"));
            return true;
          case "/system":
            system = arg || undefined;
            messages = [];
            model.session.reset();
            console.error(dim(system ? "[system message set; conversation cleared]" : "[system message removed]"));
            return true;
          case "/save": {
            if (!arg) throw new ZincError("/save needs a file name");
            writeFileAtomic(arg, JSON.stringify({ system, messages }, null, 2));
            console.error(dim(`[saved ${messages.length} messages to ${arg}]`));
            return true;
          }
          case "/load": {
            if (!arg) throw new ZincError("/load needs a file name");
            let saved: { system?: string; messages?: ChatMessage[] };
            try {
              saved = JSON.parse(readFileSync(arg, "utf8"));
            } catch {
              throw new ZincError(`cannot read a saved conversation from ${arg}`);
            }
            if (!Array.isArray(saved.messages)) throw new ZincError(`${arg} is not a conversation saved with /save`);
            system = saved.system;
            messages = saved.messages;
            console.error(dim(`[loaded ${messages.length} messages from ${arg}]`));
            return true;
          }
          case "/exit":
          case "/quit":
            rl.close();
            return true;
          default:
            console.error(`unknown command ${name}; /help lists them`);
            return true;
        }
      };

      prompt();
      for await (const raw of rl) {
        const line = raw.trim();
        if (line === "") {
          prompt();
          continue;
        }
        try {
          if (line.startsWith("/")) command(line);
          else await answer(line);
        } catch (err) {
          if (!(err instanceof ZincError)) throw err;
          console.error(`zinc: ${err.oneLine()}`);
          if (!interactive) process.exitCode = 1;
        }
        prompt();
      }
      model.close();
    });
}
