/**
 * The one typed error family of Rosetta.
 *
 * Every reader, importer, exporter and kernel throws `RosettaError` with a stable `code` so that
 * callers (and the CLI's exit status) can branch on it. The message always says *what* went wrong,
 * *where* (file, byte offset, node, layer) and *what to do*. Untrusted input must never surface a
 * raw RangeError/TypeError: wrap foreign exceptions with `wrapError`.
 */

/** Stable error codes. Add new ones at the end; never rename. */
export type ErrorCode =
  | 'E_TRUNCATED' // data ends before a declared length
  | 'E_BAD_FORMAT' // bytes are not the format they claim / cannot be parsed
  | 'E_UNKNOWN_FORMAT' // no reader recognises the file
  | 'E_UNSAFE_CONTENT' // e.g. a pickle global outside the allowlist, a Lambda layer's code
  | 'E_PATH_ESCAPE' // an external path resolves outside the allowed root
  | 'E_TOO_LARGE' // a declared size exceeds a limit or the actual data
  | 'E_LIMIT' // nesting depth, element count or other structural limit exceeded
  | 'E_UNSUPPORTED_OP' // no kernel / no mapping for an op
  | 'E_UNSUPPORTED_LAYER' // Keras layer class we refuse or do not know
  | 'E_UNSUPPORTED_DTYPE'
  | 'E_UNSUPPORTED' // a feature of a format we do not handle (with the reason)
  | 'E_INVALID_GRAPH' // dangling inputs, cycles, duplicate outputs
  | 'E_INVALID_ATTR' // attribute missing or out of range
  | 'E_SHAPE_MISMATCH' // shapes incompatible (kernel inputs, weight binding)
  | 'E_DTYPE_MISMATCH'
  | 'E_MISSING_INPUT' // a graph input was not fed
  | 'E_MISSING_WEIGHT' // binding left parameters without a value
  | 'E_BINDING' // weight binding failed (report attached)
  | 'E_IO' // file system problem (node layer only)
  | 'E_USAGE' // CLI / API misuse
  | 'E_PARITY' // verification found outputs beyond tolerance
  | 'E_INTERNAL'; // a bug in Rosetta: please report

/** Where an error happened; all fields optional, rendered into the message. */
export interface ErrorWhere {
  file?: string;
  offset?: number;
  node?: string;
  layer?: string;
  entry?: string;
}

export class RosettaError extends Error {
  readonly code: ErrorCode;
  readonly where: ErrorWhere;
  readonly hint?: string;
  /** The message without code, location and hint: for re-throwing with more location. */
  readonly bare: string;
  /** Extra machine-readable detail (e.g. a binding report). */
  readonly detail?: unknown;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { where?: ErrorWhere; hint?: string; cause?: unknown; detail?: unknown } = {},
  ) {
    super(formatMessage(code, message, opts.where ?? {}, opts.hint), { cause: opts.cause });
    this.name = 'RosettaError';
    this.code = code;
    this.bare = message;
    this.where = opts.where ?? {};
    this.hint = opts.hint;
    this.detail = opts.detail;
  }
}

function formatMessage(code: ErrorCode, message: string, where: ErrorWhere, hint?: string): string {
  const parts: string[] = [];
  if (where.file !== undefined) parts.push(`file ${where.file}`);
  if (where.entry !== undefined) parts.push(`entry ${where.entry}`);
  if (where.offset !== undefined) parts.push(`offset ${where.offset}`);
  if (where.node !== undefined) parts.push(`node ${where.node}`);
  if (where.layer !== undefined) parts.push(`layer ${where.layer}`);
  const loc = parts.length ? ` (${parts.join(', ')})` : '';
  return `${code}: ${message}${loc}${hint ? `. ${hint}` : ''}`;
}

/** Type guard usable across realms/bundles (checks the shape, not the prototype). */
export function isRosettaError(e: unknown): e is RosettaError {
  return e instanceof RosettaError || (typeof e === 'object' && e !== null && (e as { name?: string }).name === 'RosettaError' && typeof (e as { code?: unknown }).code === 'string');
}

/**
 * Re-throw anything that is not already a RosettaError as one, so foreign exceptions
 * (RangeError from a DataView, errors from protobufjs/h5wasm) never leak to callers.
 */
export function wrapError(e: unknown, code: ErrorCode, message: string, where: ErrorWhere = {}, hint?: string): RosettaError {
  if (isRosettaError(e)) return e;
  const inner = e instanceof Error ? e.message : String(e);
  return new RosettaError(code, `${message}: ${inner}`, { where, hint, cause: e });
}

/** Throw helper for invariants in untrusted-input code paths. */
export function check(cond: unknown, code: ErrorCode, message: string, where: ErrorWhere = {}, hint?: string): asserts cond {
  if (!cond) throw new RosettaError(code, message, { where, hint });
}
