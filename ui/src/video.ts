// Pictures from the backend: one binary message per frame over a Tauri channel (layout in
// src-tauri/src/video.rs), handed to whichever canvas shows that participant.
import { Channel } from "@tauri-apps/api/core";
import { commands } from "./bindings";

export interface Frame {
  width: number;
  height: number;
  /** The participant; "" for our own camera's preview. */
  peer: string;
  rgba: Uint8ClampedArray<ArrayBuffer>;
}

const HEADER = 12;

/** One message, or null when it is not a whole frame. */
export function parseFrame(buffer: ArrayBuffer): Frame | null {
  if (buffer.byteLength < HEADER) return null;
  const view = new DataView(buffer);
  const width = view.getUint32(0, true);
  const height = view.getUint32(4, true);
  const peerLen = view.getUint32(8, true);
  const start = HEADER + peerLen;
  if (width === 0 || height === 0 || buffer.byteLength !== start + width * height * 4) return null;
  const peer = new TextDecoder().decode(new Uint8Array(buffer, HEADER, peerLen));
  return { width, height, peer, rgba: new Uint8ClampedArray(buffer, start) };
}

/** What reached this window, for the figures in the README (read by the end-to-end test). */
export const received = { frames: 0, bytes: 0, parseMs: 0, drawMs: 0, drawn: 0 };
(globalThis as { __tuttiVideo?: typeof received }).__tuttiVideo = received;

type Listener = (frame: Frame) => void;
const listeners = new Map<string, Set<Listener>>();
let channel: Channel<ArrayBuffer> | null = null;

/** Starts receiving (once), then calls `listener` with `peer`'s frames until unsubscribed. */
export function onFrames(peer: string, listener: Listener): () => void {
  if (!channel) {
    channel = new Channel<ArrayBuffer>();
    channel.onmessage = (message) => {
      const start = performance.now();
      const frame = message instanceof ArrayBuffer ? parseFrame(message) : null;
      received.parseMs += performance.now() - start;
      received.frames += 1;
      received.bytes += message instanceof ArrayBuffer ? message.byteLength : 0;
      if (frame) listeners.get(frame.peer)?.forEach((l) => l(frame));
    };
    void commands.watchVideo({ on_frame: channel as unknown as string });
  }
  let set = listeners.get(peer);
  if (!set) listeners.set(peer, (set = new Set()));
  set.add(listener);
  return () => set.delete(listener);
}

/** Draws `frame` on `canvas`, resizing it to the picture (CSS scales it to the layout). */
export function draw(canvas: HTMLCanvasElement, frame: Frame) {
  if (canvas.width !== frame.width) canvas.width = frame.width;
  if (canvas.height !== frame.height) canvas.height = frame.height;
  const start = performance.now();
  canvas.getContext("2d")?.putImageData(new ImageData(frame.rgba, frame.width, frame.height), 0, 0);
  received.drawMs += performance.now() - start;
  received.drawn += 1;
}
