/**
 * A minimal protocol-2 pickle writer: just the opcodes a torch state dict or checkpoint needs
 * (globals, ints, floats, strings, bools, None, tuples, lists, dicts, persistent ids, REDUCE). Output is what CPython's pickle (and therefore
 * `torch.load(weights_only=True)`) reads; memoisation is not used because nothing is shared.
 *
 * Spec: CPython Lib/pickletools.py (opcode table).
 */

/** Builds a pickle byte stream opcode by opcode. */
export class PickleWriter {
  private buf: number[] = [];
  private enc = new TextEncoder();

  constructor(protocol = 2) {
    this.buf.push(0x80, protocol);
  }

  /** MARK '(' */
  mark(): this {
    this.buf.push(0x28);
    return this;
  }

  /** GLOBAL 'c': `module\nname\n`. */
  global(module: string, name: string): this {
    this.buf.push(0x63, ...this.enc.encode(`${module}\n${name}\n`));
    return this;
  }

  /** Smallest integer opcode for `v` (BININT1/BININT2/BININT, else LONG1). */
  int(v: number | bigint): this {
    const n = BigInt(v);
    if (n >= 0n && n < 256n) this.buf.push(0x4b, Number(n));
    else if (n >= 0n && n < 65536n) this.buf.push(0x4d, Number(n) & 0xff, Number(n) >> 8);
    else if (n >= -(2n ** 31n) && n < 2n ** 31n) {
      const x = Number(n) >>> 0;
      this.buf.push(0x4a, x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24);
    } else {
      // LONG1: little-endian two's complement, shortest length that keeps the sign.
      const bytes: number[] = [];
      let m = n;
      while (true) {
        bytes.push(Number(m & 0xffn));
        m >>= 8n;
        const sign = bytes[bytes.length - 1]! & 0x80;
        if ((m === 0n && !sign) || (m === -1n && sign)) break;
      }
      this.buf.push(0x8a, bytes.length, ...bytes);
    }
    return this;
  }

  /** BINFLOAT 'G' (big-endian IEEE double). */
  float(v: number): this {
    const d = new DataView(new ArrayBuffer(8));
    d.setFloat64(0, v, false);
    this.buf.push(0x47, ...new Uint8Array(d.buffer));
    return this;
  }

  /** BINUNICODE 'X'. */
  str(s: string): this {
    const b = this.enc.encode(s);
    const n = b.length;
    this.buf.push(0x58, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
    for (const x of b) this.buf.push(x);
    return this;
  }

  bool(v: boolean): this {
    this.buf.push(v ? 0x88 : 0x89);
    return this;
  }

  none(): this {
    this.buf.push(0x4e);
    return this;
  }

  /** TUPLE 't': the values since the last MARK as a tuple. */
  tuple(): this {
    this.buf.push(0x74);
    return this;
  }

  emptyTuple(): this {
    this.buf.push(0x29);
    return this;
  }

  emptyDict(): this {
    this.buf.push(0x7d);
    return this;
  }

  /** EMPTY_LIST ']'. */
  emptyList(): this {
    this.buf.push(0x5d);
    return this;
  }

  /** APPENDS 'e': the values since the last MARK are appended to the list below it. */
  appends(): this {
    this.buf.push(0x65);
    return this;
  }

  /** SETITEMS 'u': pairs since the last MARK go into the dict below it. */
  setItems(): this {
    this.buf.push(0x75);
    return this;
  }

  /** REDUCE 'R': callable(*args). */
  reduce(): this {
    this.buf.push(0x52);
    return this;
  }

  /** BINPERSID 'Q'. */
  persId(): this {
    this.buf.push(0x51);
    return this;
  }

  /** Tuple of small ints, e.g. a shape or a stride. */
  intTuple(xs: readonly number[]): this {
    if (xs.length === 0) return this.emptyTuple();
    this.mark();
    for (const x of xs) this.int(x);
    return this.tuple();
  }

  /** STOP '.' and the bytes. */
  finish(): Uint8Array {
    this.buf.push(0x2e);
    return Uint8Array.from(this.buf);
  }
}
