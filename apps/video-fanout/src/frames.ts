/**
 * Generated video: RGBA frames of a moving pattern (eight bands of colour
 * ramps that scroll sideways by `speed` pixels a frame), written straight
 * into a destination (a loan in shared memory). Deterministic: frame i is
 * always the same bytes.
 */
export interface FrameHeader {
  /** Frame number. */
  i: number;
  w: number;
  h: number;
  /** Wall clock (ms) when published. */
  t: number;
  /** CRC-32 of the frame's bytes, computed by the producer. */
  crc: number;
}

export const now = () => performance.timeOrigin + performance.now();

export class Pattern {
  private readonly bands: Uint8Array[];
  constructor(
    readonly width: number,
    readonly height: number,
    readonly speed = 16,
  ) {
    // each band: two frame widths of RGBA, so a shifted window is one contiguous copy
    this.bands = Array.from({ length: 8 }, (_, b) => {
      const row = new Uint8Array(2 * width * 4);
      for (let x = 0; x < 2 * width; x++) {
        const u = (x % width) / width;
        row[x * 4] = (255 * u + b * 31) & 255;
        row[x * 4 + 1] = (255 * (1 - u) + b * 67) & 255;
        row[x * 4 + 2] = ((x >> 5) & 1 ? 200 : 40) + b * 7;
        row[x * 4 + 3] = 255;
      }
      return row;
    });
  }

  get bytes() {
    return this.width * this.height * 4;
  }

  /** Write frame i into dst (this.bytes long). */
  fill(i: number, dst: Uint8Array): void {
    const rowBytes = this.width * 4;
    const bandRows = Math.max(1, Math.ceil(this.height / 8));
    for (let y = 0; y < this.height; y++) {
      const off = ((i * this.speed + y) % this.width) * 4;
      dst.set(this.bands[Math.floor(y / bandRows) & 7]!.subarray(off, off + rowBytes), y * rowBytes);
    }
    // the frame number in the first pixels, so that two frames never have equal bytes
    new DataView(dst.buffer, dst.byteOffset, 8).setFloat64(0, i, true);
  }
}
