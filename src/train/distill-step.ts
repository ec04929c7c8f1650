/**
 * Embedding distillation (the objective of `simclr distill`): a student (encoder f_s and its
 * own projection g_s to the teacher's width) learns to reproduce a frozen teacher's h, centred
 * on the batch's mean, on SimCLR's augmented views. Both views of every image, as in the SimCLR step; the teacher runs
 * in inference mode without gradients. The loss on l2-normalised vectors is
 *   cosine:  mean_i (1 - cos(g_s(f_s(x_i)), h_t(x_i)))
 *   mse:     mean over elements of (z_i/|z_i| - h_i/|h_i|)^2   (= cosine's / (D/2))
 * and the step's figure (metrics.jsonl: distill_cos) is the mean cosine between the student's
 * projection and the teacher's h: 1 when the student reproduces the teacher.
 *
 * Label distillation (SimCLRv2, Chen et al. 2020b, arXiv 2006.10029, section 2, eq. 4): the
 * teacher is a fine-tuned classifier; on unlabelled views the student's logits z learn its
 * soft labels at temperature tau,
 *   L = -mean_i sum_y P_T(y | x_i; tau) log P_S(y | x_i; tau),  P(y | x; tau) = softmax(logits / tau),
 * and the figure (distill_agree) is the share of views where the two argmaxes agree.
 */
import type { SimCLRAugment } from "../augment/simclr.js";
import { ArgumentError } from "../errors.js";
import type { SimCLRModel } from "../models/simclr.js";
import { mseLoss, normalize } from "../nn/functional.js";
import { noGrad } from "../tensor/runtime.js";
import type { Tensor } from "../tensor/tensor.js";
import { embed, type SimclrStepOptions, type SimclrStepOutput } from "./contrastive.js";
import { simclrViews } from "./simclr-step.js";

export type DistillLoss = "cosine" | "mse";

/** The loss, and the mean cosine, of student projections z (N, D) against teacher features t (N, D). */
export function distillationLoss(z: Tensor, t: Tensor, loss: DistillLoss): { loss: Tensor; cosine: number } {
  if (z.ndim !== 2 || t.ndim !== 2 || z.size(0) !== t.size(0) || z.size(1) !== t.size(1)) {
    throw new ArgumentError(`distillationLoss: student [${z.shape.join(", ")}] and teacher [${t.shape.join(", ")}] must both be (N, D)`);
  }
  const zn = normalize(z, 1); // (N, D)
  const tn = normalize(t, 1); // (N, D)
  const cos = zn.mul(tn).sum([1]); // (N)
  const value = loss === "mse" ? mseLoss(zn, tn) : cos.neg().add(1).mean(); // scalar
  return { loss: value, cosine: noGrad(() => cos.mean().item()) };
}

/** The metrics.jsonl key of the distillation step's figure (SimclrStepOutput.accuracy): the mean cosine. */
export const DISTILL_METRIC = "distill_cos";

/** One distillation step's forward on images (B, C, H, W) in [0, 1]: both views, the frozen teacher's h, the student's z. */
export function distillForward(
  model: SimCLRModel,
  teacher: (x: Tensor) => Tensor,
  loss: DistillLoss,
  augment: SimCLRAugment,
  images: Tensor,
  options: SimclrStepOptions,
): SimclrStepOutput {
  const views = simclrViews(augment, images, options); // (2B, C, S, S)
  // The targets are the teacher's h centred on the batch's mean: h after ReLU and pooling shares a
  // large mean direction (the core study's A1 run: mean pairwise cosine 0.73 on CIFAR-10 test
  // images), so matching raw h would reward a constant output (measured: a student at cosine
  // 0.88 whose own h had RankMe 5 and a 15% probe). Centred, only the differences between
  // images are left to learn.
  const t = noGrad(() => {
    const raw = teacher(views); // (2B, D_t), BN in inference mode (the caller's teacher.eval())
    return raw.sub(raw.mean([0], true)); // (2B, D_t)
  });
  const { h, z } = embed(model, views, options); // (2B, D_s), (2B, D_t)
  const out = distillationLoss(z, t, loss);
  return { loss: out.loss, accuracy: out.cosine, h, backward: () => out.loss.backward() };
}

/** The metrics.jsonl key of label distillation's figure: the share of views whose student and teacher argmax agree. */
export const LABEL_DISTILL_METRIC = "distill_agree";

/** SimCLRv2's distillation loss of student logits z (N, K) against teacher logits t (N, K) at temperature tau. */
export function softLabelLoss(z: Tensor, t: Tensor, temperature: number): { loss: Tensor; agreement: number } {
  if (z.ndim !== 2 || t.ndim !== 2 || z.size(0) !== t.size(0) || z.size(1) !== t.size(1)) {
    throw new ArgumentError(`softLabelLoss: student [${z.shape.join(", ")}] and teacher [${t.shape.join(", ")}] logits must both be (N, K)`);
  }
  if (!(temperature > 0)) throw new ArgumentError(`softLabelLoss: temperature must be > 0, got ${temperature}`);
  const target = noGrad(() => t.div(temperature).softmax(1)); // (N, K), no gradient to the teacher
  const loss = target.mul(z.div(temperature).logSoftmax(1)).sum([1]).mean().neg(); // scalar
  const agreement = noGrad(() => z.argmax(1).eq(t.argmax(1)).float().mean().item());
  return { loss, agreement };
}

/** One label-distillation step's forward: both views, the frozen classifier's logits, the student's z as logits. */
export function labelDistillForward(
  model: SimCLRModel,
  teacher: (x: Tensor) => Tensor,
  temperature: number,
  augment: SimCLRAugment,
  images: Tensor,
  options: SimclrStepOptions,
): SimclrStepOutput {
  const views = simclrViews(augment, images, options); // (2B, C, S, S)
  const t = noGrad(() => teacher(views)); // (2B, K)
  const { h, z } = embed(model, views, options); // (2B, D), (2B, K)
  const out = softLabelLoss(z, t, temperature);
  return { loss: out.loss, accuracy: out.agreement, h, backward: () => out.loss.backward() };
}
