/**
 * Every setting in one table (pretraining, evaluation, fine-tuning, the supervised baseline): default, type, allowed values and a line of
 * documentation. The defaults are the demo's: Fashion-MNIST, ResNet-18 width 16 with a
 * CIFAR stem, a 2-layer head, batch 256, temperature 0.5, the grayscale augmentation preset.
 * YAML files and --set overrides are checked against it: an unknown key or a bad value is
 * an error that names the key.
 */

export type FieldType = "number" | "integer" | "string" | "boolean";

export interface Field {
  type: FieldType;
  default: number | string | boolean | null;
  nullable?: boolean;
  choices?: readonly string[];
  /** For strings: a regular expression the whole value must match, and how to say it. */
  pattern?: { regex: string; hint: string };
  /** For integers: the allowed values. */
  oneOf?: readonly number[];
  min?: number;
  max?: number;
  doc: string;
}

export const SCHEMA = {
  "data.name": {
    type: "string",
    default: "fashion-mnist",
    choices: ["fashion-mnist", "mnist", "cifar10", "cifar100", "cifar10-jpg", "image-folder"],
    doc: "data set kind",
  },
  "data.path": {
    type: "string",
    default: null,
    nullable: true,
    doc: "data set location (default: Debian's Fashion-MNIST, or the shared CIFAR-10 JPEG tarball for cifar10-jpg)",
  },
  "data.limit": { type: "integer", default: null, nullable: true, min: 1, doc: "use only the first N training images" },
  "data.size": { type: "integer", default: 32, min: 8, doc: "image-folder: side the images are resized (and center-cropped) to" },
  "data.channels": { type: "integer", default: 3, oneOf: [1, 3], doc: "image-folder: 3 (RGB) or 1 (grayscale)" },
  "data.skipBad": { type: "boolean", default: false, doc: "image-folder: skip unreadable images (counted) instead of failing" },
  "model.arch": {
    type: "string",
    default: "resnet18",
    choices: ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0"],
    doc: "encoder f, by torchvision's names (docs/deploy.md compares them)",
  },
  "model.width": { type: "integer", default: 16, min: 1, doc: "ResNets: channels of layer1 (torchvision: 64)" },
  "model.widthMult": { type: "number", default: 1, min: 0.1, max: 4, doc: "MobileNetV3: channel multiplier (torchvision's width_mult); 1 for the others" },
  "model.cifarStem": { type: "boolean", default: true, doc: "stride-1 first conv (ResNets: 3x3, no max-pool) for small images" },
  "model.zeroInitResidual": { type: "boolean", default: true, doc: "ResNets: each block's last BN starts at gamma 0 (the official code's init)" },
  "model.syncBN": {
    type: "boolean",
    default: true,
    doc: "with more than one process: batch norm statistics over the global batch (section 2.2, Global BN); false: each process's slice",
  },
  "model.init": {
    type: "string",
    default: null,
    nullable: true,
    doc: "start the encoder from these weights (safetensors: torchvision's names, an exported encoder or a run's model.safetensors); the head starts fresh",
  },
  "head.layers": {
    type: "integer",
    default: 2,
    min: 0,
    doc: "projection head g (section 4.2, Figure 8): 0 = none (z = h), 1 = linear, 2 = nonlinear (SimCLR v1), 3 = v2",
  },
  "head.outDim": { type: "integer", default: 128, min: 1, doc: "size of z (with head.layers 0, z = h and this is unused)" },
  "augment.preset": { type: "string", default: "grayscale", choices: ["imagenet", "cifar", "grayscale"], doc: "the paper's augmentation settings" },
  "augment.size": { type: "integer", default: null, nullable: true, min: 8, doc: "output side of a view (default: the image side)" },
  "augment.jitterStrength": { type: "number", default: null, nullable: true, min: 0, doc: "color distortion strength s (default: the preset's)" },
  "augment.cropMinScale": {
    type: "number",
    default: null,
    nullable: true,
    min: 0.001,
    max: 1,
    doc: "smallest crop area fraction (default: the preset's 0.08)",
  },
  "augment.blurProbability": { type: "number", default: null, nullable: true, min: 0, max: 1, doc: "Gaussian blur probability (default: the preset's)" },
  "augment.crop": { type: "boolean", default: true, doc: "random resized crop (Figure 5); false: every view is the whole image, resized" },
  "augment.flip": { type: "boolean", default: true, doc: "random horizontal flip, p 0.5" },
  "augment.color": { type: "boolean", default: true, doc: "colour jitter, p 0.8 at strength augment.jitterStrength (Figure 5, Table 1)" },
  "augment.grayscale": { type: "boolean", default: true, doc: "random grayscale, p 0.2 (3-channel data only)" },
  "augment.blur": {
    type: "boolean",
    default: true,
    doc: "Gaussian blur at augment.blurProbability or the preset's (the cifar and grayscale presets have none); false: never",
  },
  "loss.temperature": { type: "number", default: 0.5, min: 1e-6, max: 1e4, doc: "NT-Xent temperature tau" },
  "loss.normalize": {
    type: "boolean",
    default: true,
    doc: "l2-normalise z, so similarity is cosine (Table 5); false: the raw dot product of z (the paper pairs it with tau 10)",
  },
  "optim.name": { type: "string", default: "lars", choices: ["lars", "sgd", "adamw"], doc: "optimizer" },
  "optim.lr": { type: "number", default: 1.0, min: 0, max: 1000, doc: "base learning rate, scaled by optim.lrScaling" },
  "optim.lrScaling": { type: "string", default: "linear", choices: ["linear", "sqrt"], doc: "linear: lr x B/256; sqrt: lr x sqrt(B)" },
  "optim.weightDecay": { type: "number", default: 1e-6, min: 0, max: 1, doc: "weight decay (LARS and SGD: L2; AdamW: decoupled)" },
  "optim.momentum": { type: "number", default: 0.9, min: 0, max: 0.999999, doc: "momentum (LARS, SGD)" },
  "train.epochs": { type: "integer", default: 2, min: 1, doc: "passes over the training images (the demo: 2, about 10 minutes on 2 cores)" },
  "train.warmupEpochs": {
    type: "number",
    default: null,
    nullable: true,
    min: 0,
    doc: "linear learning-rate warm-up; default: 10 (the paper), or a tenth of train.epochs when that is less",
  },
  "train.warmupFraction": {
    type: "number",
    default: null,
    nullable: true,
    min: 0,
    max: 0.99,
    doc: "warm-up as a fraction of the run's steps (SCIENCE.md: 0.05); overrides train.warmupEpochs",
  },
  "train.budgetViews": {
    type: "integer",
    default: null,
    nullable: true,
    min: 4,
    doc: "budget by augmented views (2 per image per step) instead of train.epochs: round(views / (2 x batchSize)) steps, the cosine ending with them",
  },
  "train.batchSize": { type: "integer", default: 256, min: 2, doc: "images per step (2 views each)" },
  "train.seed": { type: "integer", default: 0, min: 0, doc: "seed for weights, data order and augmentation" },
  "train.checkpointEvery": { type: "integer", default: 1, min: 1, doc: "write a checkpoint every N epochs (and at the end)" },
  "train.precision": {
    type: "string",
    default: "fp32",
    choices: ["fp32", "bf16"],
    doc: "bf16: mixed precision through libtorch's autocast; loss and optimizer stay fp32",
  },
  "train.chunkSize": {
    type: "integer",
    default: null,
    nullable: true,
    min: 2,
    doc: "GradCache (Gao et al. 2021): views per forward pass; the batch's 2B views are embedded in chunks, the loss sees all of them, and each chunk is re-run for its gradient. Bounds memory by the chunk; BN normalises per chunk (null: the whole batch at once)",
  },
  "train.memoryFormat": {
    type: "string",
    default: "channels_last",
    choices: ["contiguous", "channels_last"],
    doc: "layout of the views and the convolutions' weights during pretraining: channels_last (NHWC) lets oneDNN skip layout conversions (1.1-1.5x faster on CPU, BENCHMARKS.md); contiguous is NCHW",
  },
  "train.device": { type: "string", default: "cpu", doc: "cpu, cuda or cuda:N" },
  "train.threads": { type: "integer", default: null, nullable: true, min: 1, doc: "intra-op threads (default: every core)" },
  "train.logEvery": { type: "integer", default: 10, min: 1, doc: "steps between metrics.jsonl lines" },
  "monitor.knnEvery": { type: "integer", default: 1, min: 0, doc: "epochs between kNN evaluations logged to metrics.jsonl (0: off; labelled data only)" },
  "monitor.knnSamples": { type: "integer", default: 10000, min: 10, doc: "train images in the kNN memory bank (test queries: a fifth of it)" },
  "monitor.linearProbe": {
    type: "boolean",
    default: true,
    doc: "train an online linear classifier on detached h and log its accuracy per epoch (labelled data only)",
  },
  "monitor.rankMe": {
    type: "boolean",
    default: true,
    doc: "the collapse monitor: RankMe, the effective rank of h over the last 2048 training views of each epoch, in metrics.jsonl (rankme_h)",
  },
  "monitor.probeLr": { type: "number", default: 0.1, min: 0, max: 1000, doc: "the online probe's learning rate (Nesterov SGD, momentum 0.9)" },
  "monitor.knnK": { type: "integer", default: 200, min: 1, doc: "kNN monitor: neighbours that vote" },
  "monitor.knnTemperature": { type: "number", default: 0.1, min: 1e-6, max: 1e4, doc: "kNN monitor: votes are exp(cosine / T)" },
  // Data-parallel training over processes and machines (docs/distributed.md).
  "dist.backend": {
    type: "string",
    default: "auto",
    choices: ["auto", "gloo", "nccl"],
    doc: "collectives: gloo (CPU), nccl (CUDA); auto: nccl on cuda devices, else gloo",
  },
  "dist.timeout": {
    type: "number",
    default: 60,
    min: 1,
    doc: "seconds a rendezvous or collective may wait for the other ranks before the run stops with an error",
  },
  "dist.overlap": {
    type: "boolean",
    default: true,
    doc: "start each gradient bucket's all-reduce during backward, as soon as its gradients are ready (DDP's overlap); false: all after backward",
  },
  "dist.bucketMiB": { type: "number", default: 25, min: 0.001, doc: "size of the gradient all-reduce buckets (DDP's default: 25)" },
  // Linear evaluation and kNN of a frozen encoder (Appendix B.6; kNN as Wu et al. 2018).
  "eval.protocol": {
    type: "string",
    default: "fast",
    choices: ["fast", "paper"],
    doc: "linear: fast = L-BFGS logistic regression on standardised h, L2 chosen on held-out data; paper = a linear layer trained by SGD on the frozen encoder (Appendix B.6)",
  },
  "eval.labels": {
    type: "string",
    default: null,
    nullable: true,
    pattern: { regex: "^(\\d+(\\.\\d+)?%|\\d+-per-class)$", hint: "like 1%, 10% or 25-per-class" },
    doc: "linear and kNN on a class-balanced subset of the train split's labels (1%, 10%, N-per-class; the paper's low-label view); null: all",
  },
  "eval.seed": { type: "integer", default: 0, min: 0, doc: "seed for the eval.labels subset" },
  "eval.k": { type: "integer", default: 200, min: 1, doc: "kNN: neighbours that vote" },
  "eval.temperature": { type: "number", default: 0.1, min: 1e-6, max: 1e4, doc: "kNN: votes are exp(cosine / T)" },
  "eval.holdOut": { type: "number", default: 0.1, min: 0.001, max: 0.9, doc: "linear (fast): fraction of the train split held out to choose the L2 strength" },
  "eval.maxIterations": { type: "integer", default: 200, min: 1, doc: "linear (fast): L-BFGS iterations per fit" },
  "eval.epochs": { type: "integer", default: 90, min: 1, doc: "linear (paper): epochs (Appendix B.6: 90)" },
  "eval.batchSize": { type: "integer", default: 512, min: 1, doc: "linear (paper): batch size (the paper: 4096; CPU-sized here)" },
  "eval.lr": {
    type: "number",
    default: 0.1,
    min: 0,
    max: 1000,
    doc: "linear (paper): base learning rate, x batchSize/256 (Appendix B.6: 0.1), Nesterov SGD, cosine decay",
  },
  "eval.weightDecay": { type: "number", default: 0, min: 0, max: 1, doc: "linear (paper): weight decay (Appendix B.6: none)" },
  // Semi-supervised fine-tuning (Appendix B.5).
  "finetune.labels": {
    type: "string",
    default: "10%",
    pattern: { regex: "^(\\d+(\\.\\d+)?%|\\d+-per-class)$", hint: "like 1%, 10% or 25-per-class" },
    doc: "the labelled subset, class-balanced: 1%, 10% or N-per-class",
  },
  "finetune.epochs": {
    type: "integer",
    default: null,
    nullable: true,
    min: 1,
    doc: "epochs; default: 60 for 1% of the labels or less, else 30 (Appendix B.5)",
  },
  "finetune.batchSize": { type: "integer", default: 256, min: 1, doc: "batch size (the paper: 4096; CPU-sized here)" },
  "finetune.lr": {
    type: "number",
    default: 0.05,
    min: 0,
    max: 1000,
    doc: "base learning rate, x batch/256 (Appendix B.5: 0.05), Nesterov SGD, cosine decay, no warm-up",
  },
  "finetune.weightDecay": { type: "number", default: 0, min: 0, max: 1, doc: "weight decay (Appendix B.5: none)" },
  "finetune.fromHead": { type: "boolean", default: false, doc: "keep the projection head's first layer under the classifier (SimCLRv2)" },
  "finetune.seed": { type: "integer", default: 0, min: 0, doc: "seed for the subset and the classifier's initialisation" },
  // The supervised baseline: the same encoder trained from scratch with labels.
  "supervised.epochs": { type: "integer", default: 2, min: 1, doc: "epochs (the demo's budget: 2)" },
  "supervised.budgetViews": {
    type: "integer",
    default: null,
    nullable: true,
    min: 1,
    doc: "budget by augmented views (1 per image per step) instead of supervised.epochs: round(views / training images) epochs, at least 1",
  },
  "supervised.batchSize": { type: "integer", default: 256, min: 1, doc: "batch size" },
  "supervised.lr": { type: "number", default: 0.1, min: 0, max: 1000, doc: "base learning rate, x batchSize/256, Nesterov SGD, cosine decay" },
  "supervised.weightDecay": { type: "number", default: 5e-4, min: 0, max: 1, doc: "weight decay" },
  "distill.teacher": {
    type: "string",
    default: null,
    nullable: true,
    doc: "distillation (simclr distill) instead of NT-Xent: in embedding mode a run directory (its latest checkpoint) or a checkpoint folder of one, whose frozen h the student's projection learns (head.outDim = the teacher's h size); in labels mode a fine-tuned classifier's folder (RUN/finetuned/NAME; head.outDim = its classes)",
  },
  "distill.mode": {
    type: "string",
    default: "embedding",
    choices: ["embedding", "labels"],
    doc: "embedding: learn the teacher run's h; labels: SimCLRv2's distillation, learn a fine-tuned classifier's (RUN/finetuned/NAME) soft labels at distill.temperature, the student's head giving the logits",
  },
  "distill.loss": {
    type: "string",
    default: "cosine",
    choices: ["cosine", "mse"],
    doc: "embedding mode: the loss on l2-normalised vectors, 1 - cosine or their mean squared difference",
  },
  "distill.temperature": {
    type: "number",
    default: 1,
    min: 1e-3,
    max: 1e3,
    doc: "labels mode: tau of the teacher's and the student's softmax (SimCLRv2 eq. 4)",
  },
} as const satisfies Record<string, Field>;

export type ConfigKey = keyof typeof SCHEMA;

/**
 * The location keys: where and on what a run runs, not what it learns. A resumed run may change
 * them (the data moved, another machine or device, more threads, another backend), and
 * `--resume auto` ignores them when it compares the given config with the run's. Every other
 * key is the run's recipe and stays as the run was started.
 */
export const LOCATION_KEYS: readonly ConfigKey[] = [
  "data.path",
  "train.device",
  "train.threads",
  "dist.backend",
  "dist.timeout",
  "dist.overlap",
  "dist.bucketMiB",
];

type ValueOf<F> = F extends { type: "string"; choices: readonly (infer C)[] }
  ? F extends { nullable: true }
    ? C | null
    : C
  : F extends { type: "string" }
    ? F extends { nullable: true }
      ? string | null
      : string
    : F extends { type: "boolean" }
      ? boolean
      : F extends { nullable: true }
        ? number | null
        : number;

type Section<S extends string> = {
  [K in ConfigKey as K extends `${S}.${infer R}` ? R : never]: ValueOf<(typeof SCHEMA)[K]>;
};

/** The resolved configuration, one object per section. */
export interface Config {
  data: Section<"data">;
  model: Section<"model">;
  head: Section<"head">;
  augment: Section<"augment">;
  loss: Section<"loss">;
  optim: Section<"optim">;
  train: Section<"train">;
  monitor: Section<"monitor">;
  dist: Section<"dist">;
  eval: Section<"eval">;
  finetune: Section<"finetune">;
  supervised: Section<"supervised">;
  distill: Section<"distill">;
}

/** The config's sections, in file order. */
export const SECTIONS = [
  "data",
  "model",
  "head",
  "augment",
  "loss",
  "optim",
  "train",
  "monitor",
  "dist",
  "eval",
  "finetune",
  "supervised",
  "distill",
] as const satisfies readonly (keyof Config)[];
