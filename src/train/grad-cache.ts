/**
 * GradCache (Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory
 * Limited Setup", arXiv 2101.06983) for the SimCLR step: a batch larger than memory allows,
 * with every view still a negative for every other (plain gradient accumulation would only
 * contrast views within a chunk).
 *
 *   1. Embed the views in chunks of `chunkSize` without autograd graphs, saving libtorch's RNG
 *      state before each chunk (z and h of every view are kept; activations are not).
 *   2. NT-Xent on all embeddings (gathered across ranks when data-parallel), and its gradient
 *      with respect to the embeddings: dL/dz, (2B, outDim).
 *   3. Re-run each chunk with its graph, replaying its RNG state, and backpropagate its slice of
 *      dL/dz; the parameters' gradients accumulate over the chunks.
 * Peak memory is that of one chunk's graph plus the views, the embeddings and the loss matrix.
 *
 * Batch norm: in train mode each chunk is normalised with its own statistics, as when a batch
 * is split across devices without synchronised BN (the paper's section 2.2 discusses this), so
 * the result equals the plain step exactly only when a chunk is the whole batch. The running
 * statistics are saved before step 1 and restored after it, so they are updated once per chunk,
 * by step 3 — as many updates as a plain step over the same chunks would make.
 */
import type { SimCLRModel } from "../models/simclr.js";
import { cat } from "../tensor/factory.js";
import { getRngState, noGrad, setRngState } from "../tensor/runtime.js";
import { keep, tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { contrastiveLoss, embed, type SimclrStepOptions, type SimclrStepOutput } from "./contrastive.js";

/** The views' rows in chunks of at most `size`: [start, length] pairs. */
function chunks(rows: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let start = 0; start < rows; start += size) out.push([start, Math.min(size, rows - start)]);
  return out;
}

/**
 * The SimCLR loss on `views` of `b` images computed GradCache's way. The returned `backward`
 * runs step 3 (the loss's own backward gives only dL/dz). Call it inside a tidy scope, as the
 * plain step is; each chunk's graph lives in a scope of its own and is freed after its backward.
 */
export function gradCacheForward(model: SimCLRModel, views: Tensor, b: number, options: SimclrStepOptions & { chunkSize: number }): SimclrStepOutput {
  const rows = views.size(0);
  const parts = chunks(rows, options.chunkSize);
  // 1) embeddings without graphs; BN's running statistics are put back afterwards
  const buffers = model.namedBuffers().map(([, t]) => t);
  const saved = noGrad(() => buffers.map((t) => keep(t.clone())));
  const rngStates: Tensor[] = [];
  const zs: Tensor[] = [];
  const hs: Tensor[] = [];
  noGrad(() => {
    for (const [start, length] of parts) {
      rngStates.push(getRngState());
      const { h, z } = embed(model, views.narrow(0, start, length), options); // (length, D), (length, outDim)
      hs.push(h);
      zs.push(z);
    }
    buffers.forEach((t, i) => t.copy_(saved[i] as Tensor));
  });
  for (const t of saved) t.dispose();
  // 2) the loss on every embedding, and its gradient with respect to them
  const z = cat(zs).detach().requiresGrad_(); // (2b, outDim) float32, a leaf
  const { loss, accuracy } = contrastiveLoss(z, b, options);
  const h = cat(hs); // (2b, D)
  const backward = () => {
    loss.backward();
    const dz = z.grad; // (2b, outDim)
    if (dz === null) throw new Error("GradCache: the loss gave no gradient for the embeddings");
    // 3) each chunk again, with its graph and its RNG state, backpropagating its slice of dL/dz
    const after = getRngState();
    parts.forEach(([start, length], i) => {
      setRngState(rngStates[i] as Tensor);
      tidy(() => embed(model, views.narrow(0, start, length), options).z.backward(dz.narrow(0, start, length)));
    });
    setRngState(after);
  };
  return { loss, accuracy, h, backward };
}
