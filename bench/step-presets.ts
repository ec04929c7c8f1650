/**
 * The training steps the step benchmarks compare (issue 13's targets): config settings for
 * `simclr bench`, the matching flags of bench/pytorch/simclr_step.py, and the batch.
 * fmnist: ResNet-18 width 16, 28x28x1, batch 256, grayscale preset. cifar16: width 16,
 * 32x32x3, batch 256, cifar preset. cifar64: width 64, 32x32x3, batch 128.
 */
export const STEP_PRESETS: Record<string, { sets: string[]; py: string[]; batch: number }> = {
  fmnist: { sets: ["model.width=16", "augment.preset=grayscale"], py: ["--channels", "1", "--size", "28", "--width", "16"], batch: 256 },
  cifar16: { sets: ["data.name=cifar10", "model.width=16", "augment.preset=cifar"], py: ["--channels", "3", "--size", "32", "--width", "16"], batch: 256 },
  cifar64: { sets: ["data.name=cifar10", "model.width=64", "augment.preset=cifar"], py: ["--channels", "3", "--size", "32", "--width", "64"], batch: 128 },
};

/** The preset named `name`, or an error listing the names. */
export function stepPreset(name: string): { sets: string[]; py: string[]; batch: number } {
  const preset = STEP_PRESETS[name];
  if (preset === undefined) throw new Error(`--preset must be one of ${Object.keys(STEP_PRESETS).join(", ")}`);
  return preset;
}
