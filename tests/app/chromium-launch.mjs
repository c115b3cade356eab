// Headless Chromium as the tests run it: a fake microphone playing a steady tone (a WAV file
// written here; Chromium loops it), fake camera, no permission prompts, loopback candidates.
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "../../ui/node_modules/playwright-core/index.mjs";

/** Ten seconds of a `hz` tone at 0.3, 48 kHz mono, 16-bit. */
function toneWav(path, hz) {
  const rate = 48000;
  const n = rate * 10;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write("RIFF", 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write("WAVEfmt ", 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write("data", 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) {
    buf.writeInt16LE(Math.round(0.3 * 32767 * Math.sin((2 * Math.PI * hz * i) / rate)), 44 + i * 2);
  }
  writeFileSync(path, buf);
}

/** Headless Chromium as the tests and benchmarks run it, with `extra` switches: no permission
 * prompts, sound allowed to play without a click, loopback candidates in place of mDNS names.
 * `sound`: its sound reaches the sound server (Playwright mutes a headless browser with
 * `--mute-audio`; a benchmark that records the speaker needs it not to). */
export async function launch(extra = [], { sound = false } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    ignoreDefaultArgs: sound ? ["--mute-audio"] : [],
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--autoplay-policy=no-user-gesture-required",
      "--use-fake-ui-for-media-stream",
      // Loopback host candidates, not mDNS names (the tests run on one machine).
      "--disable-features=WebRtcHideLocalIpsWithMdns",
      ...extra,
    ],
  });
}

/** Chromium whose microphone plays `hz`; `close()` also removes the tone's file. */
export async function launchWithTone(hz) {
  const dir = mkdtempSync(join(tmpdir(), "tutti-chromium-"));
  const wav = join(dir, "tone.wav");
  toneWav(wav, hz);
  const browser = await launch([
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${wav}`,
  ]);
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
