// A WebRTC call in headless Chromium, for `tutti-peer bench devices` to measure beside Tutti's:
// one page, two peer connections, the microphone named by --mic (no echo cancellation, gain
// control or noise suppression, as Tutti sends) sent to the other, which plays it on the
// speaker named by --speaker. Opus stereo at 128 kb/s, Chromium's own jitter buffer and audio
// path. Runs until --seconds have passed, printing `calling` once sound flows and one JSON line
// (`{"chromium":…}`) at the end. The sound server is the one in the environment
// (PULSE_SERVER, XDG_RUNTIME_DIR).
import { createServer } from "node:http";
import { launch } from "./chromium-launch.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const mic = arg("mic");
const speaker = arg("speaker");
const seconds = Number(arg("seconds", "20"));
if (!mic || !speaker) {
  console.error("usage: chromium-call.mjs --mic NAME --speaker NAME [--seconds S]");
  process.exit(2);
}

const browser = await launch([], { sound: true });
// Media devices exist only in a secure context: loopback HTTP is one.
const server = createServer((_, res) => res.end("<!doctype html><title>call</title>"));
await new Promise((r) => server.listen(0, "127.0.0.1", r));
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  page.on("console", (m) => console.error(`page: ${m.text()}`));
  const result = await page.evaluate(
    async ({ mic, speaker, seconds }) => {
      // Labels appear once access is granted.
      (await navigator.mediaDevices.getUserMedia({ audio: true })).getTracks().forEach((t) => t.stop());
      const devices = await navigator.mediaDevices.enumerateDevices();
      const find = (kind, label) => devices.find((d) => d.kind === kind && d.label.includes(label));
      const input = find("audioinput", mic);
      const output = find("audiooutput", speaker);
      if (!input || !output) {
        return { error: `devices not found: ${devices.map((d) => `${d.kind}:${d.label}`).join(", ")}` };
      }
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: {
          deviceId: { exact: input.deviceId },
          echoCancellation: false,
          autoGainControl: false,
          noiseSuppression: false,
          channelCount: 2,
        },
      });
      const a = new RTCPeerConnection();
      const b = new RTCPeerConnection();
      a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
      b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
      stream.getTracks().forEach((t) => a.addTrack(t, stream));
      const played = new Promise((resolve) => {
        b.ontrack = async (e) => {
          const el = new Audio();
          el.srcObject = e.streams[0];
          await el.setSinkId(output.deviceId);
          await el.play();
          resolve();
        };
      });
      const music = (sdp) =>
        sdp.replace(/a=fmtp:111 ([^\r\n]*)/, "a=fmtp:111 $1;stereo=1;sprop-stereo=1;maxaveragebitrate=128000");
      const offer = await a.createOffer();
      await a.setLocalDescription({ type: "offer", sdp: music(offer.sdp) });
      await b.setRemoteDescription(a.localDescription);
      const answer = await b.createAnswer();
      await b.setLocalDescription({ type: "answer", sdp: music(answer.sdp) });
      await a.setRemoteDescription(b.localDescription);
      await played;
      console.log("calling");
      await new Promise((r) => setTimeout(r, seconds * 1000));
      let jitterBufferMs = null;
      (await b.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio" && s.jitterBufferEmittedCount > 0) {
          jitterBufferMs = (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount;
        }
      });
      a.close();
      b.close();
      return { mic: input.label, speaker: output.label, jitter_buffer_ms: jitterBufferMs };
    },
    { mic, speaker, seconds },
  );
  console.log(JSON.stringify({ chromium: result }));
  if (result.error) process.exitCode = 1;
} finally {
  await browser.close();
  server.close();
}
