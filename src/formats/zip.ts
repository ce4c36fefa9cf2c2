/**
 * Zip container reader and writer (bytes ⇄ named entries), used by torch.save archives, Keras 3
 * `.keras` files and numpy `.npz`.
 *
 * Decompression is fflate's `inflateSync`; everything around it is parsed and validated here,
 * because fflate trusts the archive: the end-of-central-directory record must sit inside the
 * allowed comment window, entry counts and offsets must lie inside the file, Zip64 records are
 * honoured (torch writes them for large checkpoints), names may not be absolute, contain `..`,
 * backslashes or NUL, nor repeat, declared sizes are checked against the data and a total limit
 * before anything is inflated, and CRC-32 is verified on every read.
 *
 * Spec: PKWARE APPNOTE.TXT 6.3.10, https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT
 */
import { deflateSync, inflateSync } from 'fflate';
import { RosettaError, wrapError, type ErrorWhere } from '../ir/errors.js';

/** One central-directory entry. Sizes and offsets are validated against the archive bytes. */
export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate (the only methods we read). */
  method: 0 | 8;
  compressedSize: number;
  size: number;
  crc32: number;
  /** Offset of the entry's local file header. */
  offset: number;
}

/** A parsed archive; `read` inflates and CRC-checks one entry on demand. */
export interface ZipArchive {
  entries: ZipEntry[];
  names(): string[];
  has(name: string): boolean;
  /** Entry bytes (a view into the archive for stored entries). Throws E_BAD_FORMAT when absent or corrupt. */
  read(name: string): Uint8Array;
}

/** Limits applied before any data is inflated. */
export interface ZipLimits {
  /** Most entries accepted (default 1,000,000). */
  maxEntries?: number;
  /** Largest sum of declared uncompressed sizes (default 8 GiB). */
  maxTotalSize?: number;
}

/** An entry to write. `align` pads the local header so the data starts at a multiple of it (torch: 64). */
export interface ZipWriteEntry {
  name: string;
  data: Uint8Array;
  compress?: boolean;
  align?: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOC = 0x07064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
/** DEFLATE cannot expand data by more than ~1032:1; larger declared ratios are lies (zip bombs). */
const MAX_DEFLATE_RATIO = 1032;

/** Pure sniff: a local file header, or the end record of an empty archive. Never throws. */
export function isZip(bytes: Uint8Array): boolean {
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) return false;
  return (bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6);
}

// ---------------------------------------------------------------------------------------------
// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), "slicing-by-8": eight 256-entry tables
// let the loop consume 8 bytes per step, several times faster than the byte-wise table loop.

let CRC_TABLES: Int32Array | undefined;

function crcTables(): Int32Array {
  if (CRC_TABLES) return CRC_TABLES;
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  CRC_TABLES = t;
  return t;
}

/** CRC-32 of `data` as an unsigned 32-bit number. */
export function crc32(data: Uint8Array): number {
  const t = crcTables();
  let c = -1;
  let i = 0;
  const end8 = data.length - (data.length % 8);
  for (; i < end8; i += 8) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c =
      t[1792 + (a & 0xff)]! ^ t[1536 + ((a >>> 8) & 0xff)]! ^ t[1280 + ((a >>> 16) & 0xff)]! ^ t[1024 + (a >>> 24)]! ^
      t[768 + data[i + 4]!]! ^ t[512 + data[i + 5]!]! ^ t[256 + data[i + 6]!]! ^ t[data[i + 7]!]!;
  }
  for (; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Reading

function u16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
/** Little-endian u64 as a number; values beyond 2^53 are reported as Infinity (and fail range checks). */
function u64(b: Uint8Array, o: number): number {
  const lo = u32(b, o);
  const hi = u32(b, o + 4);
  if (hi >= 0x200000) return Infinity;
  return hi * 0x100000000 + lo;
}

/**
 * Reject names that could escape an extraction folder or alias another entry: absolute paths,
 * drive letters, backslashes (Windows separators), `..` segments, NUL bytes.
 */
function checkName(name: string, where: ErrorWhere): void {
  const at = { ...where, entry: name };
  if (name.length === 0) throw new RosettaError('E_BAD_FORMAT', 'zip entry with an empty name', { where: at });
  if (name.includes('\0')) throw new RosettaError('E_BAD_FORMAT', 'zip entry name contains a NUL byte', { where: at });
  if (name.includes('\\')) {
    throw new RosettaError('E_PATH_ESCAPE', 'zip entry name contains a backslash', { where: at, hint: 'archives must use forward slashes; this one may try to escape its folder' });
  }
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) {
    throw new RosettaError('E_PATH_ESCAPE', 'zip entry name is an absolute path', { where: at });
  }
  if (name.split('/').some((s) => s === '..')) {
    throw new RosettaError('E_PATH_ESCAPE', "zip entry name contains a '..' segment", { where: at });
  }
}

function findEocd(b: Uint8Array, where: ErrorWhere): number {
  if (b.length < EOCD_SIZE) throw new RosettaError('E_TRUNCATED', `zip archive of ${b.length} bytes is shorter than its end record`, { where });
  const stop = Math.max(0, b.length - EOCD_SIZE - MAX_COMMENT);
  let loose = -1;
  for (let p = b.length - EOCD_SIZE; p >= stop; p--) {
    if (u32(b, p) !== SIG_EOCD) continue;
    // Prefer a record whose comment length reaches exactly the end of the file; a signature
    // appearing inside a comment would not.
    if (p + EOCD_SIZE + u16(b, p + 20) === b.length) return p;
    if (loose < 0) loose = p;
  }
  if (loose >= 0) return loose;
  throw new RosettaError('E_BAD_FORMAT', 'no zip end-of-central-directory record in the last 64 KiB', { where, hint: 'the file is truncated or not a zip archive' });
}

/**
 * Parse a zip archive's central directory and validate every entry; data is inflated lazily in
 * `read`. `where.file` names the archive in errors.
 */
export function readZip(bytes: Uint8Array, where: { file?: string } = {}, limits: ZipLimits = {}): ZipArchive {
  try {
    return readZipUnguarded(bytes, where, limits);
  } catch (e) {
    throw wrapError(e, 'E_BAD_FORMAT', 'cannot read this zip archive', { file: where.file });
  }
}

function readZipUnguarded(bytes: Uint8Array, where: { file?: string }, limits: ZipLimits): ZipArchive {
  const maxEntries = limits.maxEntries ?? 1_000_000;
  const maxTotal = limits.maxTotalSize ?? 8 * 2 ** 30;
  const b = bytes;
  const w: ErrorWhere = { file: where.file };
  const eocd = findEocd(b, w);
  const disk = u16(b, eocd + 4);
  const cdDisk = u16(b, eocd + 6);
  if ((disk !== 0 && disk !== 0xffff) || (cdDisk !== 0 && cdDisk !== 0xffff)) {
    throw new RosettaError('E_UNSUPPORTED', 'multi-disk (spanned) zip archives are not supported', { where: { ...w, offset: eocd } });
  }
  let count = u16(b, eocd + 10);
  let cdSize = u32(b, eocd + 12);
  let cdOffset = u32(b, eocd + 16);
  let cdLimit = eocd;
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || u32(b, loc) !== SIG_EOCD64_LOC) {
      throw new RosettaError('E_BAD_FORMAT', 'zip end record asks for Zip64 but the Zip64 locator is missing', { where: { ...w, offset: eocd } });
    }
    const rec = u64(b, loc + 8);
    if (!(rec + 56 <= loc) || u32(b, rec) !== SIG_EOCD64) {
      throw new RosettaError('E_BAD_FORMAT', `Zip64 end record offset ${rec} is not inside the archive`, { where: { ...w, offset: loc } });
    }
    count = u64(b, rec + 32);
    cdSize = u64(b, rec + 40);
    cdOffset = u64(b, rec + 48);
    cdLimit = rec;
  }
  if (count > maxEntries) {
    throw new RosettaError('E_LIMIT', `zip archive declares ${count} entries, above the limit of ${maxEntries}`, { where: w });
  }
  if (!(cdOffset + cdSize <= cdLimit)) {
    throw new RosettaError('E_BAD_FORMAT', `zip central directory (offset ${cdOffset}, ${cdSize} bytes) lies outside the archive`, { where: { ...w, offset: eocd } });
  }
  // Every central record is at least 46 bytes: a count that cannot fit is a lie.
  if (count * 46 > cdSize) {
    throw new RosettaError('E_BAD_FORMAT', `zip declares ${count} entries but its central directory has only ${cdSize} bytes`, { where: { ...w, offset: cdOffset } });
  }

  const decoder = new TextDecoder('utf-8');
  const entries: ZipEntry[] = [];
  const byName = new Map<string, ZipEntry>();
  const dataStart = new Map<string, number>();
  let total = 0;
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdEnd || u32(b, p) !== SIG_CENTRAL) {
      throw new RosettaError('E_BAD_FORMAT', `zip central directory record ${i} is missing or corrupt`, { where: { ...w, offset: p } });
    }
    const flags = u16(b, p + 8);
    const method = u16(b, p + 10);
    const crc = u32(b, p + 16);
    let csize = u32(b, p + 20);
    let size = u32(b, p + 24);
    const nameLen = u16(b, p + 28);
    const extraLen = u16(b, p + 30);
    const commentLen = u16(b, p + 32);
    let offset = u32(b, p + 42);
    const recEnd = p + 46 + nameLen + extraLen + commentLen;
    if (recEnd > cdEnd) throw new RosettaError('E_BAD_FORMAT', `zip central directory record ${i} runs past the directory`, { where: { ...w, offset: p } });
    const name = decoder.decode(b.subarray(p + 46, p + 46 + nameLen));
    const at = { ...w, entry: name };
    checkName(name, w);
    if (byName.has(name)) throw new RosettaError('E_BAD_FORMAT', 'zip archive holds two entries with the same name', { where: at, hint: 'readers disagree on which one wins; refusing' });
    // Zip64 extended information: only the fields whose 32-bit value is saturated are present, in this order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = u16(b, x);
      const len = u16(b, x + 2);
      if (x + 4 + len > xEnd) throw new RosettaError('E_BAD_FORMAT', 'zip extra field runs past its record', { where: at });
      if (id === 0x0001) {
        let q = x + 4;
        const take = (): number => {
          if (q + 8 > x + 4 + len) throw new RosettaError('E_BAD_FORMAT', 'Zip64 extra field is too short', { where: at });
          const v = u64(b, q);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (csize === 0xffffffff) csize = take();
        if (offset === 0xffffffff) offset = take();
      }
      x += 4 + len;
    }
    if (flags & 1) throw new RosettaError('E_UNSUPPORTED', 'zip entry is encrypted', { where: at });
    if (method !== 0 && method !== 8) {
      throw new RosettaError('E_UNSUPPORTED', `zip entry uses compression method ${method}; only stored (0) and deflate (8) are supported`, { where: at });
    }
    if (method === 0 && csize !== size) {
      throw new RosettaError('E_BAD_FORMAT', `stored zip entry declares ${size} bytes but holds ${csize}`, { where: at });
    }
    if (method === 8 && size > csize * MAX_DEFLATE_RATIO + 1024) {
      throw new RosettaError('E_TOO_LARGE', `deflated zip entry claims to expand ${csize} bytes to ${size}, beyond what DEFLATE can produce`, { where: at });
    }
    total += size;
    if (total > maxTotal) {
      throw new RosettaError('E_TOO_LARGE', `zip entries declare more than ${maxTotal} bytes in total`, { where: at, hint: 'raise maxTotalSize if this archive is trusted' });
    }
    if (!(offset + 30 <= cdOffset) || u32(b, offset) !== SIG_LOCAL) {
      throw new RosettaError('E_BAD_FORMAT', `zip local header for the entry is not at offset ${offset}`, { where: at });
    }
    const localNameLen = u16(b, offset + 26);
    const start = offset + 30 + localNameLen + u16(b, offset + 28);
    if (localNameLen !== nameLen || !b.subarray(offset + 30, offset + 30 + nameLen).every((c, k) => c === b[p + 46 + k])) {
      throw new RosettaError('E_BAD_FORMAT', 'zip local header names a different file than the central directory', { where: at });
    }
    if (!(start + csize <= cdOffset)) {
      throw new RosettaError('E_TRUNCATED', `zip entry data (${csize} bytes from offset ${start}) runs past the file data`, { where: at });
    }
    const e: ZipEntry = { name, method, compressedSize: csize, size, crc32: crc, offset };
    entries.push(e);
    byName.set(name, e);
    dataStart.set(name, start);
    p = recEnd;
  }

  // Entries whose data overlap let a small archive expand many times over (the overlapping-file zip
  // bomb) and never occur in archives written by real tools; CPython's zipfile refuses them too.
  const spans = entries.map((e) => [e.offset, dataStart.get(e.name)! + e.compressedSize, e.name] as const).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![0] < spans[i - 1]![1]) {
      throw new RosettaError('E_BAD_FORMAT', `zip entry overlaps the data of '${spans[i - 1]![2]}'`, { where: { ...w, entry: spans[i]![2] }, hint: 'overlapping entries are a zip-bomb technique; refusing' });
    }
  }

  const verified = new Set<string>();
  return {
    entries,
    names: () => entries.map((e) => e.name),
    has: (name) => byName.has(name),
    read(name: string): Uint8Array {
      const e = byName.get(name);
      if (!e) throw new RosettaError('E_BAD_FORMAT', 'zip archive has no such entry', { where: { ...w, entry: name } });
      const at = { ...w, entry: name };
      const start = dataStart.get(name)!;
      const raw = b.subarray(start, start + e.compressedSize);
      let out: Uint8Array;
      if (e.method === 0) {
        out = raw;
      } else {
        try {
          // Inflate into a buffer of the declared size: a lying entry cannot make us allocate more.
          out = e.size === 0 ? new Uint8Array(0) : inflateSync(raw, { out: new Uint8Array(e.size) });
        } catch (err) {
          throw new RosettaError('E_BAD_FORMAT', `cannot inflate zip entry: ${err instanceof Error ? err.message : String(err)}`, { where: at, cause: err });
        }
        if (out.length !== e.size) throw new RosettaError('E_BAD_FORMAT', `zip entry inflates to ${out.length} bytes, not the declared ${e.size}`, { where: at });
      }
      if (!verified.has(name)) {
        const c = crc32(out);
        if (c !== e.crc32) {
          throw new RosettaError('E_BAD_FORMAT', `zip entry CRC-32 mismatch (declared ${e.crc32.toString(16)}, data ${c.toString(16)})`, { where: at, hint: 'the file is corrupt' });
        }
        if (e.method === 0) verified.add(name);
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Writing

class ByteSink {
  private chunks: Uint8Array[] = [];
  length = 0;
  push(c: Uint8Array): void {
    this.chunks.push(c);
    this.length += c.length;
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

function le(n: number, bytes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes; i++) {
    out.push(bytes > 4 ? Math.floor(n / 2 ** (8 * i)) & 0xff : (n >>> (8 * i)) & 0xff);
  }
  return out;
}

/** Extra-field id torch uses for alignment padding ("FB"); readers skip unknown ids. */
const PAD_EXTRA_ID = 0x4246;

/**
 * Write a zip archive. Entries are stored unless `compress` is set; timestamps are fixed
 * (1980-01-01) so output is reproducible. Zip64 records are written when offsets, sizes or the
 * entry count need them.
 */
export function writeZip(entries: ZipWriteEntry[]): Uint8Array {
  const enc = new TextEncoder();
  const sink = new ByteSink();
  const central: number[][] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    checkName(e.name, {});
    if (seen.has(e.name)) throw new RosettaError('E_USAGE', 'writeZip: duplicate entry name', { where: { entry: e.name } });
    seen.add(e.name);
    const name = enc.encode(e.name);
    const crc = crc32(e.data);
    const body = e.compress ? deflateSync(e.data, { level: 6 }) : e.data;
    const method = e.compress ? 8 : 0;
    const offset = sink.length;
    const big = e.data.length >= 0xffffffff || body.length >= 0xffffffff;
    const zip64Local = big ? [...le(1, 2), ...le(16, 2), ...le(e.data.length, 8), ...le(body.length, 8)] : [];
    let extra = zip64Local;
    const align = e.align ?? 0;
    if (align > 1) {
      const base = offset + 30 + name.length + extra.length + 4;
      const pad = (align - (base % align)) % align;
      extra = [...extra, ...le(PAD_EXTRA_ID, 2), ...le(pad, 2), ...new Array<number>(pad).fill(0x5a)];
    }
    const version = big ? 45 : 20;
    const local = [
      ...le(SIG_LOCAL, 4), ...le(version, 2), ...le(0x0800, 2), ...le(method, 2), ...le(0, 2), ...le(0x21, 2),
      ...le(crc, 4), ...le(big ? 0xffffffff : body.length, 4), ...le(big ? 0xffffffff : e.data.length, 4),
      ...le(name.length, 2), ...le(extra.length, 2),
    ];
    sink.push(Uint8Array.from(local));
    sink.push(name);
    sink.push(Uint8Array.from(extra));
    sink.push(body);

    const needOff = offset >= 0xffffffff;
    const z64: number[] = [];
    if (big) z64.push(...le(e.data.length, 8), ...le(body.length, 8));
    if (needOff) z64.push(...le(offset, 8));
    const cextra = z64.length ? [...le(1, 2), ...le(z64.length, 2), ...z64] : [];
    central.push([
      ...le(SIG_CENTRAL, 4), ...le(z64.length ? 45 : 20, 2), ...le(version, 2), ...le(0x0800, 2), ...le(method, 2), ...le(0, 2), ...le(0x21, 2),
      ...le(crc, 4), ...le(big ? 0xffffffff : body.length, 4), ...le(big ? 0xffffffff : e.data.length, 4),
      ...le(name.length, 2), ...le(cextra.length, 2), ...le(0, 2), ...le(0, 2), ...le(0, 2), ...le(0, 4),
      ...le(needOff ? 0xffffffff : offset, 4), ...name, ...cextra,
    ]);
  }
  const cdOffset = sink.length;
  let cdSize = 0;
  for (const c of central) {
    sink.push(Uint8Array.from(c));
    cdSize += c.length;
  }
  const n = entries.length;
  const need64 = n >= 0xffff || cdOffset >= 0xffffffff || cdSize >= 0xffffffff;
  if (need64) {
    const rec = sink.length;
    sink.push(Uint8Array.from([
      ...le(SIG_EOCD64, 4), ...le(44, 8), ...le(45, 2), ...le(45, 2), ...le(0, 4), ...le(0, 4),
      ...le(n, 8), ...le(n, 8), ...le(cdSize, 8), ...le(cdOffset, 8),
    ]));
    sink.push(Uint8Array.from([...le(SIG_EOCD64_LOC, 4), ...le(0, 4), ...le(rec, 8), ...le(1, 4)]));
  }
  sink.push(Uint8Array.from([
    ...le(SIG_EOCD, 4), ...le(0, 2), ...le(0, 2), ...le(need64 ? 0xffff : n, 2), ...le(need64 ? 0xffff : n, 2),
    ...le(need64 ? 0xffffffff : cdSize, 4), ...le(need64 ? 0xffffffff : cdOffset, 4), ...le(0, 2),
  ]));
  return sink.concat();
}
