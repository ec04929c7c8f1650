import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  Tensor,
  arange,
  autocast,
  cudaAvailable,
  full,
  getNumThreads,
  getRngState,
  isGradEnabled,
  manualSeed,
  noGrad,
  enableGrad,
  ones,
  Op,
  op,
  rand,
  randn,
  setNumThreads,
  setRngState,
  tensor,
  zeros,
  tidy,
  keep,
  F,
  mapFile,
  adviseMapped,
  ArgumentError,
} from "../../src/index.js";

describe("creating tensors and reading them back", () => {
  test("every supported dtype round-trips", () => {
    const f32 = tensor(new Float32Array([1.5, -2, 3.25, 4]), { shape: [2, 2] });
    assert.equal(f32.dtype, "float32");
    assert.deepEqual(f32.shape, [2, 2]);
    assert.deepEqual([...f32.data()], [1.5, -2, 3.25, 4]);
    const f64 = tensor(new Float64Array([Math.PI, 1e-300]));
    assert.equal(f64.dtype, "float64");
    assert.deepEqual([...f64.data()], [Math.PI, 1e-300]);
    const i64 = tensor(new BigInt64Array([2n ** 40n, -7n]));
    assert.equal(i64.dtype, "int64");
    assert.deepEqual([...i64.data()], [2n ** 40n, -7n]);
    const u8 = tensor(new Uint8Array([0, 255, 7]));
    assert.equal(u8.dtype, "uint8");
    assert.deepEqual([...u8.data()], [0, 255, 7]);
    const b = tensor([true, false, true]);
    assert.equal(b.dtype, "bool");
    assert.deepEqual(b.toArray(), [true, false, true]);
    const asInt = tensor([1, 2, 3], { dtype: "int64" });
    assert.equal(asInt.dtype, "int64");
    assert.deepEqual(asInt.toArray(), [1, 2, 3]);
    const half = tensor([1, 2.5]).to("bfloat16");
    assert.equal(half.dtype, "bfloat16");
    assert.deepEqual([...half.data()], [1, 2.5]);
  });

  test("nested arrays give their shape; ragged ones are rejected", () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual(t.toArray(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.throws(() => tensor([[1, 2], [3]]), /ragged/);
    assert.equal(tensor(5).item(), 5);
    assert.deepEqual(tensor(5).shape, []);
  });

  test("the tensor owns a copy: changing the source array later changes nothing", () => {
    const src = new Float32Array([1, 2, 3]);
    const t = tensor(src);
    src[0] = 100;
    assert.equal(t.data()[0], 1);
    const read = t.data() as Float32Array;
    read[1] = 50;
    assert.equal(t.data()[1], 2);
  });

  test("a typed array whose length does not fit the shape is an error", () => {
    assert.throws(() => tensor(new Float32Array(5), { shape: [2, 2] }), /needs 16 bytes, the data has 20/);
    assert.throws(() => zeros([2, -1]), /non-negative integers/);
  });

  test("factories", () => {
    assert.deepEqual(zeros([2]).toArray(), [0, 0]);
    assert.deepEqual(ones([2], { dtype: "int64" }).toArray(), [1, 1]);
    assert.deepEqual(full([2], 7).toArray(), [7, 7]);
    assert.deepEqual(arange(4).toArray(), [0, 1, 2, 3]);
    assert.equal(arange(4).dtype, "int64");
    assert.deepEqual(arange(0, 1, 0.5).toArray(), [0, 0.5]);
    const r = rand([1000]);
    assert.ok(r.min().item() >= 0 && r.max().item() < 1);
    const n = randn([10000]);
    assert.ok(Math.abs(n.mean().item()) < 0.05);
  });

  test("integer scalars keep integer tensors integer, fractional ones promote", () => {
    const i = tensor([1, 2], { dtype: "int64" });
    assert.equal(i.add(1).dtype, "int64");
    assert.equal(i.mul(0.5).dtype, "float32");
    assert.deepEqual(i.mul(0.5).toArray(), [0.5, 1]);
  });
});

describe("mapFile", () => {
  test("maps a file's bytes privately: the tensor reads them, writes to it never reach the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "simclr-mapfile-"));
    const file = join(dir, "data.bin");
    const bytes = Float32Array.from([1.5, -2, 3.25, 4, 1e-3, 7]);
    writeFileSync(file, Buffer.from(bytes.buffer));
    const t = mapFile(file, 6, "float32");
    assert.deepEqual([...t.dataAsNumbers()], [...bytes]);
    for (const access of ["random", "willneed", "sequential", "normal"] as const) adviseMapped(t, access);
    assert.deepEqual([...t.dataAsNumbers()], [...bytes], "advice changes no data");
    assert.throws(() => adviseMapped(t, "backwards" as "random"), ArgumentError);
    const first4 = mapFile(file, 4, "float32");
    assert.deepEqual(first4.shape, [4]);
    first4.mul_(10); // copy-on-write: this process's pages only
    assert.deepEqual([...first4.dataAsNumbers()], [15, -20, 32.5, 40]);
    assert.ok(readFileSync(file).equals(Buffer.from(bytes.buffer)), "the file is unchanged");
    t.dispose();
    first4.dispose();
    assert.throws(() => mapFile(file, 7, "float32"), /size( <\d+>)? is smaller than the required mapping size/);
    assert.throws(() => mapFile(join(dir, "missing"), 1, "uint8"), /unable to open file/);
    assert.throws(() => mapFile(file, 0, "uint8"), ArgumentError);
    assert.throws(() => mapFile("", 1, "uint8"), ArgumentError);
  });
});

describe("autograd", () => {
  test("backward fills leaf gradients; grad can be cleared", () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    assert.ok(x.requiresGrad && x.isLeaf);
    const y = x.mul(x).sum();
    assert.ok(!y.isLeaf);
    y.backward();
    assert.deepEqual(x.grad?.toArray(), [2, 4, 6]);
    x.mul(3).sum().backward();
    assert.deepEqual(x.grad?.toArray(), [5, 7, 9], "gradients accumulate");
    x.grad = null;
    assert.equal(x.grad, null);
  });

  test("detach and noGrad stop recording", () => {
    const x = tensor([1, 2], { requiresGrad: true });
    assert.equal(x.detach().requiresGrad, false);
    assert.equal(isGradEnabled(), true);
    const y = noGrad(() => {
      assert.equal(isGradEnabled(), false);
      assert.equal(enableGrad(() => x.mul(2)).requiresGrad, true);
      return x.mul(2);
    });
    assert.equal(y.requiresGrad, false);
    assert.equal(isGradEnabled(), true);
  });

  test("backward of a non-scalar needs a gradient, with libtorch's message", () => {
    const x = tensor([1, 2], { requiresGrad: true });
    assert.throws(() => x.mul(2).backward(), /grad can be implicitly created only for scalar outputs/);
    x.mul(2).backward(tensor([1, 1]));
    assert.deepEqual(x.grad?.toArray(), [2, 2]);
  });

  test("requiresGrad on an integer tensor is refused", () => {
    assert.throws(() => tensor([1], { dtype: "int64", requiresGrad: true }), /floating point/);
  });
});

describe("errors are JS errors with libtorch's message", () => {
  test("a shape mismatch", () => {
    assert.throws(() => ones([2, 3]).mm(ones([2, 3])), /aten::mm: mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)/);
    assert.throws(() => ones([2]).add(ones([3])), /aten::add.Tensor: The size of tensor a \(2\) must match the size of tensor b \(3\)/);
  });

  test("integer remainder: INT64_MIN % -1 is 0, not a SIGFPE that kills the process; % 0 is an error", () => {
    const min = tensor(new BigInt64Array([-(2n ** 63n), 7n, -7n]));
    assert.deepEqual(min.remainder(-1).toArray(), [0, 0, 0]);
    assert.deepEqual(min.remainder(1).toArray(), [0, 0, 0]);
    assert.equal(min.remainder(-1).dtype, "int64");
    assert.deepEqual(
      tensor(new Int32Array([-(2 ** 31), 5]))
        .remainder(-1)
        .toArray(),
      [0, 0],
    );
    assert.deepEqual(
      tensor(new BigInt64Array([7n, -7n]))
        .remainder(3)
        .toArray(),
      [1, 2],
    ); // Python's sign convention
    assert.deepEqual(tensor([5.5, -5.5]).remainder(-1).toArray(), [-0.5, -0.5]); // floats go to libtorch
    assert.throws(() => tensor(new BigInt64Array([7n])).remainder(0), /ZeroDivisionError/);
  });

  test("a disposed tensor used again", () => {
    const t = ones([2]);
    t.dispose();
    assert.ok(t.isDisposed);
    assert.throws(() => t.shape, /disposed/);
    assert.throws(() => ones([2]).add(t), /argument 'other' \(Tensor\) is a tensor that was disposed and cannot be used again/);
    assert.throws(() => t.add(1), /argument 'self'.*disposed/);
    t.dispose(); // twice is harmless
  });

  test("wrong argument types name the operator and the argument", () => {
    const conv = op("aten::conv2d");
    assert.throws(() => conv.call(ones([1]).id, "x"), /aten::conv2d: argument 'weight' \(Tensor\) expects a Tensor, got a string/);
    assert.throws(() => conv.call(ones([1]).id), /argument 'weight' \(Tensor\) is required/);
    // `new Op`, not op(): a bogus name must stay out of the registry ops-schema.test.ts checks
    assert.throws(() => new Op("aten::no_such_op").call(), /libtorch has no operator aten::no_such_op/);
    assert.throws(() => op("aten::sum").call({ not: "a tensor" }), /expects a Tensor, got an object/);
    assert.throws(() => F.conv2d(ones([1, 2, 4, 4]), ones([1, 3, 3, 3])), /expected input\[1, 2, 4, 4\] to have 3 channels/);
  });

  test("an out-of-range index is an error, not a crash", () => {
    assert.throws(() => ones([3]).indexSelect(0, tensor([5], { dtype: "int64" })), /out of range/);
    assert.throws(() => ones([3]).size(4), /dimension 4 is out of range for a tensor of shape \[3\]/);
    assert.throws(() => ones([2, 3]).size(-3), /dimension -3 is out of range for a tensor of shape \[2, 3\]/);
    assert.equal(ones([2, 3]).size(-1), 3);
    assert.equal(ones([2, 3]).size(0), 2);
  });
});

describe("memory scopes", () => {
  test("tidy disposes what it made, keeps what it returns and what keep() takes", () => {
    const outside = ones([2]);
    let inner: Tensor | undefined;
    let kept: Tensor | undefined;
    const result = tidy(() => {
      inner = outside.mul(2);
      kept = keep(outside.mul(3));
      return { a: [inner.add(1)] };
    });
    assert.ok(inner?.isDisposed);
    assert.ok(!kept?.isDisposed);
    assert.ok(!outside.isDisposed);
    assert.deepEqual(result.a[0]?.toArray(), [3, 3]);
  });

  test("nested tidy moves a returned tensor to the outer scope", () => {
    let mid: Tensor | undefined;
    const out = tidy(() => {
      mid = tidy(() => ones([1]).add(1));
      assert.ok(!mid.isDisposed);
      return mid.add(1);
    });
    assert.ok(mid?.isDisposed);
    assert.equal(out.item(), 3);
  });

  test("tidy disposes on exceptions too, and refuses async functions", () => {
    let made: Tensor | undefined;
    assert.throws(() =>
      tidy(() => {
        made = ones([1]);
        throw new Error("boom");
      }),
    );
    assert.ok(made?.isDisposed);
    assert.throws(() => tidy(async () => ones([1])), /synchronous/);
  });

  test("using disposes at the end of the block", () => {
    let t: Tensor;
    {
      using u = ones([2]);
      t = u;
      assert.ok(!t.isDisposed);
    }
    assert.ok(t.isDisposed);
  });
});

describe("runtime", () => {
  test("manualSeed makes draws repeatable; RNG state saves and restores", () => {
    manualSeed(42);
    const a = randn([5]).toArray();
    manualSeed(42);
    assert.deepEqual(randn([5]).toArray(), a);
    const state = getRngState();
    const b = rand([3]).toArray();
    setRngState(state);
    assert.deepEqual(rand([3]).toArray(), b);
    assert.notDeepEqual(rand([3]).toArray(), b);
  });

  test("intra-op threads default to the number of cores and can be changed", () => {
    const expected = process.env.SIMCLR_NUM_THREADS ? Number(process.env.SIMCLR_NUM_THREADS) : availableParallelism();
    assert.equal(getNumThreads(), expected);
    setNumThreads(1);
    assert.equal(getNumThreads(), 1);
    setNumThreads(expected);
    assert.throws(() => setNumThreads(0), /positive integer/);
  });

  test("autocast runs convolutions in bfloat16 on the CPU and restores float32 afterwards", () => {
    const x = randn([1, 2, 4, 4]);
    const w = randn([3, 2, 3, 3]);
    const y = autocast(() => F.conv2d(x, w), { device: "cpu", dtype: "bfloat16" });
    assert.equal(y.dtype, "bfloat16");
    assert.equal(F.conv2d(x, w).dtype, "float32");
  });

  test("cuda devices, when libtorch has them", { skip: cudaAvailable() ? false : "this libtorch sees no CUDA device" }, () => {
    const t = ones([2]).to("cuda");
    assert.match(t.device, /^cuda/);
    assert.deepEqual(t.add(1).to("cpu").toArray(), [2, 2]);
  });

  test("a cuda request without CUDA is a clear error", { skip: cudaAvailable() ? "CUDA is present" : false }, () => {
    assert.throws(() => ones([2]).to("cuda"), /aten::to.device: .*cuda/i);
  });
});
