/**
 * `simclr serve`: the search index over HTTP (Fastify), with the page of
 * src/report/search-page.ts. Loopback by default. Images are served by id only, from the
 * indexed folder only (links that resolve outside it are refused); uploads are limited in
 * size and must be JPEG, PNG or WebP by their first bytes; every error is a JSON 4xx/5xx.
 * A search embeds one image (one synchronous forward), so the event loop is never blocked
 * for more than one batch of one.
 */
import { createReadStream } from "node:fs";
import { extname } from "node:path";
import multipart from "@fastify/multipart";
import Fastify, { type FastifyInstance } from "fastify";
import { DataError, SimclrError } from "../errors.js";
import { umap2d } from "../report/embedding-map.js";
import { searchPage } from "../report/search-page.js";
import { SearchSession } from "./search.js";

export interface ServeOptions {
  /** Largest accepted upload in bytes (default 10 MiB). */
  maxUploadBytes?: number;
  /** Largest k a request may ask for (default 100). */
  maxK?: number;
  /** Points on the map (a seeded sample when the index is larger; default 2,000). */
  mapPoints?: number;
}

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const MIME: Record<string, string> = { ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp" };

/** The image format from the first bytes, or null: JPEG, PNG and WebP only. */
export function sniffImage(bytes: Buffer): string | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return "png";
  if (bytes.length >= 12 && bytes.toString("latin1", 0, 4) === "RIFF" && bytes.toString("latin1", 8, 12) === "WEBP") return "webp";
  return null;
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

/** A Fastify app answering for `session` (not listening yet). */
export async function buildServer(session: SearchSession, options: ServeOptions = {}): Promise<FastifyInstance> {
  const maxUpload = options.maxUploadBytes ?? 10 * 2 ** 20;
  const maxK = options.maxK ?? 100;
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
  await app.register(multipart, { limits: { fileSize: maxUpload, files: 1, fields: 4, parts: 6 } });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    let status = error instanceof HttpError ? error.statusCode : (error.statusCode ?? 500);
    if (error instanceof RangeError) status = 404;
    else if (error instanceof DataError) status = 422;
    else if (error.code === "FST_REQ_FILE_TOO_LARGE") status = 413;
    const message = status >= 500 && !(error instanceof SimclrError) ? `internal error: ${error.message}` : error.message;
    void reply.code(status).type("application/json").send({ error: message, status });
  });
  app.setNotFoundHandler(
    (request, reply) => void reply.code(404).send({ error: `no such route: ${request.method} ${request.url.split("?")[0]}`, status: 404 }),
  );

  const results = (hits: { id: number; path: string; score: number }[]) => hits.map((h, i) => ({ rank: i + 1, id: h.id, path: h.path, score: h.score }));

  app.get("/", async (_request, reply) => reply.type("text/html; charset=utf-8").send(searchPage()));
  app.get("/favicon.ico", async (_request, reply) => reply.code(204).send());

  app.get("/api/health", async () => ({
    status: "ok",
    images: session.size,
    approximate: session.searcher.approximate,
    root: session.index.root,
    model: {
      arch: session.index.model.arch,
      width: session.index.model.width,
      checkpoint: session.index.model.checkpoint,
      hash: session.index.model.hash.slice(0, 12),
    },
    updatedAt: session.index.updatedAt,
  }));

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
    const body = request.body as { id?: unknown; k?: unknown } | null;
    if (body === null || typeof body !== "object") throw new HttpError(400, 'send an image (multipart/form-data, field \'image\') or JSON {"id": N, "k": K}');
    const id = intParam("id", body.id, null, 0, session.size - 1);
    const k = intParam("k", body.k ?? query.k, 12, 1, maxK);
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
      throw new HttpError(404, `image ${id} is no longer readable: ${(e as Error).message}`);
    }
    return reply
      .type(MIME[extname(file).toLowerCase()] ?? "application/octet-stream")
      .header("cache-control", "max-age=300")
      .send(createReadStream(file));
  });

  return app;
}

/** Opens the index and listens; resolves once listening, with the URL and a close(). */
export async function serve(
  indexFile: string,
  listen: { host?: string; port?: number },
  options: ServeOptions = {},
): Promise<{ url: string; session: SearchSession; close(): Promise<void> }> {
  const session = SearchSession.open(indexFile);
  try {
    const app = await buildServer(session, options);
    const address = await app.listen({ host: listen.host ?? "127.0.0.1", port: listen.port ?? 8080 });
    return {
      url: address,
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
