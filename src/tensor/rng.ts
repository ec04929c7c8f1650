/**
 * Seeded work that leaves libtorch's global RNG as it found it, like PyTorch's
 * torch.random.fork_rng: library code that needs its own seed (a label subset, a baseline's
 * initialisation) uses this instead of reseeding the caller's generator.
 */
import { tensor } from "./factory.js";
import { getRngState, manualSeed, setRngState } from "./runtime.js";

/** Runs `fn` with the global generator seeded to `seed`, then restores the generator's state. */
export function withSeed<T>(seed: number, fn: () => T): T {
  return withoutRngEffect(() => {
    manualSeed(seed);
    return fn();
  });
}

/** Runs `fn`, then restores the generator's state: `fn`'s draws do not shift anyone else's. */
export function withoutRngEffect<T>(fn: () => T): T {
  const saved = getRngState();
  try {
    return fn();
  } finally {
    setRngState(saved);
    saved.dispose();
  }
}

/** The generator's state as base64 text (for a checkpoint's state.json). */
export function rngStateToBase64(): string {
  const state = getRngState();
  try {
    return Buffer.from(state.data() as Uint8Array).toString("base64");
  } finally {
    state.dispose();
  }
}

/** Sets the generator's state from rngStateToBase64's text. */
export function rngStateFromBase64(text: string): void {
  const state = tensor(new Uint8Array(Buffer.from(text, "base64")));
  try {
    setRngState(state);
  } finally {
    state.dispose();
  }
}
