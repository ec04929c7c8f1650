/**
 * A 2-D map of embeddings with UMAP (McInnes et al. 2018), from umap-js (PAIR-code's port
 * of the reference implementation), seeded so the same run gives the same map.
 */
import { UMAP } from "umap-js";

/** Mulberry32: a small seeded generator for UMAP's random draws. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** rows: N vectors (cosine geometry: normalise first if wanted) -> N points in 2-D. */
export function umap2d(rows: number[][], seed: number): [number, number][] {
  if (rows.length < 3) return rows.map((_, i) => [i, 0]);
  const umap = new UMAP({ nComponents: 2, nNeighbors: Math.min(15, rows.length - 1), minDist: 0.1, random: seededRandom(seed) });
  return umap.fit(rows) as [number, number][];
}
