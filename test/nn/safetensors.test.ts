import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { DataError } from "../../src/errors.js";
import { noGrad, parseSafetensors, randn, readSafetensors, resnet, serializeSafetensors, tensor, writeSafetensors } from "../../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "simclr-safetensors-"));

/** A file with the given header object and data bytes. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Uint8Array {
  const json = Buffer.from(typeof header === "string" ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declaredLength ?? BigInt(json.byteLength));
  return Buffer.concat([len, json, data]);
}

describe("safetensors round trips", () => {
  test("a ResNet state dict survives write and read, and gives the same features", () => {
    const a = resnet({ depth: 18, width: 8, cifarStem: true });
    // make BN statistics non-trivial
    a.train().forward(randn([4, 3, 16, 16]));
    const path = join(dir, "resnet.safetensors");
    writeSafetensors(path, a.stateDict(), { arch: "resnet18" });
    const read = readSafetensors(path);
    assert.equal(read.metadata.arch, "resnet18");
    assert.deepEqual([...read.tensors.keys()].sort(), [...a.stateDict().keys()].sort());
    assert.equal(read.tensors.get("bn1.num_batches_tracked")?.dtype, "int64");
    const b = resnet({ depth: 18, width: 8, cifarStem: true });
    b.loadStateDict(read.tensors);
    const x = randn([2, 3, 16, 16]);
    const ha = noGrad(() => a.eval().forward(x));
    const hb = noGrad(() => b.eval().forward(x));
    assert.deepEqual([...ha.data()], [...hb.data()]);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes(".tmp-")),
      [],
      "no temporary file is left",
    );
  });

  test("every dtype keeps its bytes; the data section is 8-byte aligned", () => {
    const record = {
      f64: tensor(new Float64Array([1.5, -2])),
      i64: tensor(new BigInt64Array([-(2n ** 50n)])),
      u8: tensor(new Uint8Array([1, 2, 3])),
      bool: tensor([true, false]),
      bf16: tensor([1, 2, 3]).to("bfloat16"),
      i32: tensor([7], { dtype: "int32" }),
      scalar: tensor(3.25),
      empty: tensor(new Float32Array(0), { shape: [0, 4] }),
    };
    const bytes = serializeSafetensors(record);
    const headerLength = Number(Buffer.from(bytes).readBigUInt64LE(0));
    assert.equal((8 + headerLength) % 8, 0);
    const back = parseSafetensors(bytes).tensors;
    for (const [k, t] of Object.entries(record)) {
      const r = back.get(k);
      assert.ok(r, k);
      assert.equal(r.dtype, t.dtype, k);
      assert.deepEqual(r.shape, t.shape, k);
      assert.deepEqual([...r.data()], [...t.data()], k);
    }
  });
});

describe("safetensors rejects bad files with clear errors", () => {
  const f32 = (n: number) => new Uint8Array(new Float32Array(n).buffer);
  const cases: [string, Uint8Array, RegExp][] = [
    ["too short", new Uint8Array(5), /too short/],
    ["absurd header length", build({}, new Uint8Array(0), 2n ** 62n), /header length \d+ exceeds/],
    ["header past the end (truncated)", build({}, new Uint8Array(0), 500n), /runs past the end of the file/],
    ["header not JSON", build("{not json"), /not valid UTF-8 JSON/],
    ["header not an object", build("[1,2]"), /not a JSON object/],
    [
      "unknown dtype",
      build({ a: { dtype: "F8_E4M3", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
      /tensor 'a': unknown or unsupported dtype "F8_E4M3"/,
    ],
    [
      "negative shape",
      build({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, f32(1)),
      /tensor 'a': shape must be an array of non-negative integers/,
    ],
    [
      "offsets outside the file",
      build({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, f32(1)),
      /tensor 'a': data_offsets \[0, 8\] fall outside the 4-byte data section/,
    ],
    ["offsets reversed", build({ a: { dtype: "F32", shape: [0], data_offsets: [4, 0] } }, f32(1)), /end before they begin/],
    [
      "shape/size mismatch",
      build({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, f32(2)),
      /tensor 'a': shape \[3\] of F32 needs 12 bytes, data_offsets give 8/,
    ],
    [
      "overlapping tensors",
      build({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, f32(3)),
      /tensor 'b': data_offsets \[4, 12\] overlap tensor 'a'/,
    ],
    ["a hole in the data", build({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32(2)), /bytes 0..4 of the data section belong to no tensor/],
    ["trailing bytes", build({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, f32(2)), /4 trailing bytes/],
    ["metadata not strings", build({ __metadata__: { a: 1 } }), /__metadata__.a must be a string/],
  ];
  for (const [name, bytes, pattern] of cases) {
    test(name, () => {
      assert.throws(
        () => parseSafetensors(bytes, "bad.safetensors"),
        (e: Error) => {
          assert.ok(e instanceof DataError);
          assert.equal(e.code, "ERR_SIMCLR_DATA");
          assert.equal(e.source, "bad.safetensors");
          assert.match(e.message, /^bad.safetensors: /);
          assert.match(e.message, pattern);
          return true;
        },
      );
    });
  }

  test("a missing file and a truncated real file", () => {
    assert.throws(() => readSafetensors(join(dir, "nope.safetensors")), /nope.safetensors: cannot read/);
    const good = serializeSafetensors({ w: randn([10]) });
    const path = join(dir, "truncated.safetensors");
    writeFileSync(path, good.subarray(0, good.byteLength - 3));
    assert.throws(() => readSafetensors(path), /fall outside the 37-byte data section/);
  });
});
