/**
 * File access for Node: the only place (with `model-io.ts`) where Rosetta touches `fs`.
 *
 * Importers receive a `FileSource` (bytes plus `readSibling`), never a path, so they run unchanged
 * in a browser. Here `readSibling` is the root-containment check the guide asks for: an external
 * data file, a tfjs shard or a safetensors shard may only come from the model's own folder.
 * Absolute paths, `..` segments, NUL bytes and symbolic links whose real path leaves the folder are
 * refused with E_PATH_ESCAPE; the same checks guard every file an exporter asks us to write.
 */
import { lstat, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { RosettaError, wrapError } from '../ir/errors.js';
import type { FileSource } from '../importers/types.js';

/**
 * Check that `rel` is a plain relative path (no absolute path, drive letter, `..`, NUL or
 * backslash) and return its segments. Throws E_PATH_ESCAPE naming `context`.
 */
export function checkRelativePath(rel: string, context: string): string[] {
  const fail = (why: string): never => {
    throw new RosettaError('E_PATH_ESCAPE', `path '${rel}' ${why}`, { where: { file: context }, hint: 'referenced files must sit in the same folder as the model (or below it)' });
  };
  if (rel.length === 0) fail('is empty');
  if (rel.includes('\0')) fail('contains a NUL byte');
  if (rel.includes('\\')) fail('contains a backslash');
  if (isAbsolute(rel) || /^[a-zA-Z]:/.test(rel)) fail('is absolute');
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) fail("climbs out with '..'");
  if (parts.length === 0) fail('names no file');
  return parts;
}

/** True when `child` is `root` or lies inside it (both absolute, normalised). */
function isInside(root: string, child: string): boolean {
  const r = relative(root, child);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

function ioError(e: unknown, what: string, file: string): RosettaError {
  const code = (e as { code?: string }).code;
  const hint = code === 'ENOENT' ? 'check the path' : code === 'EACCES' ? 'check file permissions' : code === 'EISDIR' ? 'give a file, not a folder' : undefined;
  return wrapError(e, 'E_IO', what, { file }, hint);
}

/**
 * Resolve `rel` inside folder `root` for reading: lexical checks, then the real path (after
 * following symbolic links) must stay inside the real `root`.
 */
export async function resolveInside(root: string, rel: string, context: string): Promise<string> {
  const parts = checkRelativePath(rel, context);
  const target = join(root, ...parts);
  let realRoot: string;
  let realTarget: string;
  try {
    realRoot = await realpath(root);
  } catch (e) {
    throw ioError(e, `cannot open folder ${root}`, context);
  }
  try {
    realTarget = await realpath(target);
  } catch (e) {
    throw ioError(e, `cannot open '${rel}' next to ${context}`, context);
  }
  if (!isInside(realRoot, realTarget)) {
    throw new RosettaError('E_PATH_ESCAPE', `'${rel}' is a link leading outside the model's folder (to ${realTarget})`, { where: { file: context }, hint: 'copy the file into the model folder instead of linking it' });
  }
  return realTarget;
}

/** Read a whole file as bytes (E_IO on failure). */
export async function readBytes(path: string): Promise<Uint8Array> {
  try {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw ioError(e, `cannot read ${path}`, path);
  }
}

/** Open a file as a `FileSource` whose `readSibling` stays inside the file's folder. */
export async function openFile(path: string): Promise<FileSource> {
  const bytes = await readBytes(path);
  const folder = dirname(resolve(path));
  return {
    name: path,
    bytes,
    readSibling: async (rel: string) => readBytes(await resolveInside(folder, rel, path)),
  };
}

/**
 * Write `files` (relative name → bytes) inside `folder`, creating sub-folders as needed.
 * Every name is checked like `readSibling` paths; an existing symbolic link on the way that leads
 * out of the folder is refused. Returns the absolute paths written, in order.
 */
export async function writeFilesInside(folder: string, files: ReadonlyMap<string, Uint8Array>, context: string): Promise<string[]> {
  const root = resolve(folder);
  try {
    await mkdir(root, { recursive: true });
  } catch (e) {
    throw ioError(e, `cannot create folder ${root}`, context);
  }
  const realRoot = await realpath(root);
  // Check every name before writing anything, so a bad name never leaves a partial result.
  const targets = [...files.keys()].map((name) => ({ name, parts: checkRelativePath(name, context) }));
  const written: string[] = [];
  for (const { name, parts } of targets) {
    const target = join(realRoot, ...parts);
    const parent = dirname(target);
    try {
      await mkdir(parent, { recursive: true });
    } catch (e) {
      throw ioError(e, `cannot create folder for '${name}'`, context);
    }
    const realParent = await realpath(parent);
    if (!isInside(realRoot, realParent)) {
      throw new RosettaError('E_PATH_ESCAPE', `'${name}' would be written through a link leading outside ${root}`, { where: { file: context } });
    }
    const finalPath = join(realParent, parts[parts.length - 1]!);
    const st = await lstat(finalPath).catch(() => undefined);
    if (st?.isSymbolicLink()) {
      throw new RosettaError('E_PATH_ESCAPE', `'${name}' exists as a symbolic link; refusing to write through it`, { where: { file: context }, hint: 'remove the link first' });
    }
    try {
      await writeFile(finalPath, files.get(name)!);
    } catch (e) {
      throw ioError(e, `cannot write ${finalPath}`, context);
    }
    written.push(finalPath);
  }
  return written;
}

/** Run `f` with a fresh temporary folder that is removed afterwards (even on error). */
export async function withTempDir<T>(prefix: string, f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  try {
    return await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
