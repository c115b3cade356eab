// Pictures from the backend, pulled: one request at a time asks for the newest picture of every
// participant on screen (layout in src-tauri/src/video.rs). The next request goes out only once
// those are drawn and the display has refreshed, so a picture the display has no time for (a
// busy machine, a hidden window) is dropped in the backend before it is converted or sent.
import { commands } from "./bindings";

/** A picture as it came from the backend. */
export type Frame =
  | {
      width: number;
      height: number;
      /** The participant; "" for our own camera's preview. */
      peer: string;
      /** RGBA (width × height × 4), or I420 planes (Y, then U and V at half size each way). */
      format: "rgba" | "i420";
      pixels: Uint8ClampedArray<ArrayBuffer>;
    }
  | {
      peer: string;
      /** A coded VP8 frame, for this web view's decoder. */
      format: "vp8";
      key: boolean;
      data: Uint8Array<ArrayBuffer>;
    };

/** What a canvas draws: a picture as it came, or one this web view decoded. */
export type Picture = Exclude<Frame, { format: "vp8" }> | { peer: string; format: "video"; video: VideoFrame };

const HEADER = 16;

const i420Size = (w: number, h: number) => w * h + 2 * Math.ceil(w / 2) * Math.ceil(h / 2);

/** The pictures in one reply; null when it is not whole pictures. */
export function parseFrames(buffer: ArrayBuffer): Frame[] | null {
  const frames: Frame[] = [];
  const view = new DataView(buffer);
  let at = 0;
  while (at < buffer.byteLength) {
    if (buffer.byteLength - at < HEADER) return null;
    const width = view.getUint32(at, true);
    const height = view.getUint32(at + 4, true);
    const code = view.getUint32(at + 8, true);
    const peerLen = view.getUint32(at + 12, true);
    const start = at + HEADER + peerLen;
    if (start > buffer.byteLength) return null;
    const peer = new TextDecoder().decode(new Uint8Array(buffer, at + HEADER, peerLen));
    if (code === 2) {
      // Coded VP8: a flags byte, the length, the bytes.
      if (start + 5 > buffer.byteLength) return null;
      const len = view.getUint32(start + 1, true);
      const end = start + 5 + len;
      if (end > buffer.byteLength) return null;
      frames.push({ peer, format: "vp8", key: (view.getUint8(start) & 1) === 1, data: new Uint8Array(buffer, start + 5, len) });
      at = end;
      continue;
    }
    const format = code === 0 ? "rgba" : code === 1 ? "i420" : null;
    if (format === null || width === 0 || height === 0) return null;
    const end = start + (format === "rgba" ? width * height * 4 : i420Size(width, height));
    if (end > buffer.byteLength) return null;
    frames.push({ width, height, peer, format, pixels: new Uint8ClampedArray(buffer, start, end - start) });
    at = end;
  }
  return frames;
}

/** What reached this window, for the benchmark and the end-to-end test (read through WebDriver). */
export const received = {
  frames: 0,
  bytes: 0,
  parseMs: 0,
  drawMs: 0,
  drawn: 0,
  requests: 0,
  peers: {} as Record<string, { frames: number; drawn: number }>,
};
(globalThis as { __tuttiVideo?: typeof received }).__tuttiVideo = received;

type Listener = (picture: Picture) => void;
const listeners = new Map<string, Set<Listener>>();
let pumping = false;

let webgl: boolean | null = null;

/** Whether this web view can draw I420 pictures (WebGL); the backend sends RGBA otherwise. */
function webglWorks(): boolean {
  if (webgl === null) {
    try {
      webgl = typeof WebGLRenderingContext !== "undefined" && !!document.createElement("canvas").getContext("webgl");
    } catch {
      webgl = false;
    }
  }
  return webgl;
}

let vp8: Promise<boolean> | null = null;

/** Whether this web view decodes VP8 itself (WebCodecs); the backend decodes otherwise. */
function vp8Works(): Promise<boolean> {
  vp8 ??= (async () => {
    try {
      if (typeof VideoDecoder === "undefined") return false;
      return (await VideoDecoder.isConfigSupported({ codec: "vp8" })).supported === true;
    } catch {
      return false;
    }
  })();
  return vp8;
}

/** Participants whose decoder here is new or lost track: the backend starts them again at a
 * keyframe. Sent with the next request. */
const restarts = new Set<string>();

function deliver(picture: Picture) {
  listeners.get(picture.peer)?.forEach((l) => l(picture));
}

/** One participant's VP8 decoder. Every coded picture goes in (each refers to the one before);
 * of what comes out, the newest is drawn at the next display refresh and the rest let go. */
class PeerDecoder {
  private decoder: VideoDecoder | null = null;
  private waitingForKey = true;
  private pending: VideoFrame | null = null;
  private scheduled = false;
  private timestamp = 0;

  constructor(private readonly peer: string) {}

  push(key: boolean, data: Uint8Array<ArrayBuffer>) {
    if (!this.decoder) this.open();
    if (this.waitingForKey && !key) return;
    this.waitingForKey = false;
    try {
      this.timestamp += 33_333;
      this.decoder?.decode(new EncodedVideoChunk({ type: key ? "key" : "delta", timestamp: this.timestamp, data }));
    } catch {
      this.lost();
    }
  }

  private open() {
    try {
      this.decoder = new VideoDecoder({ output: (f) => this.show(f), error: () => this.lost() });
      this.decoder.configure({ codec: "vp8", optimizeForLatency: true });
    } catch {
      this.decoder = null;
    }
    this.waitingForKey = true;
  }

  /** The decoder failed (a picture it could not decode): start again at a keyframe. */
  private lost() {
    this.closeDecoder();
    this.waitingForKey = true;
    restarts.add(this.peer);
  }

  private show(frame: VideoFrame) {
    this.pending?.close();
    this.pending = frame;
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      const f = this.pending;
      this.pending = null;
      if (!f) return;
      deliver({ peer: this.peer, format: "video", video: f });
      f.close();
    });
  }

  private closeDecoder() {
    try {
      this.decoder?.close();
    } catch {
      // Closed already.
    }
    this.decoder = null;
  }

  close() {
    this.pending?.close();
    this.pending = null;
    this.closeDecoder();
  }
}

const decoders = new Map<string, PeerDecoder>();

const nextPaint = () => new Promise<void>((ok) => requestAnimationFrame(() => ok()));
const pause = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));

/** Asks for pictures while anyone listens: one request in flight, one round per display refresh. */
async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    const decodesVp8 = await vp8Works();
    while (listeners.size > 0) {
      let reply: unknown;
      try {
        const restart = [...restarts];
        restarts.clear();
        const result = await commands.nextPictures({
          peers: [...listeners.keys()],
          webgl: webglWorks(),
          vp8: decodesVp8,
          restart,
        });
        if (result.status === "error") throw new Error(result.error.message);
        // Raw bytes come as an ArrayBuffer, whatever the bindings say.
        reply = result.data as unknown;
      } catch {
        // The backend is going away or restarting; try again shortly.
        await pause(500);
        continue;
      }
      received.requests += 1;
      if (!(reply instanceof ArrayBuffer) || reply.byteLength === 0) {
        // Nothing within the backend's wait; never ask in a tight loop, whatever answers.
        await nextPaint();
        continue;
      }
      const start = performance.now();
      const frames = parseFrames(reply) ?? [];
      received.parseMs += performance.now() - start;
      received.bytes += reply.byteLength;
      for (const frame of frames) {
        received.frames += 1;
        (received.peers[frame.peer] ??= { frames: 0, drawn: 0 }).frames += 1;
        if (frame.format === "vp8") {
          if (!listeners.has(frame.peer)) continue;
          let d = decoders.get(frame.peer);
          if (!d) decoders.set(frame.peer, (d = new PeerDecoder(frame.peer)));
          d.push(frame.key, frame.data);
        } else {
          deliver(frame);
        }
      }
      // At most one round per display refresh; none at all while the window is hidden.
      await nextPaint();
    }
  } finally {
    pumping = false;
  }
}

/** Calls `listener` with `peer`'s pictures until unsubscribed. */
export function onFrames(peer: string, listener: Listener): () => void {
  let set = listeners.get(peer);
  if (!set) {
    listeners.set(peer, (set = new Set()));
    // A decoder here starts at a keyframe.
    restarts.add(peer);
  }
  set.add(listener);
  void pump();
  return () => {
    set.delete(listener);
    if (set.size === 0 && listeners.get(peer) === set) {
      listeners.delete(peer);
      decoders.get(peer)?.close();
      decoders.delete(peer);
    }
  };
}

/** Draws `picture` on `canvas`, resizing it to the picture (CSS scales it to the layout). */
export function draw(canvas: HTMLCanvasElement, picture: Picture) {
  const [width, height] =
    picture.format === "video" ? [picture.video.displayWidth, picture.video.displayHeight] : [picture.width, picture.height];
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const start = performance.now();
  if (picture.format === "video") {
    canvas.getContext("2d")?.drawImage(picture.video, 0, 0);
  } else if (picture.format === "rgba") {
    canvas.getContext("2d")?.putImageData(new ImageData(picture.pixels, width, height), 0, 0);
  } else {
    yuvRenderer(canvas)?.draw(picture);
  }
  received.drawMs += performance.now() - start;
  received.drawn += 1;
  (received.peers[picture.peer] ??= { frames: 0, drawn: 0 }).drawn += 1;
}

const VERTEX = `
attribute vec2 at;
varying vec2 uv;
void main() {
  uv = vec2((at.x + 1.0) * 0.5, (1.0 - at.y) * 0.5);
  gl_Position = vec4(at, 0.0, 1.0);
}`;

// BT.601, limited range: what VP8 and the cameras' conversion use (as in I420Frame::append_rgba).
const FRAGMENT = `
precision mediump float;
varying vec2 uv;
uniform sampler2D ty, tu, tv;
void main() {
  float y = 1.1644 * (texture2D(ty, uv).r - 0.0627);
  float u = texture2D(tu, uv).r - 0.502;
  float v = texture2D(tv, uv).r - 0.502;
  gl_FragColor = vec4(y + 1.5960 * v, y - 0.3918 * u - 0.8130 * v, y + 2.0172 * u, 1.0);
}`;

type I420Picture = Exclude<Frame, { format: "vp8" }>;

interface YuvRenderer {
  draw(frame: I420Picture): void;
}

const renderers = new WeakMap<HTMLCanvasElement, YuvRenderer | null>();

/** A canvas's WebGL program that turns I420 planes into colour; null without WebGL. */
function yuvRenderer(canvas: HTMLCanvasElement): YuvRenderer | null {
  if (renderers.has(canvas)) return renderers.get(canvas) ?? null;
  const gl = canvas.getContext("webgl", { alpha: false, antialias: false, depth: false });
  const renderer = gl ? makeYuvRenderer(gl) : null;
  renderers.set(canvas, renderer);
  return renderer;
}

function makeYuvRenderer(gl: WebGLRenderingContext): YuvRenderer | null {
  const shader = (type: number, source: string) => {
    const s = gl.createShader(type);
    if (!s) return null;
    gl.shaderSource(s, source);
    gl.compileShader(s);
    return gl.getShaderParameter(s, gl.COMPILE_STATUS) ? s : null;
  };
  const vs = shader(gl.VERTEX_SHADER, VERTEX);
  const fs = shader(gl.FRAGMENT_SHADER, FRAGMENT);
  const program = gl.createProgram();
  if (!vs || !fs || !program) return null;
  gl.attachShader(program, vs);
  gl.attachShader(program, fs);
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) return null;
  gl.useProgram(program);
  gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
  const at = gl.getAttribLocation(program, "at");
  gl.enableVertexAttribArray(at);
  gl.vertexAttribPointer(at, 2, gl.FLOAT, false, 0, 0);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  const textures = ["ty", "tu", "tv"].map((name, unit) => {
    const t = gl.createTexture();
    gl.activeTexture(gl.TEXTURE0 + unit);
    gl.bindTexture(gl.TEXTURE_2D, t);
    for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.LINEAR);
    for (const p of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T]) gl.texParameteri(gl.TEXTURE_2D, p, gl.CLAMP_TO_EDGE);
    gl.uniform1i(gl.getUniformLocation(program, name), unit);
    return t;
  });
  return {
    draw(frame) {
      const { width: w, height: h } = frame;
      const cw = Math.ceil(w / 2);
      const ch = Math.ceil(h / 2);
      const bytes = new Uint8Array(frame.pixels.buffer, frame.pixels.byteOffset, frame.pixels.byteLength);
      const planes: [number, number, number][] = [
        [0, w, h],
        [w * h, cw, ch],
        [w * h + cw * ch, cw, ch],
      ];
      planes.forEach(([offset, pw, ph], unit) => {
        gl.activeTexture(gl.TEXTURE0 + unit);
        gl.bindTexture(gl.TEXTURE_2D, textures[unit] ?? null);
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.LUMINANCE, pw, ph, 0, gl.LUMINANCE, gl.UNSIGNED_BYTE,
          bytes.subarray(offset, offset + pw * ph));
      });
      gl.viewport(0, 0, w, h);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    },
  };
}
