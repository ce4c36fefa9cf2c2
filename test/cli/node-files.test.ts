/**
 * The node file layer: `readSibling` containment and writes confined to the target folder.
 * Builds small folder trees (with symbolic links) in a temporary directory.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openFile, writeFilesInside } from '../../src/node/index.js';

let root: string;
let modelDir: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'rosetta-files-'));
  modelDir = join(root, 'model');
  mkdirSync(join(modelDir, 'sub'), { recursive: true });
  writeFileSync(join(modelDir, 'model.onnx'), 'main');
  writeFileSync(join(modelDir, 'weights.bin'), 'inside');
  writeFileSync(join(modelDir, 'sub', 'shard.bin'), 'nested');
  writeFileSync(join(root, 'secret.txt'), 'outside');
  symlinkSync(join(root, 'secret.txt'), join(modelDir, 'link-out.bin'));
  symlinkSync(join(modelDir, 'weights.bin'), join(modelDir, 'link-in.bin'));
  symlinkSync(root, join(modelDir, 'dir-out'));
});

const code = async (p: Promise<unknown>): Promise<string> => p.then(() => 'no error', (e: { code?: string }) => e.code ?? String(e));

describe('openFile().readSibling', () => {
  it('reads files in the same folder and below', async () => {
    const src = await openFile(join(modelDir, 'model.onnx'));
    expect(new TextDecoder().decode(src.bytes)).toBe('main');
    expect(new TextDecoder().decode(await src.readSibling!('weights.bin'))).toBe('inside');
    expect(new TextDecoder().decode(await src.readSibling!('sub/shard.bin'))).toBe('nested');
    expect(new TextDecoder().decode(await src.readSibling!('./link-in.bin'))).toBe('inside');
  });

  it.each([
    ['an absolute path', () => join(root, 'secret.txt')],
    ["'..'", () => '../secret.txt'],
    ["'..' in the middle", () => 'sub/../../secret.txt'],
    ['a backslash', () => '..\\secret.txt'],
    ['a NUL byte', () => 'weights.bin\0'],
    ['a link to a file outside', () => 'link-out.bin'],
    ['a link to a folder outside', () => 'dir-out/secret.txt'],
  ])('rejects %s with E_PATH_ESCAPE', async (_what, rel) => {
    const src = await openFile(join(modelDir, 'model.onnx'));
    expect(await code(src.readSibling!(rel()))).toBe('E_PATH_ESCAPE');
  });

  it('reports a missing sibling as E_IO', async () => {
    const src = await openFile(join(modelDir, 'model.onnx'));
    expect(await code(src.readSibling!('nope.bin'))).toBe('E_IO');
  });

  it('reports a missing file as E_IO', async () => {
    expect(await code(openFile(join(root, 'absent.onnx')))).toBe('E_IO');
  });
});

describe('writeFilesInside', () => {
  it('writes files and sub-folders inside the target', async () => {
    const out = join(root, 'out1');
    const paths = await writeFilesInside(out, new Map([['a.bin', new Uint8Array([1])], ['shards/b.bin', new Uint8Array([2, 3])]]), 'test');
    expect(paths).toHaveLength(2);
    expect([...readFileSync(join(out, 'shards', 'b.bin'))]).toEqual([2, 3]);
  });

  it('refuses an escaping name before writing anything', async () => {
    const out = join(root, 'out2');
    const files = new Map([['ok.bin', new Uint8Array([1])], ['../evil.bin', new Uint8Array([2])]]);
    expect(await code(writeFilesInside(out, files, 'test'))).toBe('E_PATH_ESCAPE');
    expect(existsSync(join(out, 'ok.bin'))).toBe(false);
    expect(existsSync(join(root, 'evil.bin'))).toBe(false);
  });

  it('refuses to write through a link leading outside', async () => {
    expect(await code(writeFilesInside(modelDir, new Map([['dir-out/planted.bin', new Uint8Array([1])]]), 'test'))).toBe('E_PATH_ESCAPE');
    expect(existsSync(join(root, 'planted.bin'))).toBe(false);
    expect(await code(writeFilesInside(modelDir, new Map([['link-out.bin', new Uint8Array([1])]]), 'test'))).toBe('E_PATH_ESCAPE');
    expect(readFileSync(join(root, 'secret.txt'), 'utf8')).toBe('outside');
  });
});
