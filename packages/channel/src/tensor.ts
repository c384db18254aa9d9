/**
 * Typed payloads: typed, aligned views of a payload (loan.view(Float32Array),
 * msg.view(Float32Array)), raw byte writes (loan.write), and the tensor
 * convention: a JSON header { dtype, shape } describing the payload as a
 * dense, row-major array of one element type.
 *
 * Alignment: every payload starts on an arena granule boundary, and granules
 * are powers of two of at least 64 bytes (native/src/shm/alloc.c; a segment
 * with a smaller granule is refused as corrupt at open). Any TypedArray, up to
 * 8-byte elements, can therefore view a payload from its start; so can SIMD
 * code that wants 64-byte (cache line) alignment. typedView() checks it anyway.
 *
 * Element order is the host's: little endian on every platform Ferry runs
 * on (x86-64, arm64). A tensor sent by one Ferry process reads back bit-exact
 * in another.
 *
 * The pitfall this exists for: `loan.bytes.set(new Float32Array([1.5]))`
 * copies element by element, converting each float to a byte (1.5 -> 1):
 * TypedArray.prototype.set converts values, it does not copy bytes. Use
 * loan.write(f32) (raw bytes) or loan.view(Float32Array).set(f32).
 */
import { Errno, FerryError } from "@ferry/native";
import type { Loan, Publisher } from "./publisher";
import type { Header, PublishOptions, SendOptions } from "./types";

/** Every TypedArray type. */
export type TypedArray =
  | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array
  | Float32Array | Float64Array | BigInt64Array | BigUint64Array | Float16ArrayLike;

/** Float16Array where the runtime has it (Bun 1.4 does); typed loosely for older lib typings. */
type Float16ArrayLike = ArrayBufferView & { readonly length: number; readonly BYTES_PER_ELEMENT: 2 };

/** A TypedArray constructor: Float32Array, BigInt64Array, ... */
export interface TypedArrayConstructor<T extends ArrayBufferView = TypedArray> {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
}

/** Options of loan.view() / msg.view(). */
export interface ViewOptions {
  /** Byte offset into the payload (default 0): a multiple of the element size. */
  byteOffset?: number;
  /** Elements (default: all that the rest of the payload holds, which must then be a whole number of them). */
  length?: number;
}

/** Payloads start on granule boundaries, and granules are at least this many bytes. */
export const PAYLOAD_ALIGN = 64;

const isInt = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

/**
 * A `Ctor` view over `bytes` (a payload view): length = the bytes after
 * `byteOffset` / the element size, which must divide evenly unless
 * `length` is given (FERRY_E_INVAL otherwise, and for a view past the end).
 */
export function typedView<T extends ArrayBufferView>(
  bytes: Uint8Array, Ctor: TypedArrayConstructor<T>, options: ViewOptions | undefined, what: string,
): T {
  const size = (Ctor as { BYTES_PER_ELEMENT?: unknown })?.BYTES_PER_ELEMENT;
  if (typeof Ctor !== "function" || typeof size !== "number" || size < 1)
    throw new FerryError(Errno.INVAL, `${what}: expected a TypedArray constructor (Float32Array, BigInt64Array, ...)`);
  if (options !== undefined && (options === null || typeof options !== "object"))
    throw new FerryError(Errno.INVAL, `${what}: options must be an object`);
  const off = options?.byteOffset ?? 0;
  if (!isInt(off) || off > bytes.length)
    throw new FerryError(Errno.INVAL, `${what}: byteOffset ${String(off)} is not an integer within the ${bytes.length}-byte payload`);
  if (off % size) throw new FerryError(Errno.INVAL, `${what}: byteOffset ${off} is not a multiple of ${Ctor.name}'s ${size}-byte elements`);
  const at = bytes.byteOffset + off;
  // payloads are granule-aligned (>= 64 B); a misaligned one would be a libferry bug
  if (at % size) throw new FerryError(Errno.CORRUPT, `${what}: payload at arena offset ${bytes.byteOffset} is not ${size}-byte aligned`);
  const rest = bytes.length - off;
  let n: number;
  if (options?.length !== undefined) {
    n = options.length;
    if (!isInt(n) || n * size > rest)
      throw new FerryError(Errno.INVAL, `${what}: length ${String(n)} × ${size} bytes exceeds the ${rest} bytes of the payload${off ? ` after byte ${off}` : ""}`);
  } else {
    if (rest % size)
      throw new FerryError(
        Errno.INVAL,
        `${what}: ${rest} payload bytes are not a whole number of ${Ctor.name} elements (${size} bytes): pass { length }`,
      );
    n = rest / size;
  }
  return new Ctor(bytes.buffer, at, n);
}

/** The raw bytes of `src` (never converted element by element). */
export function rawBytes(src: unknown, what: string): Uint8Array {
  if (src instanceof Uint8Array) return src;
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  if (src instanceof ArrayBuffer || (typeof SharedArrayBuffer === "function" && src instanceof SharedArrayBuffer))
    return new Uint8Array(src);
  throw new FerryError(Errno.INVAL, `${what} must be an ArrayBufferView (a TypedArray, DataView, Buffer) or an ArrayBuffer`);
}

/** Copy the bytes of `src` into `dst` at `offset`; returns the offset after them. FERRY_E_INVAL past the end. */
export function writeRaw(dst: Uint8Array, src: unknown, offset: unknown, what: string): number {
  const b = rawBytes(src, `${what} source`);
  const off = offset ?? 0;
  if (!isInt(off)) throw new FerryError(Errno.INVAL, `${what}: offset ${String(off)} is not a non-negative integer`);
  if (off + b.length > dst.length)
    throw new FerryError(Errno.INVAL, `${what}: ${b.length} bytes at offset ${off} exceed the ${dst.length}-byte loan`);
  dst.set(b, off);
  return off + b.length;
}

// ---------------------------------------------------------------- tensors

/** Element type names of the tensor header. */
export type DType =
  | "float16" | "float32" | "float64" | "int8" | "uint8" | "int16" | "uint16" | "int32" | "uint32" | "int64" | "uint64";

/** The TypedArray of each dtype. */
export interface DTypeArray {
  float16: Float16ArrayLike;
  float32: Float32Array;
  float64: Float64Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
}

const F16 = (globalThis as { Float16Array?: TypedArrayConstructor }).Float16Array;

/** dtype name -> TypedArray constructor ("float16" only where the runtime has Float16Array). */
export const DTYPES: Readonly<Record<string, TypedArrayConstructor>> = Object.freeze({
  ...(F16 ? { float16: F16 } : {}),
  float32: Float32Array, float64: Float64Array,
  int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array,
  int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array,
} as Record<string, TypedArrayConstructor>);

/** The dtype of a TypedArray (Uint8ClampedArray counts as "uint8"); FERRY_E_INVAL for anything else. */
export function dtypeOf(a: unknown): DType {
  if (a instanceof Uint8ClampedArray) return "uint8";
  for (const [name, C] of Object.entries(DTYPES)) if (a instanceof (C as unknown as typeof Uint8Array)) return name as DType;
  throw new FerryError(Errno.INVAL, "tensor data must be a TypedArray of a known dtype (Float32Array, Int32Array, BigInt64Array, ...)");
}

/** The tensor header: { dtype, shape }, plus any fields of the user's own. */
export type TensorHeader = { dtype: DType; shape: number[]; [k: string]: unknown };

/** A received tensor: data is a view into the message (valid until release), not a copy. */
export interface Tensor<D extends DType = DType> {
  dtype: D;
  shape: number[];
  data: DTypeArray[D];
}

function ctorOf(dtype: unknown, code: number, what: string): TypedArrayConstructor {
  const C = typeof dtype === "string" && Object.hasOwn(DTYPES, dtype) ? DTYPES[dtype] : undefined;
  if (!C) throw new FerryError(code, `${what}: unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPES).join(", ")})`);
  return C;
}

/** Elements of `shape` (a list of non-negative integers); `code` for errors. */
function elementsOf(shape: unknown, code: number, what: string): number {
  if (!Array.isArray(shape)) throw new FerryError(code, `${what}: shape must be an array of non-negative integers`);
  let n = 1;
  for (const d of shape) {
    if (!isInt(d)) throw new FerryError(code, `${what}: shape ${JSON.stringify(shape)} holds ${JSON.stringify(d)}, not a non-negative integer`);
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new FerryError(code, `${what}: shape ${JSON.stringify(shape)} has too many elements`);
  return n;
}

/**
 * The header for a tensor of `dtype` and `shape` (`extra`: fields of your
 * own, which may not be named dtype or shape), and its payload size in bytes.
 * FERRY_E_INVAL for an unknown dtype or a bad shape.
 */
export function tensorHeader(dtype: DType, shape: readonly number[], extra?: Record<string, unknown>): { header: TensorHeader; bytes: number } {
  const C = ctorOf(dtype, Errno.INVAL, "tensor");
  const n = elementsOf(shape, Errno.INVAL, "tensor");
  if (extra !== undefined && (extra === null || typeof extra !== "object" || Array.isArray(extra)))
    throw new FerryError(Errno.INVAL, "tensor: extra header fields must be a plain object");
  if (extra && ("dtype" in extra || "shape" in extra)) throw new FerryError(Errno.INVAL, "tensor: extra header fields may not be named dtype or shape");
  return { header: { ...extra, dtype, shape: [...shape] }, bytes: n * C.BYTES_PER_ELEMENT };
}

/** The shape of `data` for a send: `shape` checked against its length, or 1-D by default. */
export function shapeFor(data: ArrayBufferView & { length?: number }, shape: readonly number[] | undefined): number[] {
  const len = (data as { length: number }).length;
  if (shape === undefined) return [len];
  const n = elementsOf(shape, Errno.INVAL, "tensor");
  if (n !== len) throw new FerryError(Errno.INVAL, `tensor: shape ${JSON.stringify(shape)} holds ${n} elements, the data ${len}`);
  return [...shape];
}

/**
 * Read a received message as a tensor: its header's dtype and shape, and a
 * typed view over its payload. FERRY_E_CORRUPT when the header is no tensor
 * header or shape × element size is not the payload's length.
 */
export function readTensor(header: Header, bytes: Uint8Array, seq: number): Tensor {
  const what = `message ${seq}`;
  const h = header as Partial<TensorHeader> | undefined;
  if (h === null || typeof h !== "object" || !("dtype" in h) || !("shape" in h))
    throw new FerryError(Errno.CORRUPT, `${what} has no tensor header ({ dtype, shape })`);
  const C = ctorOf(h.dtype, Errno.CORRUPT, what);
  const n = elementsOf(h.shape, Errno.CORRUPT, what);
  if (n * C.BYTES_PER_ELEMENT !== bytes.length)
    throw new FerryError(
      Errno.CORRUPT,
      `${what}: shape ${JSON.stringify(h.shape)} of ${h.dtype} is ${n * C.BYTES_PER_ELEMENT} bytes, the payload ${bytes.length}`,
    );
  const data = typedView(bytes, C, { length: n }, what);
  return { dtype: h.dtype as DType, shape: [...(h.shape as number[])], data } as Tensor;
}

// ---------------------------------------------------------------- tensor sends (free functions over a Publisher)


/** A loan sized for one tensor: fill `data` in place, then publish() (the tensor header goes with it). */
export interface TensorLoan<D extends DType = DType> {
  readonly loan: Loan;
  readonly dtype: D;
  readonly shape: number[];
  /** Writable typed view of the loan (zero-length once the publisher closes). */
  readonly data: DTypeArray[D];
  readonly header: TensorHeader;
  /** pub.publish(loan, { ...options, header }); returns the sequence number. */
  publish(options?: Omit<PublishOptions, "header" | "length">): number;
  /** pub.unloan(loan). */
  unloan(): void;
}

/** Options of sendTensor(): send()'s, a shape (default: 1-D) and header fields of your own. */
export type TensorSendOptions = Omit<SendOptions, "header"> & { shape?: readonly number[]; header?: Record<string, unknown> };

/** Loan space for a `dtype` tensor of `shape` from `pub` (zero-copy). FERRY_E_INVAL for a bad dtype or shape. */
export function loanTensor<D extends DType>(pub: Publisher, dtype: D, shape: readonly number[], extra?: Record<string, unknown>): TensorLoan<D> {
  const { header, bytes } = tensorHeader(dtype, shape, extra);
  const loan = pub.loan(bytes);
  let data: DTypeArray[D];
  try {
    data = loan.view(DTYPES[dtype]!) as DTypeArray[D];
  } catch (e) {
    pub.unloan(loan);
    throw e;
  }
  return {
    loan, dtype, shape: header.shape, data, header,
    publish: (options) => pub.publish(loan, { ...options, header }),
    unloan: () => pub.unloan(loan),
  };
}

function tensorArgs(data: unknown, options: TensorSendOptions | undefined): [ArrayBufferView, SendOptions] {
  if (options !== undefined && (options === null || typeof options !== "object"))
    throw new FerryError(Errno.INVAL, "sendTensor() options must be an object");
  const dtype = dtypeOf(data);
  const a = data as TypedArray;
  const { shape, header: extra, ...rest } = options ?? {};
  const { header } = tensorHeader(dtype, shapeFor(a, shape), extra);
  return [a, { ...rest, header }];
}

/** pub.send() of a TypedArray with the tensor header { dtype (from the array), shape (default [length]) }. */
export function sendTensor(pub: Publisher, data: TypedArray, options?: TensorSendOptions): Promise<number> {
  try {
    const [a, o] = tensorArgs(data, options);
    return pub.send(a, o);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** pub.sendSync() of a TypedArray with the tensor header (see sendTensor). */
export function sendTensorSync(pub: Publisher, data: TypedArray, options?: TensorSendOptions): number {
  const [a, o] = tensorArgs(data, options);
  return pub.sendSync(a, o);
}
