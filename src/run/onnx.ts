/**
 * ONNX model files: a `ModelProto` protobuf (onnx/onnx.proto, IR version 8, opset 17),
 * encoded by protobufjs from the field numbers of onnx.proto for the messages an inference
 * graph needs: the model, its graph, nodes with attributes, float initialisers (raw
 * little-endian bytes) and typed inputs/outputs whose dimensions may be named (a dynamic
 * batch axis). `decodeOnnx` reads one back, for tests and for checking what was written.
 */
import protobuf from "protobufjs";
import { ArgumentError } from "../errors.js";

const root = protobuf.Root.fromJSON({
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            ir_version: { type: "int64", id: 1 },
            producer_name: { type: "string", id: 2 },
            producer_version: { type: "string", id: 3 },
            domain: { type: "string", id: 4 },
            model_version: { type: "int64", id: 5 },
            doc_string: { type: "string", id: 6 },
            graph: { type: "GraphProto", id: 7 },
            opset_import: { rule: "repeated", type: "OperatorSetIdProto", id: 8 },
            metadata_props: { rule: "repeated", type: "StringStringEntryProto", id: 14 },
          },
        },
        OperatorSetIdProto: { fields: { domain: { type: "string", id: 1 }, version: { type: "int64", id: 2 } } },
        StringStringEntryProto: { fields: { key: { type: "string", id: 1 }, value: { type: "string", id: 2 } } },
        GraphProto: {
          fields: {
            node: { rule: "repeated", type: "NodeProto", id: 1 },
            name: { type: "string", id: 2 },
            initializer: { rule: "repeated", type: "TensorProto", id: 5 },
            doc_string: { type: "string", id: 10 },
            input: { rule: "repeated", type: "ValueInfoProto", id: 11 },
            output: { rule: "repeated", type: "ValueInfoProto", id: 12 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: "repeated", type: "string", id: 1 },
            output: { rule: "repeated", type: "string", id: 2 },
            name: { type: "string", id: 3 },
            op_type: { type: "string", id: 4 },
            attribute: { rule: "repeated", type: "AttributeProto", id: 5 },
            domain: { type: "string", id: 7 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: "string", id: 1 },
            f: { type: "float", id: 2 },
            i: { type: "int64", id: 3 },
            ints: { rule: "repeated", type: "int64", id: 8 },
            type: { type: "int32", id: 20 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: "repeated", type: "int64", id: 1 },
            data_type: { type: "int32", id: 2 },
            name: { type: "string", id: 8 },
            raw_data: { type: "bytes", id: 9 },
          },
        },
        ValueInfoProto: { fields: { name: { type: "string", id: 1 }, type: { type: "TypeProto", id: 2 } } },
        TypeProto: { fields: { tensor_type: { type: "TypeProtoTensor", id: 1 } } },
        TypeProtoTensor: { fields: { elem_type: { type: "int32", id: 1 }, shape: { type: "TensorShapeProto", id: 2 } } },
        TensorShapeProto: { fields: { dim: { rule: "repeated", type: "Dimension", id: 1 } } },
        Dimension: { fields: { dim_value: { type: "int64", id: 1 }, dim_param: { type: "string", id: 2 } } },
      },
    },
  },
});
const ModelType = root.lookupType("onnx.ModelProto");

/** ONNX's TensorProto.DataType.FLOAT and AttributeProto.AttributeType values used here. */
const FLOAT = 1;
const FLOAT16 = 10;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

/** An attribute value: a number is an int unless marked float; an array is ints. */
export type OnnxAttribute = number | readonly number[] | { float: number };

export interface OnnxNode {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Record<string, OnnxAttribute>;
}

export interface OnnxInitializer {
  name: string;
  dims: readonly number[];
  /** float32 values, or float16 bit patterns (see fp16Weights). */
  data: Float32Array | Uint16Array;
}

/** A tensor's declared shape: numbers are fixed, strings are named (dynamic) axes. */
export interface OnnxValue {
  name: string;
  shape: readonly (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxInitializer[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
}

export interface OnnxModelOptions {
  producerVersion: string;
  opset?: number;
  docString?: string;
  metadata?: Record<string, string>;
}

function attribute(name: string, value: OnnxAttribute): Record<string, unknown> {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new ArgumentError(`onnx attribute ${name}: ${value} is not an integer (mark floats as { float })`);
    return { name, type: ATTR_INT, i: value };
  }
  if ("float" in value) return { name, type: ATTR_FLOAT, f: value.float };
  return { name, type: ATTR_INTS, ints: [...value] };
}

function valueInfo(value: OnnxValue): Record<string, unknown> {
  const dim = value.shape.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d }));
  return { name: value.name, type: { tensor_type: { elem_type: FLOAT, shape: { dim } } } };
}

/** The serialized ModelProto (IR version 8, default opset `opset`, 17 unless given). */
export function encodeOnnx(graph: OnnxGraph, options: OnnxModelOptions): Uint8Array {
  const message = ModelType.fromObject({
    ir_version: 8,
    producer_name: "simclr",
    producer_version: options.producerVersion,
    doc_string: options.docString ?? "",
    opset_import: [{ domain: "", version: options.opset ?? 17 }],
    metadata_props: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      node: graph.nodes.map((n, i) => ({
        name: `${n.op}_${i}`,
        op_type: n.op,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      initializer: graph.initializers.map((t) => ({
        name: t.name,
        dims: [...t.dims],
        data_type: t.data instanceof Uint16Array ? FLOAT16 : FLOAT,
        raw_data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      })),
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
    },
  });
  return ModelType.encode(message).finish();
}

export interface DecodedOnnx {
  irVersion: number;
  opset: number;
  producer: string;
  metadata: Record<string, string>;
  nodes: { op: string; inputs: string[]; outputs: string[] }[];
  initializers: { name: string; dims: number[]; bytes: number }[];
  inputs: { name: string; shape: (number | string)[] }[];
  outputs: { name: string; shape: (number | string)[] }[];
}

/** Reads back the parts of a ModelProto that `encodeOnnx` writes. */
export function decodeOnnx(bytes: Uint8Array): DecodedOnnx {
  const m = ModelType.toObject(ModelType.decode(bytes), { longs: Number, bytes: Array, defaults: true }) as {
    ir_version: number;
    producer_name: string;
    opset_import: { version: number }[];
    metadata_props: { key: string; value: string }[];
    graph: {
      node: { op_type: string; input: string[]; output: string[] }[];
      initializer: { name: string; dims: number[]; raw_data: number[] }[];
      input: { name: string; type: { tensor_type: { shape: { dim: { dim_value: number; dim_param: string }[] } } } }[];
      output: { name: string; type: { tensor_type: { shape: { dim: { dim_value: number; dim_param: string }[] } } } }[];
    };
  };
  const shapeOf = (v: { type: { tensor_type: { shape: { dim: { dim_value: number; dim_param: string }[] } } } }): (number | string)[] =>
    v.type.tensor_type.shape.dim.map((d) => (d.dim_param !== "" ? d.dim_param : d.dim_value));
  return {
    irVersion: m.ir_version,
    opset: m.opset_import[0]?.version ?? 0,
    producer: m.producer_name,
    metadata: Object.fromEntries(m.metadata_props.map((p) => [p.key, p.value])),
    nodes: m.graph.node.map((n) => ({ op: n.op_type, inputs: n.input, outputs: n.output })),
    initializers: m.graph.initializer.map((t) => ({ name: t.name, dims: t.dims, bytes: t.raw_data.length })),
    inputs: m.graph.input.map((v) => ({ name: v.name, shape: shapeOf(v) })),
    outputs: m.graph.output.map((v) => ({ name: v.name, shape: shapeOf(v) })),
  };
}

/** The IEEE half-precision bits of `x`, rounded to nearest, ties to even (as numpy's astype(float16)). */
export function float16Bits(x: number): number {
  const f32 = new Float32Array([x]);
  const bits = new Uint32Array(f32.buffer)[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0); // inf, NaN
  let e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow: infinity
  if (e <= 0) {
    // subnormal half (or zero): shift the implicit 1 in and round
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    if (rest > half || (rest === half && (m & 1) === 1)) m++;
    return sign | m;
  }
  let m = mantissa >>> 13;
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1) === 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/**
 * The graph with its weights stored as float16 (half the file) and computed in float32: each
 * initializer becomes `<name>.fp16` and a Cast to float beside it, which onnxruntime folds once
 * when the session starts. Features then differ from the float32 file only by the weights'
 * rounding (bench/onnx-fp16.ts measures it).
 */
export function fp16Weights(graph: OnnxGraph): OnnxGraph {
  const casts: OnnxNode[] = graph.initializers.map((t) => ({ op: "Cast", inputs: [`${t.name}.fp16`], outputs: [t.name], attributes: { to: FLOAT } }));
  const initializers = graph.initializers.map((t) => ({
    name: `${t.name}.fp16`,
    dims: t.dims,
    data: t.data instanceof Uint16Array ? t.data : Uint16Array.from(t.data, float16Bits),
  }));
  return { ...graph, nodes: [...casts, ...graph.nodes], initializers };
}
