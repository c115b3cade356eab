// One WebRTC peer in headless Chromium, driven over stdin/stdout in JSON lines, for the tests
// that hold Tutti against an independent WebRTC stack (tests/tests/chromium.rs).
//
// In:  {"offer": SDP}  {"candidate": {candidate, sdpMid, sdpMLineIndex}}  {"report": true}
// Out: {"answer": SDP} {"candidate": {...}}  {"connected": true}  {"report": {...}}
//
// It sends a steady tone (--tone HZ, default 440) from Chromium's fake microphone (a WAV file
// it writes; no echo cancellation, gain control or noise suppression, as Tutti sends), plays
// what it receives through an audio element, and reports Chromium's own receive statistics:
// the codec, packets, samples decoded and concealed, and the level.
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { launchWithTone } from "./chromium-launch.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const hz = Number(arg("tone", "440"));
const out = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);

const { browser, close } = await launchWithTone(hz);
// Media devices exist only in a secure context: loopback HTTP is one.
const server = createServer((_, res) => res.end("<!doctype html><title>peer</title>"));
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const done = async (code) => {
  await close();
  server.close();
  process.exit(code);
};
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.error(`page: ${m.text()}`));
  await page.exposeFunction("tuttiOut", (msg) => out(msg));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.evaluate(async () => {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, autoGainControl: false, noiseSuppression: false },
    });
    const pc = new RTCPeerConnection();
    window.pc = pc;
    stream.getTracks().forEach((t) => pc.addTrack(t, stream));
    pc.onicecandidate = (e) => {
      if (e.candidate) {
        const { candidate, sdpMid, sdpMLineIndex } = e.candidate;
        window.tuttiOut({ candidate: { candidate, sdpMid, sdpMLineIndex } });
      }
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "connected") window.tuttiOut({ connected: true });
    };
    pc.ontrack = (e) => {
      // Played, so that Chromium's audio path pulls (decodes) what arrives.
      const el = new Audio();
      el.srcObject = new MediaStream([e.track]);
      el.play().catch((err) => console.log(`play: ${err}`));
      window.playing = el;
    };
  });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const msg = JSON.parse(line);
    if (msg.offer) {
      const answer = await page.evaluate(async (sdp) => {
        await window.pc.setRemoteDescription({ type: "offer", sdp });
        const a = await window.pc.createAnswer();
        await window.pc.setLocalDescription(a);
        return window.pc.localDescription.sdp;
      }, msg.offer);
      out({ answer });
    } else if (msg.candidate) {
      await page.evaluate((c) => window.pc.addIceCandidate(c), msg.candidate);
    } else if (msg.report) {
      const report = await page.evaluate(async () => {
        const stats = await window.pc.getStats();
        const r = { inbound: null, codec: null, outbound_codec: null };
        const codecs = new Map();
        stats.forEach((s) => s.type === "codec" && codecs.set(s.id, s));
        stats.forEach((s) => {
          if (s.type === "inbound-rtp" && s.kind === "audio") {
            r.inbound = {
              packets: s.packetsReceived,
              lost: s.packetsLost,
              samples: s.totalSamplesReceived,
              concealed: s.concealedSamples,
              level: s.audioLevel ?? null,
              jitter_buffer_ms:
                s.jitterBufferEmittedCount > 0 ? (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount : null,
            };
            r.codec = codecs.get(s.codecId)?.mimeType ?? null;
          }
          if (s.type === "outbound-rtp" && s.kind === "audio") {
            r.outbound_codec = codecs.get(s.codecId)?.mimeType ?? null;
            r.packets_sent = s.packetsSent;
          }
        });
        return r;
      });
      out({ report });
    }
  }
  await done(0);
} catch (e) {
  console.error(`chromium-peer: ${e?.stack ?? e}`);
  await done(1);
}
