/** `zinc pull`'s URL source against a local HTTP server on 127.0.0.1: resume after a cut, checksum, 404. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ZincError } from "../src/errors.ts";
import { pullModel } from "../src/registry/pull.ts";
import type { RegistryEntry } from "../src/registry/registry.ts";
import { scratchDir, seededRandom } from "./helpers.ts";

const payload = new Uint8Array(300_000);
{
  const rand = seededRandom(99);
  for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(rand() * 256);
}
const sha = createHash("sha256").update(payload).digest("hex");
const rangeRequests: string[] = [];
let cutNext = true;
let server: ReturnType<typeof Bun.serve>;
const modelsDir = scratchDir("pull");
const savedModels = process.env.ZINC_MODELS;

beforeAll(() => {
  process.env.ZINC_MODELS = modelsDir;
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      if (url.pathname !== "/model.gguf") return new Response("not found", { status: 404 });
      const range = req.headers.get("range");
      let start = 0;
      if (range) {
        rangeRequests.push(range);
        start = Number(/bytes=(\d+)-/.exec(range)![1]);
      }
      const body = payload.subarray(start);
      if (cutNext) {
        // First download: send a third of the file, then drop the connection.
        cutNext = false;
        const stream = new ReadableStream({
          start(controller) {
            controller.enqueue(body.subarray(0, 100_000));
            setTimeout(() => controller.error(new Error("connection cut")), 50);
          },
        });
        return new Response(stream, { status: 200, headers: { "content-length": String(body.length) } });
      }
      return new Response(body, {
        status: range ? 206 : 200,
        headers: range ? { "content-range": `bytes ${start}-${payload.length - 1}/${payload.length}` } : {},
      });
    },
  });
});

afterAll(() => {
  server.stop(true);
  // Assigning undefined to process.env would store the string "undefined".
  if (savedModels === undefined) delete process.env.ZINC_MODELS;
  else process.env.ZINC_MODELS = savedModels;
});

function entry(file: string, path: string, sha256 = sha): RegistryEntry {
  return { alias: file, name: file, arch: "llama", quant: "F32", file, size_bytes: payload.length, sha256, sources: [{ kind: "url", url: `http://127.0.0.1:${server.port}${path}` }] };
}

test("a download cut halfway resumes with a Range request and verifies", async () => {
  const e = entry("resume.gguf", "/model.gguf");
  await expect(pullModel(e)).rejects.toThrow(ZincError);
  const partial = join(modelsDir, "resume.gguf.partial");
  expect(existsSync(partial)).toBe(true);
  const have = statSync(partial).size;
  expect(have).toBeGreaterThan(0);
  expect(have).toBeLessThan(payload.length);
  expect(existsSync(join(modelsDir, "resume.gguf"))).toBe(false);

  const path = await pullModel(e);
  expect(rangeRequests).toContain(`bytes=${have}-`);
  expect(new Uint8Array(readFileSync(path))).toEqual(payload);
  expect(existsSync(partial)).toBe(false);
});

test("a checksum mismatch is rejected and nothing is left in place", async () => {
  cutNext = false;
  const e = entry("bad.gguf", "/model.gguf", "0".repeat(64));
  await expect(pullModel(e)).rejects.toThrow(/sha256 mismatch/);
  expect(existsSync(join(modelsDir, "bad.gguf"))).toBe(false);
  expect(existsSync(join(modelsDir, "bad.gguf.partial"))).toBe(false);
});

test("a 404 says what was tried", async () => {
  const e = entry("missing.gguf", "/nothing-here.gguf");
  await expect(pullModel(e)).rejects.toThrow(/could not download missing\.gguf; tried http:\/\/127\.0\.0\.1:\d+\/nothing-here\.gguf: HTTP 404/);
});
