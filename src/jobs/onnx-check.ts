/**
 * Running an exported ONNX file in onnxruntime-node and comparing its outputs with libtorch's
 * on the same inputs. onnxruntime-node is a development dependency (the tests use it); an
 * installation without it exports all the same and says the check was not run.
 */
import type { Tensor } from "../tensor/tensor.js";

export interface OnnxCheck {
  /** Inputs compared, and where they came from. */
  images: number;
  inputs: string;
  /** Largest |onnxruntime - libtorch| over every output element. */
  maxAbsDiff: number;
  /** Per output ("h", "z"). */
  perOutput: Record<string, number>;
}

type Ort = typeof import("onnxruntime-node");

/** onnxruntime-node if it is installed, else null. */
export async function loadOnnxRuntime(): Promise<Ort | null> {
  try {
    return await import("onnxruntime-node");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND") return null;
    throw e;
  }
}

/**
 * Runs `file` on `input` (float32 (N, C, H, W)) and compares each output with `expected`
 * (the same names, (N, D) libtorch results). Null when onnxruntime-node is not installed.
 */
export async function compareWithOnnxRuntime(
  file: string,
  input: Tensor,
  expected: Record<string, Tensor>,
  inputs: string,
  inputName = "input",
): Promise<OnnxCheck | null> {
  const ort = await loadOnnxRuntime();
  if (ort === null) return null;
  const session = await ort.InferenceSession.create(file);
  try {
    const feed = { [inputName]: new ort.Tensor("float32", input.data() as Float32Array, input.shape) };
    const results = await session.run(feed);
    const perOutput: Record<string, number> = {};
    for (const [name, want] of Object.entries(expected)) {
      const got = results[name];
      if (got === undefined) throw new Error(`onnxruntime gave no output "${name}" for ${file}`);
      const a = got.data as Float32Array;
      const b = want.data() as Float32Array;
      if (a.length !== b.length) throw new Error(`onnxruntime output "${name}" has ${a.length} values, libtorch ${b.length}`);
      let max = 0;
      for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
      perOutput[name] = max;
    }
    return { images: input.size(0), inputs, maxAbsDiff: Math.max(...Object.values(perOutput)), perOutput };
  } finally {
    await session.release();
  }
}
