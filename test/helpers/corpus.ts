/**
 * Locating the third-party corpus (`../shared/corpus` beside the checkout). Tests read it by path
 * and skip with a visible message when it is absent; nothing from it is copied into the project.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CORPUS_DIR = process.env.ROSETTA_CORPUS ?? resolve(PROJECT_ROOT, '..', 'shared', 'corpus');
export const HAS_CORPUS = existsSync(CORPUS_DIR);

if (!HAS_CORPUS) console.warn(`[rosetta tests] corpus not found at ${CORPUS_DIR}: corpus tests are skipped`);

export function corpusPath(...parts: string[]): string {
  return join(CORPUS_DIR, ...parts);
}

export function readCorpus(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(corpusPath(...parts)));
}

/** Debian's system python3 (with python3-torch/onnx/h5py), if installed. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
