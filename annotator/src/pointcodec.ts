// Per-point label words to and from the API's JSON form: base64 of compressed little-endian
// uint32 words (`semantic | instance << 16`, one per point). The server answers in zstd
// (`zstd-u32le-base64`; decompressed here with fzstd, from npm); the page saves in gzip
// (`gzip-u32le-base64`), which browsers compress natively (CompressionStream). 120k points
// are 480 kB of words; a labelled frame compresses to a few kB, never a JSON list.
import { decompress as unzstd } from "fzstd";

export type PointsEncoding = "zstd-u32le-base64" | "gzip-u32le-base64";

export interface EncodedPoints {
  encoding: PointsEncoding;
  count: number;
  data: string;
}

// The words travel little-endian; typed arrays use the platform's order, little-endian on
// every platform a browser runs on. Refuse to run (rather than corrupt labels) elsewhere.
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error("point labels need a little-endian platform");
}

function toBase64(bytes: Uint8Array): string {
  let text = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    text += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(text);
}

function fromBase64(data: string): Uint8Array {
  const text = atob(data);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

async function through(bytes: Uint8Array, stream: GenericTransformStream): Promise<Uint8Array> {
  const piped = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(piped).arrayBuffer());
}

/** The gzip JSON form of a frame's words. */
export async function encodeWords(words: Uint32Array): Promise<EncodedPoints> {
  const raw = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const packed = await through(raw, new CompressionStream("gzip"));
  return { encoding: "gzip-u32le-base64", count: words.length, data: toBase64(packed) };
}

/** A frame's words from either JSON form; an Error names what does not fit `expected` points. */
export async function decodeWords(encoded: EncodedPoints, expected: number): Promise<Uint32Array> {
  const packed = fromBase64(encoded.data);
  const raw =
    encoded.encoding === "gzip-u32le-base64"
      ? await through(packed, new DecompressionStream("gzip"))
      : unzstd(packed);
  if (raw.byteLength !== 4 * expected) {
    throw new Error(`point labels hold ${raw.byteLength / 4} words for a frame of ${expected} points`);
  }
  // a fresh, aligned copy: the decompressor's buffer may be shared or unaligned
  return new Uint32Array(raw.slice().buffer, 0, expected);
}
