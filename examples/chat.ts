// A two-turn chat; the second turn reuses the first turn's KV cache.
//   bun examples/chat.ts
import { loadModel, type ChatMessage } from "../src/index.ts";

const model = await loadModel("smollm2-135m");
const messages: ChatMessage[] = [{ role: "user", content: "Name a fruit that is yellow." }];
for (const next of ["And one that is red?"]) {
  let reply = "";
  for await (const piece of model.chat(messages, { maxTokens: 40, temperature: 0 })) reply += piece;
  console.log(`assistant: ${reply}`);
  messages.push({ role: "assistant", content: reply }, { role: "user", content: next });
}
let last = "";
for await (const piece of model.chat(messages, { maxTokens: 40, temperature: 0 })) last += piece;
console.log(`assistant: ${last}`);
console.log(`(second turn reused ${model.session.lastStats?.reusedTokens} cached tokens)`);
model.close();
