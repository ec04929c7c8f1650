/**
 * `simclr serve`: the search index over HTTP (Fastify), with the page of
 * src/report/search-page.ts. Safe by default (the threat model is in RELIABILITY.md):
 *   - loopback by default; a request whose Host is not one of the server's names (DNS
 *     rebinding), or that a browser marks as cross-site, is refused with 403 (io/http-guard.ts);
 *   - bound to any other address it needs an access token (generated when none is given), sent
 *     as `Authorization: Bearer T`, `X-Simclr-Token` or the cookie that opening `/?token=T` sets;
 *   - requests must arrive whole within a time limit (a stalled upload is cut off with 408);
 *   - images are served by id only, from the indexed folder only (links that resolve outside
 *     it are refused); uploads are limited in size (413) and must be JPEG, PNG or WebP by
 *     their first bytes (415);
 *   - every error is JSON with its status; error bodies never carry an absolute path or a
 *     stack: the server's log (stderr) keeps the details.
 * A search embeds one image (one synchronous forward), so the event loop is never blocked
 * for more than one batch of one.
 */
import { createReadStream, existsSync, readdirSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { basename, dirname, extname, join } from "node:path";
import multipart from "@fastify/multipart";
import Fastify, { type FastifyInstance } from "fastify";
import { ArgumentError, DataError, SimclrError } from "../errors.js";
import { allowedHostNames, isLoopbackHost, newToken, refusal, tokenMatches, tokenOf } from "../io/http-guard.js";
import { umap2d } from "../report/embedding-map.js";
import { searchPage } from "../report/search-page.js";
import { encodeOnnx } from "../run/onnx.js";
import { onnxGraph } from "../run/onnx-model.js";
import { SearchSession } from "./search.js";

export interface ServeOptions {
  /** Largest accepted upload in bytes (default 10 MiB). */
  maxUploadBytes?: number;
  /** Largest k a request may ask for (default 100). */
  maxK?: number;
  /** Points on the map (a seeded sample when the index is larger; default 2,000). */
  mapPoints?: number;
  /**
   * The access token every API request must carry. Default: none on a loopback address, a
   * generated one on any other (returned by serve, and in its URL). An empty string on a
   * non-loopback address is refused.
   */
  token?: string;
  /** More names the Host header may carry (a DNS name, a reverse proxy's), beside the loopback names and the bound address. */
  allowedHosts?: readonly string[];
  /** A request must arrive whole (headers and body) within this many ms, else 408 (default 30,000). */
  requestTimeoutMs?: number;
  /** Where the server's log lines go (default: stderr): refusals and the details of errors. */
  log?: (line: string) => void;
}

/** The shortest token accepted on a non-loopback address. */
const MIN_TOKEN_LENGTH = 16;

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    /** For the server's log only (a path, an errno): never sent. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

const MIME: Record<string, string> = { ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp" };

/**
 * onnxruntime-web's dist folder (the package's own files: the page loads the runtime from this
 * server, never from a CDN), or null when the package is not installed (then queries are
 * embedded on the server only).
 */
function ortWebDist(): string | null {
  try {
    const dir = dirname(createRequire(import.meta.url).resolve("onnxruntime-web"));
    return existsSync(join(dir, ORT_WEB_MODULE)) ? dir : null;
  } catch {
    return null;
  }
}
/** The bundle the page imports: WebGPU where the browser has it, else WebAssembly. */
const ORT_WEB_MODULE = "ort.webgpu.min.mjs";
/** The runtime's files the server hands out: its modules and WebAssembly binaries, nothing else. */
const ORT_WEB_FILE = /^ort[\w.-]*\.(mjs|wasm)$/;

/** The image format from the first bytes, or null: JPEG, PNG and WebP only. */
export function sniffImage(bytes: Buffer): string | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return "png";
  if (bytes.length >= 12 && bytes.toString("latin1", 0, 4) === "RIFF" && bytes.toString("latin1", 8, 12) === "WEBP") return "webp";
  return null;
}

/** A query embedding sent by the page: `dim` finite numbers, not all zero (it is normalised here). */
function embeddingParam(value: unknown, dim: number): Float32Array {
  if (!Array.isArray(value) || value.length !== dim) {
    throw new HttpError(400, `embedding must be an array of ${dim} numbers (this index's h), got ${Array.isArray(value) ? `${value.length}` : typeof value}`);
  }
  const v = new Float32Array(dim);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    const x = value[i] as unknown;
    if (typeof x !== "number" || !Number.isFinite(x)) throw new HttpError(400, `embedding[${i}] must be a finite number, got ${JSON.stringify(x)}`);
    v[i] = x;
    norm += x * x;
  }
  if (!(norm > 0)) throw new HttpError(400, "embedding is all zeros: it has no direction to search along");
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < dim; i++) v[i] = (v[i] as number) * scale;
  return v;
}

function intParam(name: string, text: unknown, fallback: number | null, min: number, max: number): number {
  if (text === undefined || text === "") {
    if (fallback === null) throw new HttpError(400, `${name} is required`);
    return fallback;
  }
  const n = Number(text);
  if (typeof text !== "string" && typeof text !== "number") throw new HttpError(400, `${name} must be an integer`);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, `${name} must be an integer from ${min} to ${max}, got '${String(text)}'`);
  return n;
}

/** A Fastify app answering for `session` (not listening yet); `bindHost` is the address it will listen on. */
export async function buildServer(session: SearchSession, options: ServeOptions = {}, bindHost = "127.0.0.1"): Promise<FastifyInstance> {
  const maxUpload = options.maxUploadBytes ?? 10 * 2 ** 20;
  const maxK = options.maxK ?? 100;
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  const log = options.log ?? ((line: string) => process.stderr.write(`simclr serve: ${line}\n`));
  const token = options.token === undefined || options.token === "" ? null : options.token;
  const allowed = allowedHostNames(bindHost, options.allowedHosts ?? []);
  const app = Fastify({
    logger: false,
    bodyLimit: 1 << 20,
    // Node's own limits: the whole request (headers and body) within timeoutMs, checked often enough to matter
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
      createServer(
        {
          requestTimeout: timeoutMs,
          headersTimeout: timeoutMs,
          connectionsCheckingInterval: Math.max(50, Math.min(1000, timeoutMs / 4)),
          keepAliveTimeout: 5000,
        },
        handler,
      ),
  });
  await app.register(multipart, { limits: { fileSize: maxUpload, files: 1, fields: 4, parts: 6 } });

  // Error bodies name what was wrong, never where on disk: the indexed folder's path is cut out, stacks stay in the log.
  const root = session.index.root;
  const scrub = (message: string) => message.split(root).join(basename(root));
  let errors = 0;
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status =
      error instanceof HttpError
        ? error.statusCode
        : typeof error.statusCode === "number" && error.statusCode >= 400
          ? error.statusCode
          : error instanceof DataError
            ? 422
            : error instanceof RangeError
              ? 404
              : 500;
    let message = scrub(error.message);
    if (status >= 500) {
      const ref = ++errors;
      log(`error ${ref} on ${request.method} ${request.url.split("?")[0]}: ${error.stack ?? error.message}`);
      message = error instanceof SimclrError ? message : `internal error (the server's log has the details, error ${ref})`;
    } else if (error instanceof HttpError && error.detail !== undefined) {
      log(`${status} on ${request.method} ${request.url.split("?")[0]}: ${error.detail}`);
    }
    void reply.code(status).type("application/json").send({ error: message, status });
  });
  app.setNotFoundHandler(
    (request, reply) => void reply.code(404).send({ error: `no such route: ${request.method} ${request.url.split("?")[0]}`, status: 404 }),
  );

  // Who may ask: the Host and cross-site checks first, then the token for everything but the page itself.
  app.addHook("onRequest", async (request, reply) => {
    const path = request.url.split("?")[0] ?? "/";
    const header = (name: string) => {
      const v = request.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const why = refusal(
      {
        method: request.method,
        path,
        host: header("host"),
        origin: header("origin"),
        secFetchSite: header("sec-fetch-site"),
        secFetchMode: header("sec-fetch-mode"),
      },
      allowed,
    );
    if (why !== null) {
      log(`403 ${request.method} ${path} from ${request.ip}: ${why}`);
      return reply.code(403).type("application/json").send({ error: why, status: 403 });
    }
    if (token === null || path === "/favicon.ico") return;
    // cookies are shared by every port of a host: the name carries the port, so two servers keep their own
    const cookieName = `simclr-token-${request.raw.socket.localPort}`;
    const query = (request.query ?? {}) as Record<string, unknown>;
    if (path === "/" && typeof query.token === "string") {
      if (!tokenMatches(token, query.token))
        return reply.code(401).type("application/json").send({ error: "that access token is not this server's", status: 401 });
      // the token moves from the URL into a cookie only this origin sends, and the URL drops it
      return reply.header("set-cookie", `${cookieName}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`).redirect("/", 302);
    }
    if (path === "/") return; // the page itself is static and holds no data; its API calls carry the cookie
    if (!tokenMatches(token, tokenOf(request.headers, cookieName))) {
      return reply.code(401).type("application/json").send({
        error: "this server needs its access token: open the URL it printed (/?token=...), or send the header 'Authorization: Bearer TOKEN'",
        status: 401,
      });
    }
  });

  const results = (hits: { id: number; path: string; score: number }[]) => hits.map((h, i) => ({ rank: i + 1, id: h.id, path: h.path, score: h.score }));

  app.get("/", async (_request, reply) => reply.type("text/html; charset=utf-8").send(searchPage()));
  app.get("/favicon.ico", async (_request, reply) => reply.code(204).send());

  const ortDist = ortWebDist();
  const ortFiles = new Set(ortDist === null ? [] : readdirSync(ortDist).filter((f) => ORT_WEB_FILE.test(f)));
  const embedder = session.embedder;
  let onnx: Buffer | null = null;
  /** The encoder as ONNX (input "input": pixels / 255, output "h"), made once, on first request. */
  const modelOnnx = () => (onnx ??= Buffer.from(encodeOnnx(onnxGraph(embedder.encoder, { inputSize: embedder.side }), { producerVersion: "simclr serve" })));

  app.get("/api/health", async () => ({
    status: "ok",
    // what the page needs to embed a query itself, so that the image stays in the browser
    browser:
      ortDist === null
        ? null
        : { runtime: `/ort/${ORT_WEB_MODULE}`, model: "/api/model.onnx", side: embedder.side, channels: embedder.channels, dim: session.searcher.dim },
    images: session.size,
    approximate: session.searcher.approximate,
    folder: basename(session.index.root),
    model: {
      arch: session.index.model.arch,
      width: session.index.model.width,
      checkpoint: basename(session.index.model.checkpoint), // its name: no absolute path leaves the server
      hash: session.index.model.hash.slice(0, 12),
    },
    updatedAt: session.index.updatedAt,
  }));

  app.get("/api/model.onnx", async (_request, reply) => reply.type("application/octet-stream").header("cache-control", "no-cache").send(modelOnnx()));
  app.get("/ort/:file", async (request, reply) => {
    const file = (request.params as { file: string }).file;
    if (ortDist === null || !ortFiles.has(file)) throw new HttpError(404, `no such file of the browser runtime: ${file}`);
    return reply
      .type(file.endsWith(".wasm") ? "application/wasm" : "text/javascript; charset=utf-8")
      .header("cache-control", "max-age=3600")
      .send(createReadStream(join(ortDist, file)));
  });

  app.post("/api/search", async (request) => {
    const query = request.query as Record<string, unknown>;
    if (request.isMultipart()) {
      const file = await request.file();
      if (file === undefined) throw new HttpError(400, "upload an image as the multipart field 'image'");
      const bytes = await file.toBuffer(); // throws FST_REQ_FILE_TOO_LARGE past the limit
      const fields = file.fields as Record<string, { value?: unknown } | undefined>;
      const k = intParam("k", query.k ?? fields.k?.value, 12, 1, maxK);
      if (sniffImage(bytes) === null) throw new HttpError(415, `${file.filename || "the upload"} is not a JPEG, PNG or WebP image`);
      return { k, results: results(await session.search(bytes, k)) };
    }
    const body = request.body as { id?: unknown; k?: unknown; embedding?: unknown } | null;
    if (body === null || typeof body !== "object")
      throw new HttpError(400, 'send an image (multipart/form-data, field \'image\'), JSON {"embedding": [...], "k": K} or JSON {"id": N, "k": K}');
    const k = intParam("k", body.k ?? query.k, 12, 1, maxK);
    if (body.embedding !== undefined) return { k, results: results(session.searchVector(embeddingParam(body.embedding, session.searcher.dim), k)) };
    const id = intParam("id", body.id, null, 0, session.size - 1);
    return { k, results: results(session.neighbors(id, k)) };
  });

  app.get("/api/neighbors", async (request) => {
    const q = request.query as Record<string, unknown>;
    const id = intParam("id", q.id, null, 0, session.size - 1);
    const k = intParam("k", q.k, 12, 1, maxK);
    return { id, path: session.index.files[id]?.path, k, results: results(session.neighbors(id, k)) };
  });

  const duplicateCache = new Map<number, ReturnType<SearchSession["duplicates"]>>();
  app.get("/api/duplicates", async (request) => {
    const text = (request.query as Record<string, unknown>).threshold;
    const threshold = text === undefined ? 0.95 : Number(text);
    if (!Number.isFinite(threshold) || threshold < -1 || threshold > 1)
      throw new HttpError(400, `threshold must be a cosine between -1 and 1, got '${String(text)}'`);
    if (!duplicateCache.has(threshold)) duplicateCache.set(threshold, session.duplicates(threshold));
    const groups = duplicateCache.get(threshold)!;
    return { threshold, groups: groups.slice(0, 200), total: groups.length };
  });

  let map: { id: number; x: number; y: number; label: string }[] | null = null;
  app.get("/api/map", async () => {
    if (map === null) {
      const n = session.size;
      const count = Math.min(n, options.mapPoints ?? 2000);
      const step = n / count;
      const ids = Array.from({ length: count }, (_, i) => Math.floor(i * step));
      const data = session.index.embeddings.data() as Float32Array;
      const d = session.index.embeddings.size(1);
      const xy = umap2d(
        ids.map((id) => Array.from(data.subarray(id * d, (id + 1) * d))),
        0,
      );
      map = ids.map((id, i) => {
        const path = session.index.files[id]?.path ?? "";
        return { id, x: xy[i]![0], y: xy[i]![1], label: path.includes("/") ? path.slice(0, path.indexOf("/")) : "" };
      });
    }
    return { points: map };
  });

  app.get("/api/image/:id", async (request, reply) => {
    const raw = (request.params as { id: string }).id;
    if (!/^\d{1,9}$/.test(raw)) throw new HttpError(400, `an image id is a non-negative integer, got '${raw}'`);
    const id = Number(raw);
    if (id >= session.size) throw new HttpError(404, `no image with id ${id} (the index has ${session.size})`);
    let file: string;
    try {
      file = session.imagePath(id);
    } catch (e) {
      if (e instanceof DataError) throw new HttpError(403, `image ${id} resolves outside the indexed folder`);
      throw new HttpError(404, `image ${id} is no longer readable (moved or deleted since it was indexed)`, (e as Error).message);
    }
    return reply
      .type(MIME[extname(file).toLowerCase()] ?? "application/octet-stream")
      .header("cache-control", "max-age=300")
      .send(createReadStream(file));
  });

  return app;
}

/**
 * Opens the index and listens; resolves once listening, with the URL (carrying the token, if
 * one is needed), the token and a close(). A port in use, or an address not of this machine,
 * is an ArgumentError naming it.
 */
export async function serve(
  indexFile: string,
  listen: { host?: string; port?: number },
  options: ServeOptions = {},
): Promise<{ url: string; token: string | null; session: SearchSession; close(): Promise<void> }> {
  const host = listen.host ?? "127.0.0.1";
  const port = listen.port ?? 8080;
  let token = options.token ?? null;
  if (!isLoopbackHost(host)) {
    if (token === "") {
      throw new ArgumentError(
        `serve: listening on ${host}, not loopback, needs an access token: anyone who can reach the address could read every indexed image (give a token of ${MIN_TOKEN_LENGTH}+ characters, or none to have one generated)`,
      );
    }
    token ??= newToken();
    if (token.length < MIN_TOKEN_LENGTH)
      throw new ArgumentError(`serve: an access token must have at least ${MIN_TOKEN_LENGTH} characters, got ${token.length}`);
  }
  if (token === "") token = null;
  const session = SearchSession.open(indexFile);
  try {
    const app = await buildServer(session, { ...options, ...(token === null ? {} : { token }) }, host);
    let address: string;
    try {
      address = await app.listen({ host, port });
    } catch (e) {
      await app.close().catch(() => undefined);
      throw listenError(e, host, port);
    }
    return {
      url: token === null ? address : `${address}/?token=${token}`,
      token,
      session,
      close: async () => {
        await app.close();
        session.dispose();
      },
    };
  } catch (e) {
    session.dispose();
    throw e;
  }
}

/** listen()'s system errors as errors that say what to change. */
function listenError(e: unknown, host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE")
    return new ArgumentError(`serve: port ${port} on ${host} is in use (another simclr serve, or another program): choose another port, or 0 for any free one`);
  if (code === "EACCES") return new ArgumentError(`serve: port ${port} on ${host} needs privileges this process lacks: choose a port above 1023`);
  if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") return new ArgumentError(`serve: ${host} is not an address of this machine`);
  return e;
}
