/**
 * Load on a running `simclr serve`: p50/p99 latency and requests/s for neighbour lookups by id
 * and for searches by uploaded image, at 1 and 16 concurrent clients. Prints one JSON line per
 * (kind, clients).
 *   node dist/bench/serve-load.js --url http://127.0.0.1:8080 --image some.jpg [--requests 400]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { url: { type: "string" }, image: { type: "string" }, requests: { type: "string", default: "400" } } });
if (!values.url || !values.image) throw new Error("--url and --image are required");
const base = values.url;
const bytes = readFileSync(values.image);
const total = Number(values.requests);
const health = (await (await fetch(`${base}/api/health`)).json()) as { images: number; approximate: boolean };

function upload(): FormData {
  const form = new FormData();
  form.append("image", new Blob([new Uint8Array(bytes)], { type: "image/jpeg" }), "q.jpg");
  return form;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
for (const [kind, make] of [
  ["neighbors", (i: number) => fetch(`${base}/api/neighbors?id=${(i * 7919) % health.images}&k=10`)],
  ["upload search", () => fetch(`${base}/api/search?k=10`, { method: "POST", body: upload() })],
] as const) {
  for (const clients of [1, 16]) {
    const latencies: number[] = [];
    let next = 0;
    let failed = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < total) {
          const i = next++;
          const t0 = performance.now();
          const r = await make(i);
          await r.arrayBuffer();
          if (r.status !== 200) failed++;
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        bench: "serve-load",
        images: health.images,
        approximate: health.approximate,
        kind,
        clients,
        requests: total,
        failed,
        p50_ms: Number(pct(latencies, 50).toFixed(2)),
        p99_ms: Number(pct(latencies, 99).toFixed(2)),
        requests_per_s: Number((total / seconds).toFixed(1)),
      }),
    );
  }
}
