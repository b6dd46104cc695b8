/**
 * The ONNX models of the onnxruntime-web peer, built in memory: one attention node of onnxruntime's `com.microsoft`
 * contrib domain, the ops its WebGPU execution provider runs as fused (flash) attention kernels, rather than
 * MatMul → Softmax → MatMul, which materializes the seqQ × seqKV scores (2 GiB of f32 at B4 H32 N4K) and takes the
 * mask as another such tensor.
 * - not causal: `MultiHeadAttention` (query, key, value as `[batch, seq, heads·headDim]`); it has no grouped K/V, so
 *   GQA shapes are not expressed with it.
 * - causal: `GroupQueryAttention` without a past cache (its mask is causal by construction, and GQA is native), which
 *   needs seqQ = seqKV: the bench's bottom-right mask of a prefill.
 *
 * The protobuf is written by the few lines below rather than by a generated schema library: the models use a handful
 * of fields, and the GPU-host bundle then carries no protobuf runtime. test/ort-web.test.ts decodes the bytes with the
 * `onnx-proto` schema package to check them.
 */
import type { CellShape } from '../metrics.js';

/** Element types of ONNX `TensorProto.DataType` the peer uses. */
const ONNX_DTYPE = { float32: 1, int32: 6, float16: 10 } as const;

/** The float type of the model's inputs and output. */
export type OrtWebDType = 'float32' | 'float16';

/** Which contrib op a shape runs as. */
export type OrtWebOp = 'MultiHeadAttention' | 'GroupQueryAttention';

/** One graph input or output: its name, ONNX element type and dims. */
export interface OrtWebTensorSpec {
  name: string;
  dtype: 'float32' | 'float16' | 'int32';
  dims: number[];
}

/** A built model: the bytes for `InferenceSession.create`, and the tensors its graph declares. */
export interface OrtWebModel {
  op: OrtWebOp;
  bytes: Uint8Array;
  inputs: OrtWebTensorSpec[];
  outputs: OrtWebTensorSpec[];
}

/**
 * The op a shape runs as, or why onnxruntime's contrib ops cannot express it (`MultiHeadAttention` has no causal mask
 * for seqQ ≠ seqKV nor grouped K/V; `GroupQueryAttention` is always causal).
 */
export function ortWebOpFor(shape: CellShape): { op: OrtWebOp } | { reason: string } {
  if (shape.causal) {
    if (shape.seqQ !== shape.seqKV) return { reason: 'causal with seqQ ≠ seqKV: GroupQueryAttention without a past cache needs seqQ = seqKV' };
    return { op: 'GroupQueryAttention' };
  }
  if (shape.kvHeads !== shape.heads) return { reason: 'not causal with kvHeads < heads: MultiHeadAttention has no grouped K/V and GroupQueryAttention is always causal' };
  return { op: 'MultiHeadAttention' };
}

// ---- protobuf wire format: varints, length-delimited fields, fixed32 floats ------------------------------------------

function varint(value: number): number[] {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint: ${value} is not a non-negative safe integer`);
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return bytes;
}

const key = (field: number, wireType: 0 | 2) => varint(field * 8 + wireType);
const intField = (field: number, value: number) => [...key(field, 0), ...varint(value)];
const bytesField = (field: number, payload: number[]) => [...key(field, 2), ...varint(payload.length), ...payload];
const stringField = (field: number, text: string) => bytesField(field, [...new TextEncoder().encode(text)]);

// ---- the ONNX messages (onnx.proto field numbers) --------------------------------------------------------------------

const ATTRIBUTE_INT = 2;

function intAttribute(name: string, value: number): number[] {
  // AttributeProto: name = 1, i = 3, type = 20.
  return [...stringField(1, name), ...intField(3, value), ...intField(20, ATTRIBUTE_INT)];
}

function valueInfo(spec: OrtWebTensorSpec): number[] {
  // ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1 } } } } }.
  const shape = spec.dims.flatMap((dim) => bytesField(1, intField(1, dim)));
  const tensorType = [...intField(1, ONNX_DTYPE[spec.dtype]), ...bytesField(2, shape)];
  return [...stringField(1, spec.name), ...bytesField(2, bytesField(1, tensorType))];
}

function node(op: OrtWebOp, inputs: string[], outputs: string[], attributes: number[][]): number[] {
  // NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7. An empty input name skips an
  // optional input.
  return [
    ...inputs.flatMap((name) => stringField(1, name)),
    ...outputs.flatMap((name) => stringField(2, name)),
    ...stringField(3, 'attention'),
    ...stringField(4, op),
    ...attributes.flatMap((attribute) => bytesField(5, attribute)),
    ...stringField(7, 'com.microsoft'),
  ];
}

/**
 * The single-node attention model of `shape` in `dtype` (see the file comment for the op choice). Throws a RangeError
 * for a shape {@link ortWebOpFor} rejects.
 */
export function buildAttentionModel(shape: CellShape, dtype: OrtWebDType): OrtWebModel {
  const choice = ortWebOpFor(shape);
  if ('reason' in choice) throw new RangeError(`onnxruntime-web peer: ${choice.reason}`);
  const { batch, heads, kvHeads, seqQ, seqKV, headDim } = shape;
  const query = { name: 'query', dtype, dims: [batch, seqQ, heads * headDim] };
  const key3 = { name: 'key', dtype, dims: [batch, seqKV, kvHeads * headDim] };
  const value = { name: 'value', dtype, dims: [batch, seqKV, kvHeads * headDim] };
  const output = { name: 'output', dtype, dims: [batch, seqQ, heads * headDim] };
  let inputs: OrtWebTensorSpec[];
  let outputs: OrtWebTensorSpec[];
  let graphNode: number[];
  if (choice.op === 'MultiHeadAttention') {
    inputs = [query, key3, value];
    outputs = [output];
    graphNode = node('MultiHeadAttention', ['query', 'key', 'value'], ['output'], [intAttribute('num_heads', heads)]);
  } else {
    // seqlens_k holds each batch's total length − 1; present_key/value (BNSH) are required outputs of the op.
    const present = (name: string) => ({ name, dtype, dims: [batch, kvHeads, seqKV, headDim] });
    inputs = [query, key3, value, { name: 'seqlens_k', dtype: 'int32', dims: [batch] }, { name: 'total_sequence_length', dtype: 'int32', dims: [1] }];
    outputs = [output, present('present_key'), present('present_value')];
    graphNode = node(
      'GroupQueryAttention',
      ['query', 'key', 'value', '', '', 'seqlens_k', 'total_sequence_length'],
      ['output', 'present_key', 'present_value'],
      [intAttribute('num_heads', heads), intAttribute('kv_num_heads', kvHeads)],
    );
  }
  // GraphProto: node = 1, name = 2, input = 11, output = 12.
  const graph = [...bytesField(1, graphNode), ...stringField(2, 'qattn-bench attention peer'), ...inputs.flatMap((spec) => bytesField(11, valueInfo(spec))), ...outputs.flatMap((spec) => bytesField(12, valueInfo(spec)))];
  // OperatorSetIdProto: domain = 1, version = 2. The contrib ops are version 1; opset 17 for the default domain.
  const opset = (domain: string, version: number) => bytesField(8, [...(domain ? stringField(1, domain) : []), ...intField(2, version)]);
  // ModelProto: ir_version = 1, producer_name = 2, graph = 7, opset_import = 8. IR version 8 goes with opset 17.
  const model = [...intField(1, 8), ...stringField(2, 'qattn-bench'), ...bytesField(7, graph), ...opset('', 17), ...opset('com.microsoft', 1)];
  return { op: choice.op, bytes: Uint8Array.from(model), inputs, outputs };
}
