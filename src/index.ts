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
  mapFile,
  adviseMapped,
  type MapAccess,
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
  cpuAllocatorStats,
  cudaAvailable,
  cudaDeviceCount,
  cudaMemoryStats,
  resetCudaPeakMemory,
  cudaSynchronize,
  setCudaSyncDebugMode,
  type CudaSyncDebugMode,
  liveTensorCount,
  libtorchInfo,
} from "./tensor/runtime.js";
export type { CudaMemoryStats } from "./native.js";
export { Op, op } from "./tensor/op.js";

export * as F from "./nn/functional.js";
export * as init from "./nn/init.js";
export { Module, type StateDict, type LoadStateDictOptions, type LoadStateDictResult } from "./nn/module.js";
export { Conv2d, type Conv2dOptions } from "./nn/conv.js";
export { BatchNorm1d, BatchNorm2d, syncBatchNorm, type BatchNormOptions } from "./nn/batchnorm.js";
export { ProcessGroup, ncclAvailable, type Backend, type ProcessGroupOptions, type PendingWork } from "./distributed/process-group.js";
export { launchEnv, type LaunchEnv } from "./distributed/launch-env.js";
export { Linear, type LinearOptions } from "./nn/linear.js";
export { ReLU, Identity } from "./nn/activation.js";
export { MaxPool2d, AdaptiveAvgPool2d } from "./nn/pooling.js";
export { Sequential, type Layer } from "./nn/sequential.js";
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors, type SafetensorsContents } from "./nn/safetensors.js";

export { resnet, ResNet, BasicBlock, Bottleneck, type ResNetOptions, type ResNetDepth } from "./models/resnet.js";
export { MobileNetV3, InvertedResidual, invertedResidualSettings, type MobileNetV3Arch, type MobileNetV3Options } from "./models/mobilenetv3.js";
export { EfficientNet, MBConv, mbConvStages, type EfficientNetArch, type EfficientNetOptions } from "./models/efficientnet.js";
export { buildEncoder, describeEncoder, ENCODER_ARCHS, type Encoder, type EncoderArch, type EncoderOptions, type ResNetArch } from "./models/encoder.js";
export { ConvNormActivation, SqueezeExcitation, StochasticDepth, makeDivisible } from "./nn/blocks.js";

export { SGD, type SGDOptions } from "./optim/sgd.js";
export { parseIdx, readIdx, type IdxArray } from "./data/idx.js";
export { loadIdxDataset, FASHION_MNIST_CLASSES, FASHION_MNIST_DEFAULT_PATH, type LabeledImages, type IdxDatasetOptions } from "./data/fashion-mnist.js";

// ---- SimCLR (issue 3): augmentation, model, loss, optimizers, data, pretraining ----
export { SimCLRAugment, AUGMENT_PRESETS, type AugmentOptions, type AugmentPreset, type AugmentParams } from "./augment/simclr.js";
export { sampleCropBoxes, resizedCrop, type CropBoxes, type CropOptions } from "./augment/crop.js";
export {
  grayscale,
  adjustBrightness,
  adjustContrast,
  adjustSaturation,
  adjustHue,
  rgbToHsv,
  hsvToRgb,
  colorJitter_,
  randomGrayscale,
  fusedColorDistortion_,
  type JitterOp,
  type JitterParams,
} from "./augment/color.js";
export { gaussianBlur, blurTaps } from "./augment/blur.js";
export { ProjectionHead, type ProjectionHeadOptions } from "./models/projection-head.js";
export { SimCLRModel, type SimCLRModelOptions } from "./models/simclr.js";
export { ntXentLoss, type NtXentOptions, type NtXentResult } from "./losses/ntxent.js";
export { LARS, type LARSOptions } from "./optim/lars.js";
export { AdamW, type AdamWOptions } from "./optim/adamw.js";
export type { Optimizer, NamedParameter } from "./optim/optimizer.js";
export { scaledLearningRate, warmupCosine, type LrScaling, type WarmupCosineOptions } from "./optim/schedule.js";
export { loadCifarBinary, parseCifarRecords, CIFAR10_CLASSES } from "./data/cifar.js";
export { loadImageFolder, defaultCacheDir, type ImageFolder } from "./data/image-folder.js";
export { cifar10JpgRoot, sharedCifar10JpgAvailable } from "./data/shared-datasets.js";
export { loadDataset, type DatasetName, type DatasetOptions, type LoadedDataset } from "./data/datasets.js";
export { DataLoader, toUnitFloat, type Batch, type LoaderCursor, type LoaderData, type LoaderOptions } from "./data/loader.js";
export { SCHEMA as CONFIG_SCHEMA, SECTIONS as CONFIG_SECTIONS, LOCATION_KEYS, type Config, type ConfigKey } from "./config/schema.js";
export { loadConfig, parseOverride, configToYaml, configFromYaml, configDifferences, type ConfigValue, type LoadConfigOptions } from "./config/load.js";
export {
  SimclrError,
  ArgumentError,
  ConfigError,
  DataError,
  FileWriteError,
  CheckpointError,
  RunExistsError,
  StateDictError,
  NonFiniteLossError,
  NonFiniteFeaturesError,
  DistributedError,
  RunLockedError,
  LockedError,
  StoppedError,
} from "./errors.js";
export { withSeed, withoutRngEffect } from "./tensor/rng.js";

// ---- the recipe, runs, training loops ----
export * from "./recipe/recipe.js";
export * from "./recipe/pretraining.js";
export {
  saveCheckpoint,
  loadCheckpoint,
  disposeCheckpoint,
  latestCheckpoint,
  type Checkpoint,
  type CheckpointState,
  type TensorGroups,
} from "./run/checkpoint.js";
export { readRunConfig, writeRunConfig, runFiles, RunDir, type Note } from "./run/run-dir.js";
export { loadEncoder, type EncoderSource, type LoadEncoderOptions } from "./run/encoder.js";
export { runPretrainLoop, type PretrainLoopOptions, type PretrainResult } from "./train/pretrain.js";
export { simclrForward, type SimclrStepOptions } from "./train/simclr-step.js";
export { TrainState } from "./train/state.js";
export type { TrainCallback, BatchEvent, StepEvent, EpochEvent } from "./run/callbacks.js";
export { OnlineLinearProbe } from "./train/probe.js";
export { trainClassifier, type TrainClassifierOptions } from "./train/classifier.js";
export { DataParallel, DEFAULT_BUCKET_BYTES } from "./train/data-parallel.js";
export { ProgressReporter, type TextSink } from "./io/progress.js";
export { Classifier } from "./models/classifier.js";

// ---- evaluation (issue 4) ----
export { extractFeatures, pixelFeatures, projectFeatures } from "./eval/features.js";
export { evaluateClassifier } from "./eval/accuracy.js";
export { KnnMonitor } from "./eval/knn-monitor.js";
export { knnClassify, knnClassifyAt, topkAccuracy, type KnnOptions, type KnnResult } from "./eval/knn.js";
export { effectiveRank, RankMonitor } from "./eval/rank-monitor.js";
export { evaluateGate, armSummaries, meanSd, type GateSpec, type GateResult, type StudyRun, type Verdict } from "./eval/study.js";
export {
  logisticProbe,
  fitLogistic,
  logisticScores,
  standardiser,
  type FitOptions,
  type LogisticProbeResult,
  type LogisticModel,
  type ProbeFitEvent,
} from "./eval/logistic-probe.js";
export { balancedSubset, perClassCount, readSubset, writeSubset, type LabelSubset } from "./eval/subset.js";
export { comparisonTable, readResults, type ResultLine } from "./eval/compare.js";

// ---- jobs: what the commands run, as functions ----
export { pretrain, pretrainOrResume, resume, type PretrainOptions, type ResumeOptions } from "./jobs/pretrain.js";
export {
  evaluate,
  evaluateHead,
  evaluateMany,
  type EvaluateHeadOptions,
  type EvaluateOptions,
  type EvaluateManyOptions,
  type EvaluationResult,
  type Protocol,
} from "./jobs/evaluate.js";
export { ablate, planRuns, readStudyRuns, studyFiles, studySummary, type AblateOptions, type AblateResult, type StudySummary } from "./jobs/ablate.js";
export { parsePlan, readPlan, armConfig, type AblationPlan, type ArmSpec } from "./jobs/ablate-plan.js";
export { evaluationConfig, EVALUATION_SECTIONS } from "./jobs/evaluation-config.js";
export { finetune, type FinetuneOptions } from "./jobs/finetune.js";
export { trainSupervised, type SupervisedOptions } from "./jobs/supervised.js";
export { benchSteps, type BenchResult } from "./jobs/bench.js";
export { augmentPreview, type PreviewOptions } from "./jobs/augment-preview.js";
export { launchWorkers, freePort, type LaunchOptions } from "./jobs/launch.js";
export {
  exportSafetensors,
  exportOnnx,
  exportTransformersJs,
  type ExportOptions,
  type ExportPart,
  type OnnxExportResult,
  type TransformersJsExportResult,
} from "./jobs/export.js";
export { compareWithOnnxRuntime, type OnnxCheck } from "./jobs/onnx-check.js";
export { encodeOnnx, decodeOnnx, type OnnxGraph, type OnnxNode, type DecodedOnnx } from "./run/onnx.js";
export { onnxGraph, type OnnxExportOptions } from "./run/onnx-model.js";
export { embed, type EmbedOptions, type EmbedResult } from "./jobs/embed.js";
export { importWeights, type ImportResult } from "./jobs/import.js";
export { readNpy, writeNpy, serializeNpy } from "./run/npy.js";
export { TfEventsWriter, readTfEvents, maskedCrc32c, type TfEvent } from "./run/tfevents.js";
export { TensorBoardLogger } from "./train/tensorboard.js";
