/**
 * Hostile and broken ONNX input: every case must end in a RosettaError with a stable code and a
 * message naming the file or node — never a raw RangeError/TypeError, a hang or a partial model.
 * Models are built here with the project's own encoder (no fixtures needed).
 */
import { describe, expect, it } from 'vitest';
import { encodeOnnxMessage } from '../../src/formats/onnx-proto.js';
import { importOnnx, onnxImporter, decodeTensorProto, MAX_GRAPH_DEPTH } from '../../src/importers/onnx/index.js';
import { isRosettaError, type ErrorCode } from '../../src/ir/errors.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Session } from '../../src/runtime/session.js';
import { seededRandom } from '../../src/runtime/session.js';

const FILE = 'hostile/model.onnx';
const f32 = (dims: number[]): Record<string, unknown> => ({ tensor_type: { elem_type: 1, shape: { dim: dims.map((d) => ({ dim_value: d })) } } });

function model(graph: Record<string, unknown>, opset = 13): Uint8Array {
  return encodeOnnxMessage('ModelProto', { ir_version: 8, opset_import: [{ domain: '', version: opset }], producer_name: 'rosetta-test', graph });
}

/** y = Relu(x + w) with a 4-element initializer: small, valid, and uses raw_data. */
function validModel(): Uint8Array {
  return model({
    name: 'g',
    node: [
      { op_type: 'Add', input: ['x', 'w'], output: ['s'], name: 'add' },
      { op_type: 'Relu', input: ['s'], output: ['y'], name: 'relu' },
    ],
    initializer: [{ name: 'w', dims: [4], data_type: 1, raw_data: new Uint8Array(new Float32Array([1, -2, 3, -4]).buffer) }],
    input: [{ name: 'x', type: f32([4]) }],
    output: [{ name: 'y', type: f32([4]) }],
  });
}

/** Run `f`; it must throw a RosettaError whose code is one of `codes`. Returns the error. */
async function expectRosetta(f: () => unknown, codes: ErrorCode[]): Promise<Error & { code: string }> {
  let err: unknown;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an error').toBeDefined();
  if (!isRosettaError(err)) throw new Error(`raw ${(err as Error)?.name}: ${(err as Error)?.message}`);
  expect(codes).toContain(err.code);
  return err;
}

describe('ONNX bad input', () => {
  it('a valid model imports and runs (control for the cases below)', async () => {
    const m = await importOnnx(validModel(), { name: FILE });
    const s = await Session.create(m);
    const { outputs } = await s.run({ x: Tensor.from('float32', [4], [1, 1, 1, 1]) });
    expect((outputs['y'] as Tensor).toNumbers()).toEqual([2, 0, 4, 0]);
  });

  it('every truncation of a valid model gives a typed error (or, at field boundaries, a typed import failure)', async () => {
    const bytes = validModel();
    for (let n = 0; n < bytes.length; n++) {
      const cut = bytes.subarray(0, n);
      try {
        await importOnnx(cut, { name: FILE });
        // A cut at a field boundary can still be a well-formed message; it must then be complete.
      } catch (e) {
        if (!isRosettaError(e)) throw new Error(`length ${n}: raw ${(e as Error).name}: ${(e as Error).message}`);
        expect(['E_TRUNCATED', 'E_BAD_FORMAT', 'E_INVALID_GRAPH']).toContain(e.code);
        expect(e.message).toContain(FILE);
      }
    }
    await expectRosetta(() => importOnnx(bytes.subarray(0, bytes.length - 3), { name: FILE }), ['E_TRUNCATED']);
  });

  it('random bytes are rejected with a typed error and are not sniffed as ONNX', async () => {
    const rnd = seededRandom(42);
    for (let k = 0; k < 300; k++) {
      const b = Uint8Array.from({ length: 1 + Math.floor(rnd() * 400) }, () => Math.floor(rnd() * 256));
      expect(onnxImporter.match(b, 'blob.bin')).toBe(false);
      try {
        await importOnnx(b, { name: FILE });
      } catch (e) {
        if (!isRosettaError(e)) throw new Error(`case ${k}: raw ${(e as Error).name}: ${(e as Error).message}`);
        continue;
      }
    }
  });

  it('byte flips inside a valid model never escape as raw errors', async () => {
    const rnd = seededRandom(7);
    const base = validModel();
    for (let k = 0; k < 400; k++) {
      const b = base.slice();
      for (let j = 0; j < 3; j++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      try {
        const m = await importOnnx(b, { name: FILE });
        const s = await Session.create(m);
        await s.run({ x: Tensor.from('float32', [4], [1, 2, 3, 4]) });
      } catch (e) {
        if (!isRosettaError(e)) throw new Error(`case ${k}: raw ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
  });

  it('text, JSON and zip bytes are not a protobuf model', async () => {
    for (const s of ['hello, world', '{"format":"onnx"}', 'PK\u0003\u0004xxxx']) {
      const b = new TextEncoder().encode(s);
      expect(onnxImporter.match(b, 'file.bin')).toBe(false);
      const e = await expectRosetta(() => importOnnx(b, { name: FILE }), ['E_BAD_FORMAT', 'E_TRUNCATED']);
      expect(e.message).toContain(FILE);
    }
  });

  it('a ModelProto without a graph is E_BAD_FORMAT', async () => {
    const b = encodeOnnxMessage('ModelProto', { ir_version: 8, opset_import: [{ domain: '', version: 13 }] });
    const e = await expectRosetta(() => importOnnx(b, { name: FILE }), ['E_BAD_FORMAT']);
    expect(e.message).toMatch(/no graph/);
  });

  it(`subgraphs nested beyond ${MAX_GRAPH_DEPTH} levels are E_LIMIT`, async () => {
    const leaf = (o: string): Record<string, unknown> => ({ name: 'leaf', node: [{ op_type: 'Identity', input: ['c'], output: [o] }], output: [{ name: o, type: f32([1]) }] });
    let g = leaf('o0');
    for (let d = 1; d <= MAX_GRAPH_DEPTH + 2; d++) {
      g = {
        name: `level${d}`,
        node: [{ op_type: 'If', input: ['c'], output: [`o${d}`], name: `if${d}`, attribute: [{ name: 'then_branch', type: 5, g }, { name: 'else_branch', type: 5, g: leaf(`e${d}`) }] }],
        output: [{ name: `o${d}`, type: f32([1]) }],
      };
    }
    const top = { ...g, input: [{ name: 'c', type: { tensor_type: { elem_type: 9, shape: { dim: [] } } } }] };
    const e = await expectRosetta(() => importOnnx(model(top), { name: FILE }), ['E_LIMIT']);
    expect(e.message).toContain(FILE);
  });

  it('model-local functions: inlining works, and a multiplying call tree is E_LIMIT, not a hang', async () => {
    // f0(x) = Relu(x); f_k(x) = f_{k-1}(f_{k-1}(...)) with 10 calls: 10^depth nodes if unbounded.
    const fn = (k: number): Record<string, unknown> => ({
      name: `f${k}`,
      domain: 'local',
      input: ['a'],
      output: ['z'],
      opset_import: [{ domain: '', version: 13 }, { domain: 'local', version: 1 }],
      node:
        k === 0
          ? [{ op_type: 'Relu', input: ['a'], output: ['z'] }]
          : Array.from({ length: 10 }, (_, j) => ({ op_type: `f${k - 1}`, domain: 'local', input: [j === 0 ? 'a' : `t${j - 1}`], output: [j === 9 ? 'z' : `t${j}`] })),
    });
    const call = (depth: number): Uint8Array =>
      encodeOnnxMessage('ModelProto', {
        ir_version: 8,
        opset_import: [{ domain: '', version: 13 }, { domain: 'local', version: 1 }],
        functions: Array.from({ length: depth + 1 }, (_, k) => fn(k)),
        graph: { name: 'g', node: [{ op_type: `f${depth}`, domain: 'local', input: ['x'], output: ['y'], name: '/encoder/block/f' }], input: [{ name: 'x', type: f32([2]) }], output: [{ name: 'y', type: f32([2]) }] },
      });
    const small = await importOnnx(call(2), { name: FILE });
    expect(small.graph.nodes.length).toBe(100);
    expect(small.graph.nodes.every((n) => n.opType === 'Relu' && n.scope === 'encoder.block')).toBe(true);
    const { outputs } = await (await Session.create(small)).run({ x: Tensor.from('float32', [2], [-1, 2]) });
    expect((outputs['y'] as Tensor).toNumbers()).toEqual([0, 2]);
    await expectRosetta(() => importOnnx(call(9), { name: FILE }), ['E_LIMIT']);
  });

  it('protobuf nesting beyond the decoder recursion limit is E_LIMIT, not a stack overflow', async () => {
    // Hand-written wire bytes (our encoder refuses to write this): ModelProto.graph.input[0].type
    // nests TypeProto.sequence_type.elem_type 200 levels (400 messages) deep.
    const field = (num: number, payload: Uint8Array): Uint8Array => {
      const len: number[] = [];
      for (let v = payload.length; ; v >>>= 7) {
        if (v < 0x80) {
          len.push(v);
          break;
        }
        len.push((v & 0x7f) | 0x80);
      }
      return Uint8Array.from([(num << 3) | 2, ...len, ...payload]);
    };
    let tp: Uint8Array = new Uint8Array(0);
    for (let d = 0; d < 200; d++) tp = field(4, field(1, tp)); // TypeProto{sequence_type{elem_type}}
    const vi = Uint8Array.from([...field(1, new TextEncoder().encode('x')), ...field(2, tp)]);
    const b = Uint8Array.from([0x08, 0x08, ...field(7, field(11, vi))]);
    expect(onnxImporter.match(b, 'x.bin')).toBe(true);
    const e = await expectRosetta(() => importOnnx(b, { name: FILE }), ['E_LIMIT']);
    expect(e.message).toContain(FILE);
  });

  it('a tensor whose dims exceed its raw_data is E_TRUNCATED; absurd dims are E_TOO_LARGE', async () => {
    const withInit = (init: Record<string, unknown>): Uint8Array =>
      model({ name: 'g', node: [{ op_type: 'Identity', input: ['w'], output: ['y'] }], initializer: [init], output: [{ name: 'y', type: f32([1000]) }] });
    const short = await expectRosetta(() => importOnnx(withInit({ name: 'w', dims: [1000], data_type: 1, raw_data: new Uint8Array(8) }), { name: FILE }), ['E_TRUNCATED']);
    expect(short.message).toContain("tensor 'w'");
    expect(short.message).toContain(FILE);
    await expectRosetta(() => importOnnx(withInit({ name: 'w', dims: [1000], data_type: 1, float_data: [1, 2] }), { name: FILE }), ['E_TRUNCATED']);
    await expectRosetta(() => importOnnx(withInit({ name: 'w', dims: [1e6, 1e6, 1e6], data_type: 1, raw_data: new Uint8Array(8) }), { name: FILE }), ['E_TOO_LARGE']);
    await expectRosetta(() => importOnnx(withInit({ name: 'w', dims: [-3], data_type: 1 }), { name: FILE }), ['E_BAD_FORMAT']);
    await expectRosetta(() => importOnnx(withInit({ name: 'w', dims: [2], data_type: 99, raw_data: new Uint8Array(8) }), { name: FILE }), ['E_UNSUPPORTED_DTYPE']);
  });

  it('a standalone TensorProto with too little data is E_TRUNCATED', async () => {
    const b = encodeOnnxMessage('TensorProto', { dims: [3, 3], data_type: 7, raw_data: new Uint8Array(16) });
    await expectRosetta(() => decodeTensorProto(b, 'input_0.pb'), ['E_TRUNCATED']);
  });

  it('external data outside the model folder is E_PATH_ESCAPE; beyond the file is E_TRUNCATED', async () => {
    const ext = (location: string, offset = 0, length = 16): Uint8Array =>
      model({
        name: 'g',
        node: [{ op_type: 'Identity', input: ['w'], output: ['y'] }],
        initializer: [{ name: 'w', dims: [4], data_type: 1, data_location: 1, external_data: [{ key: 'location', value: location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(length) }] }],
        output: [{ name: 'y', type: f32([4]) }],
      });
    const reads: string[] = [];
    const readSibling = async (p: string): Promise<Uint8Array> => {
      reads.push(p);
      return new Uint8Array(32);
    };
    for (const loc of ['../secret.bin', '/etc/passwd', 'a/../../b.bin', 'C:\\Windows\\win.ini', '..\\x.bin']) {
      const e = await expectRosetta(() => importOnnx(ext(loc), { name: FILE, readSibling }), ['E_PATH_ESCAPE']);
      expect(e.message).toContain(loc);
    }
    expect(reads).toEqual([]); // nothing was even asked for
    await expectRosetta(() => importOnnx(ext('weights.bin', 24, 16), { name: FILE, readSibling }), ['E_TRUNCATED']);
    // A declared length shorter than the tensor's dims need.
    await expectRosetta(() => importOnnx(ext('weights.bin', 0, 8), { name: FILE, readSibling }), ['E_TRUNCATED']);
    await expectRosetta(() => importOnnx(ext('weights.bin', -4, 16), { name: FILE, readSibling }), ['E_BAD_FORMAT']);
    const ok = await importOnnx(ext('weights.bin', 16, 16), { name: FILE, readSibling });
    expect(ok.graph.initializers.get('w')!.toNumbers()).toEqual([0, 0, 0, 0]);
    await expectRosetta(() => importOnnx(ext('weights.bin'), { name: FILE }), ['E_UNSUPPORTED']);
  });

  it('an unknown op imports, then Session.create reports E_UNSUPPORTED_OP naming it', async () => {
    const b = model({ name: 'g', node: [{ op_type: 'FrobnicateV7', domain: 'com.example', input: ['x'], output: ['y'], name: 'frob' }], input: [{ name: 'x', type: f32([1]) }], output: [{ name: 'y', type: f32([1]) }] });
    const m = await importOnnx(b, { name: FILE });
    const e = await expectRosetta(() => Session.create(m), ['E_UNSUPPORTED_OP']);
    expect(e.message).toContain('com.example.FrobnicateV7');
  });

  it('a missing input at run time is E_MISSING_INPUT naming the input', async () => {
    const s = await Session.create(await importOnnx(validModel(), { name: FILE }));
    const e = await expectRosetta(() => s.run({}), ['E_MISSING_INPUT']);
    expect(e.message).toContain("'x'");
  });
});
