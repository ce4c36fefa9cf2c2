/**
 * Regenerates `src/formats/onnx-schema.ts` from `proto/onnx.proto`: the schema text embedded as a
 * TypeScript string so the ONNX reader works in a browser (no file system at run time).
 * Run: `node --import tsx scripts/gen-onnx-schema.ts` after editing proto/onnx.proto.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const proto = readFileSync(resolve(root, 'proto/onnx.proto'), 'utf8');
const out = `// DO NOT EDIT: generated from proto/onnx.proto by scripts/gen-onnx-schema.ts.
/** The ONNX protobuf schema text (proto/onnx.proto), embedded so parsing needs no file system. */
export const ONNX_PROTO_TEXT: string = ${JSON.stringify(proto)};
`;
writeFileSync(resolve(root, 'src/formats/onnx-schema.ts'), out);
console.log(`wrote src/formats/onnx-schema.ts (${proto.length} chars of schema)`);
