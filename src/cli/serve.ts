/** `simclr serve --index INDEX [--host 127.0.0.1] [--port 8080] [--token T] [--allow-host NAME]... [--max-upload-mb 10]` */
import { parseArgs } from "node:util";
import { serve } from "../jobs/serve.js";
import { UsageError, integerFlag, numberFlag } from "./common.js";

export const SERVE_HELP = `simclr serve --index INDEX [--host 127.0.0.1] [--port 8080] [--token T] [--allow-host NAME]...
             [--max-upload-mb 10] [--request-timeout-s 30]

Serves a search page and a JSON API over the index (made by simclr index), on loopback by
default; open the printed URL. API: POST /api/search (multipart field 'image', ?k=12; or JSON
{"id": N, "k": K}), GET /api/neighbors?id=N&k=K, GET /api/duplicates?threshold=0.95,
GET /api/map, GET /api/image/ID, GET /api/health. Ctrl-C stops it.

Safe by default: requests whose Host is not a name of this server (DNS rebinding) and requests
a browser marks as coming from another site are refused (403). On an address other than
loopback (--host 0.0.0.0) an access token is required: one is generated and printed in the URL
unless --token (or SIMCLR_SERVE_TOKEN) gives one; API calls send it as 'Authorization: Bearer T'
or through the cookie that opening the URL sets. --allow-host adds a name the Host header may
carry (a DNS name, a reverse proxy's). A request must arrive whole within --request-timeout-s.`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      index: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      token: { type: "string" },
      "allow-host": { type: "string", multiple: true },
      "max-upload-mb": { type: "string" },
      "request-timeout-s": { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${SERVE_HELP}\n`);
    return 0;
  }
  if (!values.index) throw new UsageError("serve needs --index INDEX (made by simclr index)");
  const port = integerFlag("port", values.port, 8080, 0, 65535);
  const mb = numberFlag("max-upload-mb", values["max-upload-mb"], 10, { min: Number.MIN_VALUE, max: 1024, what: "a size in MiB in (0, 1024]" });
  const timeout = numberFlag("request-timeout-s", values["request-timeout-s"], 30, { min: 1, max: 3600, what: "a number of seconds from 1 to 3600" });
  const host = values.host ?? "127.0.0.1";
  const token = values.token ?? process.env.SIMCLR_SERVE_TOKEN;
  if (token === "")
    throw new UsageError(
      `--token is empty: give a token of 16 or more characters, or leave --token out${host === "127.0.0.1" ? "" : " to have one generated"}`,
    );
  const server = await serve(
    values.index,
    { host, port },
    {
      maxUploadBytes: Math.round(mb * 2 ** 20),
      requestTimeoutMs: Math.round(timeout * 1000),
      ...(token === undefined ? {} : { token }),
      ...(values["allow-host"] === undefined ? {} : { allowedHosts: values["allow-host"] }),
    },
  );
  process.stdout.write(`${JSON.stringify({ url: server.url, images: server.session.size, approximate: server.session.searcher.approximate })}\n`);
  if (server.token !== null)
    process.stderr.write(`simclr serve: API calls need the access token; the URL below carries it, or send 'Authorization: Bearer ${server.token}'\n`);
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
