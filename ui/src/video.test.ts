import { parseFrame } from "./video";

function message(width: number, height: number, peer: string, extra = 0): ArrayBuffer {
  const id = new TextEncoder().encode(peer);
  const buf = new ArrayBuffer(12 + id.length + width * height * 4 + extra);
  const view = new DataView(buf);
  view.setUint32(0, width, true);
  view.setUint32(4, height, true);
  view.setUint32(8, id.length, true);
  new Uint8Array(buf, 12, id.length).set(id);
  new Uint8Array(buf, 12 + id.length).fill(7);
  return buf;
}

describe("frames from the backend", () => {
  it("reads size, participant and pixels", () => {
    const f = parseFrame(message(4, 2, "p-김"))!;
    expect([f.width, f.height, f.peer]).toEqual([4, 2, "p-김"]);
    expect(f.rgba.length).toBe(32);
    expect(f.rgba[31]).toBe(7);
  });

  it("rejects what is not a whole frame", () => {
    expect(parseFrame(new ArrayBuffer(5))).toBeNull();
    expect(parseFrame(message(4, 2, "", 1))).toBeNull();
    expect(parseFrame(message(4, 2, "").slice(0, 30))).toBeNull();
    expect(parseFrame(message(0, 2, ""))).toBeNull();
  });
});
