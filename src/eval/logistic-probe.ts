/**
 * Multinomial logistic regression on fixed features, fit by full-batch L-BFGS (Nocedal &
 * Wright, Algorithm 7.4, with a backtracking Armijo line search): the logistic probe, the
 * fast linear evaluation of `simclr eval` (protocol "linear"). Not to be confused with the
 * online probe (train/probe.ts, trained by SGD during pretraining) or the paper's linear
 * evaluation (jobs/evaluate.ts, eval.protocol "paper": SGD for 90 epochs, Appendix B.6).
 * Features are standardised with the training set's mean and standard deviation; the L2
 * strength is chosen on a held-out part of the training set, walking the L2 grid from strong to
 * weak and starting each fit from the previous solution (a warm-started regularisation path).
 */
import { cat, randperm, zeros } from "../tensor/factory.js";
import { crossEntropy } from "../nn/functional.js";
import { enableGrad, noGrad } from "../tensor/runtime.js";
import { keep, tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { topkAccuracy } from "./knn.js";
import { ArgumentError } from "../errors.js";

export interface LogisticModel {
  /** (D, C) weights and (C) bias, float64, for standardised features. */
  weight: Tensor;
  bias: Tensor;
  mean: Tensor;
  std: Tensor;
  l2: number;
}

export interface FitOptions {
  /** L2 penalty (lambda/2 ||W||^2 added to the mean cross-entropy). */
  l2: number;
  numClasses: number;
  maxIterations?: number;
  tolerance?: number;
  /** Starting point (default zeros): a solution for a nearby L2 converges in fewer iterations. */
  init?: { weight: Tensor; bias: Tensor };
}

/** Standardisation statistics of x (N, D): mean and std per column (std floored at 1e-6). */
export function standardiser(x: Tensor): { mean: Tensor; std: Tensor } {
  return tidy(() => {
    const x64 = x.to("float64");
    const mean = x64.mean(0, true);
    const std = x64.sub(mean).square().mean(0, true).sqrt().clamp(1e-6, null);
    return { mean, std };
  });
}

/** Fits W, b on already-standardised float64 features z (N, D) and int64 labels (N). */
export function fitLogistic(z: Tensor, labels: Tensor, options: FitOptions): { weight: Tensor; bias: Tensor; loss: number; iterations: number } {
  const [, d] = z.shape as [number, number];
  const c = options.numClasses;
  const maxIterations = options.maxIterations ?? 200;
  const tolerance = options.tolerance ?? 1e-7;
  const size = d * c + c;
  // objective and gradient at flat parameters theta (D*C + C)
  const evaluate = (theta: Tensor): { f: number; g: Tensor } =>
    tidy(() => {
      const t = theta.detach().clone().requiresGrad_();
      const loss = enableGrad(() => {
        const w = t.narrow(0, 0, d * c).reshape([d, c]);
        const b = t.narrow(0, d * c, c);
        return crossEntropy(z.matmul(w).add(b), labels).add(
          w
            .square()
            .sum()
            .mul(options.l2 / 2),
        );
      });
      loss.backward();
      return { f: loss.item(), g: keep(t.grad as Tensor) };
    });
  return noGrad(() => {
    // theta = [W flattened row-major (D*C), b (C)]
    let theta = keep(
      options.init
        ? tidy(() => cat([options.init!.weight.reshape([d * c]), options.init!.bias.reshape([c])]).to("float64"))
        : zeros([size], { dtype: "float64" }),
    );
    let { f, g } = evaluate(theta);
    const history: { s: Tensor; y: Tensor; rho: number }[] = [];
    let iterations = 0;
    for (; iterations < maxIterations; iterations++) {
      if (g.abs().max().item() < tolerance) break;
      // two-loop recursion: direction = -H g
      const direction = tidy(() => {
        let q = g.clone();
        const alphas: number[] = [];
        for (let i = history.length - 1; i >= 0; i--) {
          const h = history[i]!;
          const alpha = h.rho * h.s.mul(q).sum().item();
          alphas[i] = alpha;
          q = q.sub(h.y.mul(alpha));
        }
        const last = history[history.length - 1];
        const gamma = last ? last.s.mul(last.y).sum().item() / last.y.square().sum().item() : 1 / Math.max(1, g.norm().item());
        let r = q.mul(gamma);
        for (let i = 0; i < history.length; i++) {
          const h = history[i]!;
          const beta = h.rho * h.y.mul(r).sum().item();
          r = r.add(h.s.mul(alphas[i]! - beta));
        }
        return r.neg();
      });
      const slope = tidy(() => direction.mul(g).sum().item());
      // backtracking line search (Armijo)
      let step = 1;
      let next: { f: number; g: Tensor } | null = null;
      let candidate: Tensor | null = null;
      for (let k = 0; k < 30; k++) {
        candidate = keep(theta.add(direction.mul(step)));
        next = evaluate(candidate);
        if (next.f <= f + 1e-4 * step * slope) break;
        next.g.dispose();
        candidate.dispose();
        candidate = null;
        next = null;
        step /= 2;
      }
      direction.dispose();
      if (next === null || candidate === null) break; // no decrease possible: converged
      const s = keep(candidate.sub(theta));
      const y = keep(next.g.sub(g));
      const sy = s.mul(y).sum().item();
      if (sy > 1e-12) {
        history.push({ s, y, rho: 1 / sy });
        if (history.length > 10) {
          const old = history.shift()!;
          old.s.dispose();
          old.y.dispose();
        }
      } else {
        s.dispose();
        y.dispose();
      }
      const converged = Math.abs(f - next.f) < tolerance * Math.max(1, Math.abs(f));
      theta.dispose();
      g.dispose();
      theta = candidate;
      f = next.f;
      g = next.g;
      if (converged) break;
    }
    for (const h of history) {
      h.s.dispose();
      h.y.dispose();
    }
    g.dispose();
    const weight = keep(
      theta
        .narrow(0, 0, d * c)
        .reshape([d, c])
        .clone(),
    );
    const bias = keep(theta.narrow(0, d * c, c).clone());
    theta.dispose();
    return { weight, bias, loss: f, iterations };
  });
}

/** Class scores (N, C) of raw features under a fitted model. */
export function logisticScores(model: LogisticModel, features: Tensor): Tensor {
  return tidy(() => noGrad(() => features.to("float64").sub(model.mean).div(model.std).matmul(model.weight).add(model.bias)));
}

export interface LogisticProbeResult {
  top1: number;
  top5: number;
  l2: number;
  /** Held-out accuracy per L2 candidate, strongest L2 first. */
  validation: { l2: number; top1: number }[];
}

/** One finished L-BFGS fit of the probe: a held-out candidate (with its accuracy) or the final refit. */
export interface ProbeFitEvent {
  l2: number;
  iterations: number;
  /** Held-out top-1; absent for the final refit on the whole training set. */
  heldOutTop1?: number;
  done: number;
  total: number;
}

/**
 * The logistic probe: standardise, pick L2 from `l2Grid` by accuracy on a held-out
 * fraction of the training set, refit on all of it, score the test set. The grid is walked
 * from strong to weak L2, each fit warm-started from the last; the refit starts from the
 * chosen candidate's weights.
 */
export function logisticProbe(
  trainFeatures: Tensor,
  trainLabels: Tensor,
  testFeatures: Tensor,
  testLabels: Tensor,
  options: { numClasses: number; l2Grid?: number[]; holdOut?: number; maxIterations?: number; onFit?: (event: ProbeFitEvent) => void } = { numClasses: 0 },
): LogisticProbeResult & { model: LogisticModel } {
  const grid = [...(options.l2Grid ?? [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1])].sort((a, b) => b - a);
  if (grid.length === 0) throw new ArgumentError("logisticProbe: l2Grid is empty");
  const n = trainFeatures.size(0);
  const numClasses = options.numClasses;
  const { maxIterations } = options;
  const holdOut = Math.max(1, Math.floor(n * (options.holdOut ?? 0.1)));
  const validation: { l2: number; top1: number }[] = [];
  const total = grid.length + 1;
  type Best = { l2: number; top1: number; weight: Tensor; bias: Tensor };
  // Assigned inside the tidy() callback below; the cast keeps TS from narrowing it to null.
  let best = null as Best | null; // its weights are kept
  tidy(() => {
    const order = randperm(n);
    const fitIdx = order.narrow(0, 0, n - holdOut);
    const valIdx = order.narrow(0, n - holdOut, holdOut);
    const fitX = trainFeatures.indexSelect(0, fitIdx);
    const { mean, std } = standardiser(fitX);
    const z = fitX.to("float64").sub(mean).div(std);
    const zVal = trainFeatures.indexSelect(0, valIdx).to("float64").sub(mean).div(std);
    const yFit = trainLabels.indexSelect(0, fitIdx);
    const yVal = trainLabels.indexSelect(0, valIdx);
    const fits: { weight: Tensor; bias: Tensor }[] = []; // small (D, C): freed after the path
    for (const l2 of grid) {
      const fit = fitLogistic(z, yFit, { l2, numClasses, maxIterations, init: fits[fits.length - 1] });
      fits.push(fit);
      const top1 = tidy(() => topkAccuracy(zVal.matmul(fit.weight).add(fit.bias), yVal).top1);
      validation.push({ l2, top1 });
      options.onFit?.({ l2, iterations: fit.iterations, heldOutTop1: top1, done: validation.length, total });
      // strictly better only: on a tie the stronger L2, seen first, stays
      if (best === null || top1 > best.top1) best = { l2, top1, weight: fit.weight, bias: fit.bias };
    }
    for (const fit of fits) {
      if (fit.weight === best?.weight) continue;
      fit.weight.dispose();
      fit.bias.dispose();
    }
  });
  const chosen = best;
  if (chosen === null) throw new ArgumentError("logisticProbe: the L2 grid is empty");
  const { mean, std } = standardiser(trainFeatures);
  keep(mean);
  keep(std);
  const z = tidy(() => trainFeatures.to("float64").sub(mean).div(std));
  // tidy: the fit's intermediates go; its weight and bias (returned) stay
  const { weight, bias, iterations } = tidy(() => fitLogistic(z, trainLabels, { l2: chosen.l2, numClasses, maxIterations, init: chosen }));
  options.onFit?.({ l2: chosen.l2, iterations, done: total, total });
  z.dispose();
  chosen.weight.dispose();
  chosen.bias.dispose();
  const model: LogisticModel = { weight, bias, mean, std, l2: chosen.l2 };
  const { top1, top5 } = tidy(() => topkAccuracy(logisticScores(model, testFeatures), testLabels));
  return { top1, top5, l2: chosen.l2, validation, model };
}
