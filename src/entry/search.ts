/**
 * `simclr/search`: visual search over a trained encoder: indexes (HNSW through hnswlib-node), the embedder, and search sessions. Kept out of the package root so that training code does not load hnswlib.
 */
export { indexImages, openEmbedder, type IndexOptions, type IndexResult } from "../jobs/index-images.js";
export { SearchSession, type Result as SearchResult } from "../jobs/search.js";
export { Searcher, type Hit, type SearcherOptions } from "../search/searcher.js";
export { readIndex, writeIndex, INDEX_FORMAT, type SearchIndex, type IndexedFile, type ModelIdentity } from "../search/index-store.js";
export { ImageEmbedder } from "../search/embedder.js";
