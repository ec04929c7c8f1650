/**
 * simclr: SimCLR (Chen et al. 2020, arXiv 2002.05709) in TypeScript on libtorch.
 * This is the package root; docs/api.md describes every export.
 */
export { Tensor, type NestedArray } from "./tensor/tensor.js";
export type { DType } from "./tensor/dtype.js";
export {
  tensor,
  zeros,
  ones,
  full,
  empty,
  randn,
  rand,
  randint,
  randperm,
  arange,
  eye,
  linspace,
  cat,
  stack,
  where,
  type TensorOptions,
} from "./tensor/factory.js";
export { tidy, keep } from "./tensor/scope.js";
export {
  noGrad,
  enableGrad,
  isGradEnabled,
  autocast,
  manualSeed,
  getRngState,
  setRngState,
  setNumThreads,
  getNumThreads,
  cudaAvailable,
  cudaDeviceCount,
  liveTensorCount,
  libtorchInfo,
} from "./tensor/runtime.js";
export { Op, op } from "./tensor/op.js";

export * as F from "./nn/functional.js";
export * as init from "./nn/init.js";
export { Module, type StateDict, type LoadStateDictOptions, type LoadStateDictResult } from "./nn/module.js";
export { Conv2d, type Conv2dOptions } from "./nn/conv.js";
export { BatchNorm1d, BatchNorm2d, type BatchNormOptions } from "./nn/batchnorm.js";
export { Linear, type LinearOptions } from "./nn/linear.js";
export { ReLU, Identity } from "./nn/activation.js";
export { MaxPool2d, AdaptiveAvgPool2d } from "./nn/pooling.js";
export { Sequential, type Layer } from "./nn/sequential.js";
export {
  readSafetensors,
  writeSafetensors,
  parseSafetensors,
  serializeSafetensors,
  SafetensorsError,
  type SafetensorsContents,
} from "./nn/safetensors.js";

export { resnet, ResNet, BasicBlock, Bottleneck, type ResNetOptions, type ResNetDepth } from "./models/resnet.js";

export { SGD, type SGDOptions } from "./optim/sgd.js";
export { parseIdx, readIdx, IdxError, type IdxArray } from "./data/idx.js";
export {
  loadIdxDataset,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DEFAULT_PATH,
  type LabeledImages,
  type IdxDatasetOptions,
} from "./data/fashion-mnist.js";

// ---- SimCLR (issue 3): augmentation, model, loss, optimizers, data, pretraining ----
export { SimCLRAugment, AUGMENT_PRESETS, type AugmentOptions, type AugmentPreset, type AugmentParams } from "./augment/simclr.js";
export { sampleCropBoxes, resizedCrop, type CropBoxes, type CropOptions } from "./augment/crop.js";
export { grayscale, adjustBrightness, adjustContrast, adjustSaturation, adjustHue, rgbToHsv, hsvToRgb, colorJitter_, randomGrayscale, fusedColorDistortion_, type JitterOp, type JitterParams } from "./augment/color.js";
export { gaussianBlur, blurTaps } from "./augment/blur.js";
export { ProjectionHead, type ProjectionHeadOptions } from "./models/projection-head.js";
export { SimCLRModel, type SimCLRModelOptions } from "./models/simclr.js";
export { ntXentLoss, type NtXentOptions, type NtXentResult } from "./losses/ntxent.js";
export { LARS, type LARSOptions } from "./optim/lars.js";
export { AdamW, type AdamWOptions } from "./optim/adamw.js";
export type { Optimizer, NamedParameter } from "./optim/optimizer.js";
export { scaledLearningRate, warmupCosine, type LrScaling, type WarmupCosineOptions } from "./optim/schedule.js";
export { loadCifarBinary, CifarError, CIFAR10_CLASSES } from "./data/cifar.js";
export { loadImageFolder, defaultCacheDir, ImageFolderError, type ImageFolder } from "./data/image-folder.js";
export { cifar10JpgRoot, sharedCifar10JpgAvailable } from "./data/shared-datasets.js";
export { loadDataset, type DatasetName, type DatasetOptions, type LoadedDataset } from "./data/datasets.js";
export { SCHEMA as CONFIG_SCHEMA, type Config, type ConfigKey } from "./config/schema.js";
export { loadConfig, parseOverride, configToYaml, configFromYaml, ConfigError, type LoadConfigOptions } from "./config/load.js";
export { pretrain, buildModel, buildAugment, buildOptimizer, simclrLoss, NonFiniteLossError, type PretrainOptions, type PretrainResult } from "./train/pretrain.js";
export { saveCheckpoint, loadCheckpoint, latestCheckpoint, type Checkpoint, type CheckpointState } from "./train/checkpoint.js";
export { ProgressReporter } from "./train/progress.js";

// ---- evaluation (issue 4) ----
export { extractFeatures } from "./eval/features.js";
export { knnClassify, topkAccuracy, type KnnOptions, type KnnResult } from "./eval/knn.js";
export { linearProbe, fitLogistic, logisticScores, standardiser, type FitOptions, type LinearProbeResult, type LogisticModel, type ProbeFitEvent } from "./eval/logistic.js";
export { balancedSubset, perClassCount, readSubset, writeSubset, type LabelSubset } from "./eval/subset.js";
export { loadEncoder, runConfig, type EncoderSource } from "./eval/encoder-source.js";
export { comparisonTable, readResults, type ResultLine } from "./eval/compare.js";
export { Classifier, trainClassifier, evaluateClassifier, cropFlipAugment, type SupervisedTrainingOptions } from "./train/supervised.js";
export { OnlineLinearProbe, KnnMonitor } from "./train/monitor.js";
