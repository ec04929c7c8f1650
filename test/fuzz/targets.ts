/**
 * Fuzz targets for the parsers that read files a user hands us: safetensors, IDX, CIFAR
 * binary batches and the config (YAML files and key=value overrides). Each target draws
 * inputs with fast-check — valid files mutated (bit flips, truncation, splices, edited
 * headers) and plain random bytes — and runs the parser on them. The property: the parser
 * returns a well-formed value or throws its documented error class (DataError for the
 * readers, ConfigError for the config) with a message that names the input. Anything else
 * (a TypeError, a RangeError from a typed array, a native abort) is a bug.
 *
 * Used by fuzz.test.ts (seeded, fixed length, in npm test) and run.ts (`npm run fuzz`, long).
 */
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { stringify } from "yaml";
import {
  ConfigError,
  DataError,
  loadConfig,
  parseCifarRecords,
  parseIdx,
  parseSafetensors,
  serializeSafetensors,
  tensor,
  type Tensor,
} from "../../src/index.js";
import { configFromYaml } from "../../src/config/load.js";
import { SCHEMA } from "../../src/config/schema.js";

export interface FuzzTarget {
  name: string;
  /** Inputs, as fast-check draws them. */
  input: fc.Arbitrary<unknown>;
  /** Runs the parser; throws only what `expected` allows. */
  run: (input: unknown) => void;
  /** The documented error class. */
  expected: new (...args: never[]) => Error;
  /** A string every error message must contain (the input's name). */
  names: string;
}

/** One mutation of a byte string: flip bits, truncate, splice in random bytes, duplicate a span. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("splice" as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff) }),
  fc.record({ kind: fc.constant("repeat" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = Uint8Array.from(bytes);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    if (m.kind === "flip" && out.length > 0) out[at] = (out[at] as number) ^ (1 << m.bit);
    else if (m.kind === "set" && out.length > 0) out[at] = m.value;
    else if (m.kind === "truncate") out = out.subarray(0, at);
    else if (m.kind === "splice") out = Uint8Array.from([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
    else if (m.kind === "repeat") out = Uint8Array.from([...out.subarray(0, at + m.length), ...out.subarray(at)]);
  }
  return out;
}

/** Valid bytes from `valid`, then 0-4 mutations; or random bytes. */
function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(valid, fc.array(mutation, { minLength: 0, maxLength: 4 })).map(([b, ms]) => mutate(b, ms)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }) },
  );
}

// ---- safetensors ----

const dtypes = ["float32", "float64", "int64", "int32", "uint8", "bfloat16", "float16"] as const;
const validSafetensors = fc
  .array(
    fc.record({
      name: fc.stringMatching(/^[a-z][a-z0-9_.]{0,12}$/),
      dtype: fc.constantFrom(...dtypes),
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
    }),
    { maxLength: 4 },
  )
  .map((specs) => {
    const tensors = new Map<string, Tensor>();
    for (const s of specs) {
      if (tensors.has(s.name)) continue;
      const n = s.shape.reduce((a, b) => a * b, 1);
      const values = Array.from({ length: n }, (_, i) => i % 7);
      if (s.dtype === "float16" || s.dtype === "bfloat16") {
        const f32 = tensor(values, { shape: s.shape });
        tensors.set(s.name, f32.to(s.dtype));
        f32.dispose();
      } else tensors.set(s.name, tensor(values, { shape: s.shape, dtype: s.dtype }));
    }
    try {
      return serializeSafetensors(tensors, { note: "fuzz" });
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  });

/** A header that is JSON but says odd things: the parser must check every field. */
const oddHeader = fc
  .dictionary(
    fc.oneof(fc.constant("__metadata__"), fc.string({ maxLength: 6 })),
    fc.oneof(
      fc.record({
        dtype: fc.oneof(fc.constantFrom("F32", "F64", "I64", "U8", "BF16", "F16", "BOOL", "X"), fc.anything()),
        shape: fc.oneof(fc.array(fc.oneof(fc.nat(8), fc.constant(-1), fc.constant(2 ** 53), fc.double())), fc.anything()),
        data_offsets: fc.oneof(fc.tuple(fc.nat(64), fc.nat(64)), fc.anything()),
      }),
      fc.anything(),
    ),
    { maxKeys: 4 },
  )
  .chain((header) =>
    fc.uint8Array({ maxLength: 64 }).map((data) => {
      const json = Buffer.from(JSON.stringify(header), "utf-8");
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(json.length));
      return Uint8Array.from([...length, ...json, ...data]);
    }),
  );

export const safetensorsTarget: FuzzTarget = {
  name: "safetensors",
  input: fc.oneof(mutated(validSafetensors), oddHeader),
  expected: DataError,
  names: "fuzz.safetensors",
  run: (input) => {
    const { tensors } = parseSafetensors(input as Uint8Array, "fuzz.safetensors");
    for (const t of tensors.values()) {
      if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`bad shape [${t.shape.join(", ")}]`);
      t.dispose();
    }
  },
};

// ---- IDX ----

const validIdx = fc.tuple(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 4 }), fc.boolean()).map(([shape, gzip]) => {
  const count = shape.reduce((a, b) => a * b, 1);
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = 0x08;
  header[3] = shape.length;
  shape.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const raw = Buffer.concat([header, Buffer.alloc(count, 7)]);
  return Uint8Array.from(gzip ? gzipSync(raw) : raw);
});

export const idxTarget: FuzzTarget = {
  name: "idx",
  input: mutated(validIdx),
  expected: DataError,
  names: "fuzz.idx",
  run: (input) => {
    // a small cap, so a mutated gzip stream that expands far is refused, not allocated
    const { shape, data } = parseIdx(input as Uint8Array, "fuzz.idx", 1 << 20);
    if (shape.reduce((a, b) => a * b, 1) !== data.length) throw new Error(`shape [${shape.join(", ")}] and ${data.length} bytes disagree`);
  },
};

// ---- CIFAR binary ----

const validCifar = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.boolean()).map(([records, cifar100]) => {
  const recordBytes = (cifar100 ? 2 : 1) + 3072;
  const bytes = new Uint8Array(records * recordBytes);
  for (let i = 0; i < records; i++) {
    bytes[i * recordBytes] = i % 10;
    if (cifar100) bytes[i * recordBytes + 1] = (i * 7) % 100;
  }
  return { bytes, cifar100 };
});

export const cifarTarget: FuzzTarget = {
  name: "cifar",
  input: fc.oneof(
    fc.tuple(validCifar, fc.array(mutation, { maxLength: 4 })).map(([v, ms]) => ({ bytes: mutate(v.bytes, ms), cifar100: v.cifar100 })),
    fc.record({ bytes: fc.uint8Array({ maxLength: 8000 }), cifar100: fc.boolean() }),
  ),
  expected: DataError,
  names: "fuzz.bin",
  run: (input) => {
    const { bytes, cifar100 } = input as { bytes: Uint8Array; cifar100: boolean };
    const { pixels, labels } = parseCifarRecords(bytes, "fuzz.bin", { variant: cifar100 ? "cifar100" : "cifar10" });
    if (pixels.length !== labels.length * 3072) throw new Error("pixels and labels disagree");
    if (labels.some((l) => l >= (cifar100 ? 100 : 10))) throw new Error("a label out of range was accepted");
  },
};

// ---- config ----

const keys = Object.keys(SCHEMA);
const configValue = fc.oneof(
  fc.constantFrom(...keys.map((k) => (SCHEMA as Record<string, { default: unknown }>)[k]?.default)),
  fc.integer({ min: -5, max: 100_000 }),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 12 }),
  fc.anything({ maxDepth: 2 }),
);
/** A YAML document: sections of known and unknown keys with values of any type, or raw text. */
const configDoc = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 10 })), configValue), { maxLength: 6 }).map((entries) => {
      // null-prototype objects: a drawn key like "__proto__" must be data, not pollute Object.prototype
      const doc: Record<string, Record<string, unknown>> = Object.create(null) as Record<string, Record<string, unknown>>;
      for (const [key, value] of entries) {
        const [section, name] = key.includes(".") ? (key.split(".", 2) as [string, string]) : [key, "x"];
        (doc[section] ??= Object.create(null) as Record<string, unknown>)[name] = value;
      }
      return stringify(doc);
    }),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "a: &a [*a]",
      "data: [1, 2]",
      "- 1\n- 2",
      "train: {epochs: 1e400}",
      "x: !!binary AAAA",
      "{",
      "train:\n  epochs: !!js/function 'x'",
    ),
  },
);

export const configTarget: FuzzTarget = {
  name: "config",
  input: fc.oneof(
    configDoc.map((text) => ({ yaml: text })),
    fc
      .array(
        fc.tuple(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 10 })), fc.string({ maxLength: 12 })).map(([k, v]) => `${k}=${v}`),
        { minLength: 1, maxLength: 3 },
      )
      .map((set) => ({ set })),
  ),
  expected: ConfigError,
  names: "fuzz",
  run: (input) => {
    const { yaml, set } = input as { yaml?: string; set?: string[] };
    if (yaml !== undefined) configFromYaml(yaml, "fuzz.yaml");
    else loadConfig({ set: set ?? [], setSource: "fuzz --set" });
  },
};

export const TARGETS: readonly FuzzTarget[] = [safetensorsTarget, idxTarget, cifarTarget, configTarget];

/** The property of a target: the parser returns, or throws its documented class naming the input. */
export function property(target: FuzzTarget, onEach?: () => void): fc.IProperty<[unknown]> {
  return fc.property(target.input, (input) => {
    onEach?.();
    try {
      target.run(input);
    } catch (e) {
      if (!(e instanceof target.expected)) throw new Error(`${target.name}: threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, { cause: e });
      if (!(e as Error).message.includes(target.names)) throw new Error(`${target.name}: the message does not name the input: ${(e as Error).message}`);
    }
  });
}
