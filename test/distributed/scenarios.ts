/**
 * The computations the distributed tests run, written once: each takes the group (null for
 * the one-process reference) and returns plain numbers to compare. Rank r's data is rank r's
 * slice of the data the reference sees whole, and differs between ranks.
 */
import { BatchNorm2d, cat, manualSeed, noGrad, ntXentLoss, randn, syncBatchNorm, tensor, type ProcessGroup, type Tensor } from "../../src/index.js";

export const WORLD = 2;
const B = 6; // images per rank
const D = 5; // features in
const K = 4; // z dimension

/** Rank r's two views' inputs, (2B, D) float64: [first views; second views]. */
function viewsOf(rank: number): Tensor {
  manualSeed(100 + rank);
  return randn([2 * B, D], { dtype: "float64" });
}

function sharedWeight(): Tensor {
  manualSeed(7);
  return randn([D, K], { dtype: "float64" }).requiresGrad_(true);
}

/** Rows of W ranks' [first; second] blocks reordered into [all first views; all second views]. */
function globalOrder(world: number, b: number): Tensor {
  const firsts: number[] = [];
  const seconds: number[] = [];
  for (let r = 0; r < world; r++) {
    for (let i = 0; i < b; i++) firsts.push(2 * b * r + i);
    for (let i = 0; i < b; i++) seconds.push(2 * b * r + b + i);
  }
  return tensor([...firsts, ...seconds], { dtype: "int64" });
}

export interface GatherResult {
  loss: number;
  weightGrad: number[];
  /** Per rank, the gradient of its inputs, scaled to the global mean loss. */
  inputGrads: number[][];
}

/**
 * NT-Xent on z = x W with negatives from every rank. `naive` uses a gather without gradient
 * for the other ranks' rows: the silent bug the real one must not have.
 */
export function gatherScenario(group: ProcessGroup | null, naive = false): GatherResult {
  const w = sharedWeight();
  if (group === null) {
    const xs = Array.from({ length: WORLD }, (_, r) => viewsOf(r).requiresGrad_(true));
    const z = cat(xs.map((x) => x.matmul(w))).indexSelect(0, globalOrder(WORLD, B)); // (2 W B, K)
    const { loss } = ntXentLoss(z, { temperature: 0.5 });
    loss.backward();
    return { loss: loss.item(), weightGrad: Array.from(w.grad!.dataAsNumbers()), inputGrads: xs.map((x) => Array.from(x.grad!.dataAsNumbers())) };
  }
  const x = viewsOf(group.rank).requiresGrad_(true);
  const zLocal = x.matmul(w); // (2B, K)
  let gathered: Tensor;
  if (naive) {
    const others = group.allGather(zLocal); // no gradient
    const blocks = Array.from({ length: group.size }, (_, r) => (r === group.rank ? zLocal : others.narrow(0, 2 * B * r, 2 * B)));
    gathered = cat(blocks);
  } else {
    gathered = group.allGatherWithGrad(zLocal); // (W 2B, K)
  }
  const z = gathered.indexSelect(0, globalOrder(group.size, B));
  const { loss } = ntXentLoss(z, { temperature: 0.5, local: { start: group.rank * B, count: B } });
  loss.backward();
  // data parallelism: the loss is the mean of the ranks', the weight's gradient their mean
  const stats = tensor([loss.item()], { dtype: "float64" });
  group.allReduce([stats]);
  const g = w.grad!;
  group.allReduce([g]);
  return {
    loss: stats.item() / group.size,
    weightGrad: Array.from(g.div(group.size).dataAsNumbers()),
    inputGrads: [Array.from(x.grad!.div(group.size).dataAsNumbers())],
  };
}

export interface SyncBnResult {
  output: number[][];
  runningMean: number[];
  runningVar: number[];
  inputGrads: number[][];
  weightGrad: number[];
  biasGrad: number[];
}

function bnInput(rank: number): Tensor {
  manualSeed(200 + rank);
  return randn([3, 4, 5, 5])
    .mul(2 + rank)
    .add(rank); // ranks differ in scale and shift
}

function bnCoefficients(rank: number): Tensor {
  manualSeed(300 + rank);
  return randn([3, 4, 5, 5]);
}

/** Batch norm (training mode) then loss sum(y * c) with fixed c: outputs, statistics, gradients. */
export function syncBnScenario(group: ProcessGroup | null): SyncBnResult {
  manualSeed(9);
  const bn = new BatchNorm2d({ numFeatures: 4 }).train();
  const { weight, bias } = bn;
  if (weight === null || bias === null) throw new Error("affine batch norm expected");
  noGrad(() => {
    weight.mul_(0).add_(randn([4]));
    bias.mul_(0).add_(randn([4]));
  });
  const ranks = group === null ? Array.from({ length: WORLD }, (_, r) => r) : [group.rank];
  const xs = ranks.map((r) => bnInput(r).requiresGrad_(true));
  const cs = ranks.map((r) => bnCoefficients(r));
  if (group !== null) syncBatchNorm(bn, group);
  const y = bn.forward(cat(xs)); // one rank: its slice; reference: the whole batch
  y.mul(cat(cs)).sum().backward();
  const perRank = (t: Tensor) => ranks.map((_, i) => Array.from(t.narrow(0, 3 * i, 3).dataAsNumbers()));
  const wg = weight.grad!;
  const bg = bias.grad!;
  if (group !== null) group.allReduce([wg, bg]); // the sum over ranks is the whole batch's gradient
  return {
    output: perRank(y),
    runningMean: Array.from(bn.runningMean.dataAsNumbers()),
    runningVar: Array.from(bn.runningVar.dataAsNumbers()),
    inputGrads: xs.map((x) => Array.from(x.grad!.dataAsNumbers())),
    weightGrad: Array.from(wg.dataAsNumbers()),
    biasGrad: Array.from(bg.dataAsNumbers()),
  };
}
