/**
 * Searching an index: `SearchSession.open` reads an index, loads the encoder that made it (the
 * run and checkpoint it records, refused if the weights changed since) and builds the
 * searcher; queries are images (files or uploaded bytes) or indexed images by id.
 */
import { realpathSync } from "node:fs";
import { join, relative, isAbsolute } from "node:path";
import { ArgumentError, DataError } from "../errors.js";
import { readIndex, type SearchIndex } from "../search/index-store.js";
import { Searcher, type Hit, type SearcherOptions } from "../search/searcher.js";
import type { ImageEmbedder } from "../search/embedder.js";
import { evaluationConfig } from "./evaluation-config.js";
import { openEmbedder } from "./index-images.js";

export interface Result extends Hit {
  path: string;
}

export class SearchSession {
  private constructor(
    readonly file: string,
    readonly index: SearchIndex,
    readonly searcher: Searcher,
    readonly embedder: ImageEmbedder,
    readonly rootReal: string,
    private readonly release: () => void,
  ) {}

  static open(file: string, options: SearcherOptions = {}): SearchSession {
    const index = readIndex(file);
    try {
      const config = evaluationConfig(index.model.run);
      const { embedder, identity, dispose } = openEmbedder(index.model.run, config, index.model.checkpoint);
      if (identity.hash !== index.model.hash) {
        dispose();
        throw new DataError(
          file,
          `was made with weights ${index.model.hash.slice(0, 12)} from ${index.model.checkpoint}, which now holds ${identity.hash.slice(0, 12)}: re-index with simclr index`,
        );
      }
      let rootReal: string;
      try {
        rootReal = realpathSync(index.root);
      } catch {
        dispose();
        throw new DataError(file, `indexes ${index.root}, which no longer exists`);
      }
      return new SearchSession(file, index, new Searcher(index.embeddings, options), embedder, rootReal, dispose);
    } catch (e) {
      index.embeddings.dispose();
      throw e;
    }
  }

  get size(): number {
    return this.index.files.length;
  }

  private results(hits: Hit[]): Result[] {
    return hits.map((h) => ({ ...h, path: this.index.files[h.id]?.path ?? "" }));
  }

  /** The k indexed images nearest to an image (a path or encoded bytes). */
  async search(query: string | Buffer, k: number, options: { exact?: boolean } = {}): Promise<Result[]> {
    let vector: Float32Array;
    try {
      vector = await this.embedder.embedOne(query);
    } catch (e) {
      throw new DataError(typeof query === "string" ? query : "the uploaded image", `cannot be read as an image: ${(e as Error).message}`);
    }
    return this.results(this.searcher.search(vector, k, options));
  }

  /** The k indexed images nearest to a unit-length embedding (a query the browser embedded). */
  searchVector(vector: Float32Array, k: number): Result[] {
    return this.results(this.searcher.search(vector, k));
  }

  neighbors(id: number, k: number): Result[] {
    return this.results(this.searcher.neighborsOf(id, k));
  }

  duplicates(threshold: number): { score: number; images: { id: number; path: string }[] }[] {
    return this.searcher.duplicates(threshold).map((g) => ({ score: g.score, images: g.ids.map((id) => ({ id, path: this.index.files[id]?.path ?? "" })) }));
  }

  /**
   * The file of image `id`, only if it resolves (links followed) inside the indexed folder:
   * ids are the only way in, and a link that leads out of the folder is refused.
   */
  imagePath(id: number): string {
    const f = Number.isInteger(id) ? this.index.files[id] : undefined;
    if (f === undefined) throw new ArgumentError(`no image with id ${id} (the index has ${this.size})`);
    const real = realpathSync(join(this.rootReal, f.path));
    const rel = relative(this.rootReal, real);
    if (rel.startsWith("..") || isAbsolute(rel)) throw new DataError(f.path, "resolves outside the indexed folder");
    return real;
  }

  dispose(): void {
    this.searcher.dispose();
    this.index.embeddings.dispose();
    this.release();
  }
}
