import { onFrames, parseFrames, type Frame } from "./video";
import { fakeBackend } from "./test/ipc";

function message(width: number, height: number, peer: string, fill = 7, format = 0): Uint8Array {
  const id = new TextEncoder().encode(peer);
  const pixels = format === 0 ? width * height * 4 : width * height + 2 * Math.ceil(width / 2) * Math.ceil(height / 2);
  const buf = new Uint8Array(16 + id.length + pixels);
  const view = new DataView(buf.buffer);
  view.setUint32(0, width, true);
  view.setUint32(4, height, true);
  view.setUint32(8, format, true);
  view.setUint32(12, id.length, true);
  buf.set(id, 16);
  buf.fill(fill, 16 + id.length);
  return buf;
}

function coded(peer: string, key: boolean, bytes: number[]): Uint8Array {
  const id = new TextEncoder().encode(peer);
  const buf = new Uint8Array(16 + id.length + 5 + bytes.length);
  const view = new DataView(buf.buffer);
  view.setUint32(8, 2, true);
  view.setUint32(12, id.length, true);
  buf.set(id, 16);
  view.setUint8(16 + id.length, key ? 1 : 0);
  view.setUint32(16 + id.length + 1, bytes.length, true);
  buf.set(bytes, 16 + id.length + 5);
  return buf;
}

/** The picture's fields, whichever kind it is. */
function fields(f: Frame): unknown[] {
  return f.format === "vp8"
    ? [f.peer, f.format, f.key, [...f.data]]
    : [f.peer, f.format, f.width, f.height, f.pixels.length, f.pixels[0]];
}

function reply(...messages: Uint8Array[]): ArrayBuffer {
  const out = new Uint8Array(messages.reduce((n, m) => n + m.length, 0));
  let at = 0;
  for (const m of messages) {
    out.set(m, at);
    at += m.length;
  }
  return out.buffer;
}

describe("pictures from the backend", () => {
  it("reads size, participant and pixels", () => {
    const f = parseFrames(reply(message(4, 2, "p-김")))![0]!;
    expect(fields(f)).toEqual(["p-김", "rgba", 4, 2, 32, 7]);
  });

  it("reads every picture of a reply, each with its own pixels", () => {
    const frames = parseFrames(reply(message(2, 2, "a", 1), message(3, 1, "", 2), message(5, 3, "b", 3, 1)))!;
    expect(frames.map(fields)).toEqual([
      ["a", "rgba", 2, 2, 16, 1],
      ["", "rgba", 3, 1, 12, 2],
      // I420: 5×3 luma, 3×2 of each chroma plane.
      ["b", "i420", 5, 3, 27, 3],
    ]);
  });

  it("reads coded pictures among the others", () => {
    const frames = parseFrames(reply(coded("a", true, [9, 8, 7]), message(1, 1, "", 5), coded("a", false, [])))!;
    expect(frames.map(fields)).toEqual([
      ["a", "vp8", true, [9, 8, 7]],
      ["", "rgba", 1, 1, 4, 5],
      ["a", "vp8", false, []],
    ]);
    expect(parseFrames(reply(coded("a", true, [1, 2])).slice(0, 23))).toBeNull();
  });

  it("an empty reply is no pictures", () => {
    expect(parseFrames(new ArrayBuffer(0))).toEqual([]);
  });

  it("rejects what is not whole pictures", () => {
    expect(parseFrames(new ArrayBuffer(5))).toBeNull();
    expect(parseFrames(reply(message(4, 2, ""), new Uint8Array(1)))).toBeNull();
    expect(parseFrames(reply(message(4, 2, "")).slice(0, 34))).toBeNull();
    expect(parseFrames(reply(message(0, 2, "")))).toBeNull();
    expect(parseFrames(reply(message(2, 2, "", 7, 9)))).toBeNull();
  });
});

describe("the picture pump", () => {
  const until = async (ok: () => boolean) => {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(ok()).toBe(true);
  };

  it("asks for everyone on screen in one request at a time, and stops when nobody listens", async () => {
    let inFlight = 0;
    let most = 0;
    const asked: string[][] = [];
    fakeBackend({
      next_pictures: async (args) => {
        const peers = (args.request as { peers: string[] }).peers;
        asked.push(peers);
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 2));
        inFlight -= 1;
        return reply(...peers.map((p) => message(2, 2, p)));
      },
    });
    const seen: string[] = [];
    const offA = onFrames("a", (f) => seen.push(f.peer));
    const offB = onFrames("b", (f) => seen.push(f.peer));
    await until(() => seen.includes("a") && seen.includes("b"));
    expect(asked.some((p) => p.includes("a") && p.includes("b"))).toBe(true);
    expect(most).toBe(1);
    offA();
    offB();
    await new Promise((r) => setTimeout(r, 50));
    const requests = asked.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(asked.length).toBe(requests);
  });
});
