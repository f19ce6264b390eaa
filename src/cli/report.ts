/** `zinc report`: the results registry as a Markdown table and as SVG + PNG charts. */
import type { Command } from "commander";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ZincError } from "../errors.ts";
import { markdownTable, perplexityChart, reportRows, speedChart, svgToPng } from "../report/report.ts";
import { readResults, resultsPath } from "../report/results.ts";
import { writeFileAtomic } from "./common.ts";

export function registerReport(program: Command): void {
  program
    .command("report")
    .description("the bench/perplexity results as a Markdown table and charts (tok/s vs size, perplexity vs bits per weight)")
    .option("--results <file>", "results file (default: ZINC_RESULTS or ~/.cache/zinc/results.jsonl)")
    .option("--out <dir>", "where to write speed.svg/.png and perplexity.svg/.png", "zinc-report")
    .option("--json", "print the merged rows as JSON instead of the table")
    .action((flags: { results?: string; out: string; json?: boolean }) => {
      const rows = reportRows(readResults(resultsPath(flags.results)));
      if (rows.length === 0) throw new ZincError("the results file has no records", "run zinc bench or zinc perplexity first");
      try {
        mkdirSync(flags.out, { recursive: true });
      } catch (e) {
        throw new ZincError(`cannot create ${flags.out}: ${(e as Error).message}`);
      }
      const written: string[] = [];
      for (const [name, svg] of [["speed", speedChart(rows)], ["perplexity", perplexityChart(rows)]] as const) {
        if (!svg) continue;
        writeFileAtomic(join(flags.out, `${name}.svg`), svg);
        writeFileAtomic(join(flags.out, `${name}.png`), svgToPng(svg));
        written.push(`${name}.svg`, `${name}.png`);
      }
      if (flags.json) console.log(JSON.stringify(rows, null, 2));
      else console.log(markdownTable(rows));
      process.stderr.write(`charts in ${flags.out}: ${written.join(", ")}\n`);
    });
}
