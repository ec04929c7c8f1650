/** `simclr serve --index INDEX [--host 127.0.0.1] [--port 8080] [--max-upload-mb 10]` */
import { parseArgs } from "node:util";
import { serve } from "../jobs/serve.js";
import { UsageError } from "./common.js";

export const SERVE_HELP = `simclr serve --index INDEX [--host 127.0.0.1] [--port 8080] [--max-upload-mb 10]

Serves a search page and a JSON API over the index (made by simclr index), on loopback by
default; open the printed URL. API: POST /api/search (multipart field 'image', ?k=12; or JSON
{"id": N, "k": K}), GET /api/neighbors?id=N&k=K, GET /api/duplicates?threshold=0.95,
GET /api/map, GET /api/image/ID, GET /api/health. Ctrl-C stops it.`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { index: { type: "string" }, host: { type: "string" }, port: { type: "string" }, "max-upload-mb": { type: "string" }, help: { type: "boolean" } },
  });
  if (values.help) {
    process.stdout.write(`${SERVE_HELP}\n`);
    return 0;
  }
  if (!values.index) throw new UsageError("serve needs --index INDEX (made by simclr index)");
  const port = values.port === undefined ? 8080 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535, got '${values.port}'`);
  const mb = values["max-upload-mb"] === undefined ? 10 : Number(values["max-upload-mb"]);
  if (!(mb > 0 && mb <= 1024)) throw new UsageError(`--max-upload-mb must be in (0, 1024], got '${values["max-upload-mb"]}'`);
  const host = values.host ?? "127.0.0.1";
  if (!["127.0.0.1", "localhost", "::1"].includes(host))
    process.stderr.write(`simclr serve: listening on ${host}, not loopback: anyone who can reach it can search the collection and read its images\n`);
  const server = await serve(values.index, { host, port }, { maxUploadBytes: Math.round(mb * 2 ** 20) });
  process.stdout.write(`${JSON.stringify({ url: server.url, images: server.session.size, approximate: server.session.searcher.approximate })}\n`);
  process.stderr.write(`simclr serve: ${server.url} (Ctrl-C stops)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      void server.close().then(resolve);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  return 0;
}
