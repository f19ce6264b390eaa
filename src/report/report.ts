/**
 * `zinc report`: the results registry as a Markdown table and two charts (Apache ECharts, rendered to SVG on
 * the server side; resvg turns the SVG into PNG): tok/s against model size, and perplexity against bits per
 * weight — one line per model, so each model's quantizations show how much quality every bit buys.
 */
import { Resvg } from "@resvg/resvg-js";
import * as echarts from "echarts";
import type { ResultRecord } from "./results.ts";

/** One row per (model, quant, variant, threads): the latest bench and the latest perplexity merged. */
export interface ReportRow {
  model: string;
  quant: string;
  bits_per_weight: number;
  file_size_mb: number;
  variant: string;
  threads: number;
  pp_tok_s: number | null;
  tg_tok_s: number | null;
  ttft_ms: number | null;
  peak_rss_mb: number | null;
  ppl: number | null;
  ppl_ctx: number | null;
  date: string;
}

export function reportRows(records: ResultRecord[]): ReportRow[] {
  const rows = new Map<string, ReportRow>();
  const ordered = [...records].sort((a, b) => a.date.localeCompare(b.date));
  for (const r of ordered) {
    const key = `${r.model}\u0000${r.quant}\u0000${r.variant}\u0000${r.threads}`;
    const row = rows.get(key) ?? {
      model: r.model,
      quant: r.quant,
      bits_per_weight: r.bits_per_weight,
      file_size_mb: r.file_size_mb,
      variant: r.variant,
      threads: r.threads,
      pp_tok_s: null,
      tg_tok_s: null,
      ttft_ms: null,
      peak_rss_mb: null,
      ppl: null,
      ppl_ctx: null,
      date: r.date,
    };
    if (r.kind === "bench") {
      row.pp_tok_s = r.pp_tok_s ?? row.pp_tok_s;
      row.tg_tok_s = r.tg_tok_s ?? row.tg_tok_s;
      row.ttft_ms = r.ttft_ms ?? row.ttft_ms;
      row.peak_rss_mb = r.peak_rss_mb ?? row.peak_rss_mb;
    } else if (r.ppl !== undefined) {
      row.ppl = r.ppl;
      row.ppl_ctx = r.ppl_ctx ?? null;
    }
    row.date = r.date;
    rows.set(key, row);
  }
  return [...rows.values()].sort((a, b) => a.model.localeCompare(b.model) || b.bits_per_weight - a.bits_per_weight);
}

const cell = (v: number | null, digits = 2) => (v === null ? "" : v.toFixed(digits));

export function markdownTable(rows: ReportRow[]): string {
  const lines = [
    "| model | quant | bits/weight | size MB | variant | threads | pp tok/s | tg tok/s | TTFT ms | peak RSS MB | perplexity |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    const ppl = r.ppl === null ? "" : `${r.ppl.toFixed(3)} (ctx ${r.ppl_ctx})`;
    lines.push(`| ${r.model} | ${r.quant} | ${r.bits_per_weight.toFixed(2)} | ${r.file_size_mb.toFixed(1)} | ${r.variant} | ${r.threads} | ${cell(r.pp_tok_s, 1)} | ${cell(r.tg_tok_s, 1)} | ${cell(r.ttft_ms, 0)} | ${cell(r.peak_rss_mb, 0)} | ${ppl} |`);
  }
  return lines.join("\n");
}

function renderSvg(option: echarts.EChartsOption): string {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width: 900, height: 540 });
  chart.setOption({ animation: false, backgroundColor: "#ffffff", textStyle: { fontFamily: "DejaVu Sans, sans-serif" }, ...option });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return svg;
}

export function svgToPng(svg: string): Uint8Array {
  return new Resvg(svg, { background: "white", font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" } }).render().asPng();
}

/** Generation and prompt-processing speed against file size, one line per kernel variant and test. */
export function speedChart(rows: ReportRow[]): string | null {
  const measured = rows.filter((r) => r.tg_tok_s !== null || r.pp_tok_s !== null);
  if (measured.length === 0) return null;
  const series: echarts.SeriesOption[] = [];
  for (const variant of [...new Set(measured.map((r) => `${r.variant}, ${r.threads} threads`))]) {
    const of = measured.filter((r) => `${r.variant}, ${r.threads} threads` === variant).sort((a, b) => a.file_size_mb - b.file_size_mb);
    for (const [test, key] of [["generation", "tg_tok_s"], ["prompt", "pp_tok_s"]] as const) {
      const data = of.filter((r) => r[key] !== null).map((r) => ({ value: [r.file_size_mb, r[key]!], name: `${r.model} ${r.quant}` }));
      if (data.length) series.push({ name: `${test} (${variant})`, type: "line", data, symbolSize: 8, label: { show: true, formatter: "{b}", fontSize: 9, position: "top" }, labelLayout: { hideOverlap: true } });
    }
  }
  return renderSvg({
    title: { text: "Speed against model size", left: "center" },
    legend: { top: 42 },
    grid: { top: 95, left: 70, right: 60, bottom: 60 },
    xAxis: { type: "log", name: "file size (MB)", nameLocation: "middle", nameGap: 30 },
    yAxis: { type: "log", name: "tokens / s", nameLocation: "middle", nameGap: 45 },
    series,
  });
}

/** Perplexity against bits per weight, one line per model. */
export function perplexityChart(rows: ReportRow[]): string | null {
  const measured = rows.filter((r) => r.ppl !== null);
  if (measured.length === 0) return null;
  const series: echarts.SeriesOption[] = [...new Set(measured.map((r) => r.model))].map((model) => ({
    name: model,
    type: "line",
    symbolSize: 8,
    data: measured
      .filter((r) => r.model === model)
      .sort((a, b) => a.bits_per_weight - b.bits_per_weight)
      .map((r) => ({ value: [r.bits_per_weight, r.ppl!], name: r.quant })),
    label: { show: true, formatter: "{b}", fontSize: 9, position: "top" },
  }));
  return renderSvg({
    title: { text: "Perplexity against bits per weight (bang per bit)", left: "center" },
    legend: { top: 42 },
    grid: { top: 95, left: 70, right: 60, bottom: 60 },
    xAxis: { type: "value", name: "bits per weight", nameLocation: "middle", nameGap: 30, scale: true },
    yAxis: { type: "value", name: "perplexity", nameLocation: "middle", nameGap: 45, scale: true },
    series,
  });
}
