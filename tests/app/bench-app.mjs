// The real app on a student's laptop, measured (`make bench-app`): the app (as `make app`
// builds it) under a virtual display with a userspace PulseAudio (a real microphone and
// speaker), hosting a lesson. First with nobody there, then with students (`tutti-peer`
// processes sending the stamped test pattern and a tone) admitted. Over the window it samples
// the CPU of every process of the app (tutti and WebKit's), the pictures the page received and
// drew per participant, the time a draw takes, and how fast the page answers (a WebDriver
// round trip, as a click would wait). Prints a table, then one JSON line last.
//
//   node tests/app/bench-app.mjs [--students N] [--size WxH] [--seconds S] [--compositing on|off]
//                                [--pictures rgba|i420] [--no-sound]
//
// Run under a display: `xvfb-run -a -s "-screen 0 1440x900x24" node tests/app/bench-app.mjs`.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { Session } from "./webdriver.mjs";
import {
  APP, PEER, appEnv, appProcesses, cpuMeter, freePort, killChildren, run, startDriver, startPulse,
} from "./harness.mjs";

const { values: opts } = parseArgs({
  options: {
    students: { type: "string", default: "1" },
    size: { type: "string" },
    seconds: { type: "string", default: "30" },
    idle: { type: "string", default: "10" },
    compositing: { type: "string" },
    pictures: { type: "string" },
    "no-sound": { type: "boolean", default: false },
  },
});
const students = Number(opts.students);
const size = opts.size ?? (students > 1 ? "320x240" : "640x480");
const seconds = Number(opts.seconds);

const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const round = (x, d = 1) => +x.toFixed(d);

const home = mkdtempSync(join(tmpdir(), "tutti-bench-app-"));
const roomPort = await freePort();
const extra = {
  ...(opts.compositing ? { TUTTI_COMPOSITING: opts.compositing } : {}),
  ...(opts.pictures ? { TUTTI_PICTURES: opts.pictures } : {}),
  // The app's config lives under XDG_CONFIG_HOME here, and so does PulseAudio's cookie; cpal's
  // PulseAudio client looks only in $HOME/.config (unlike libpulse), fails to authenticate and
  // falls back to ALSA's PulseAudio plugin. A user without XDG_CONFIG_HOME gets the native
  // client, so that is what is measured.
  PULSE_COOKIE: join(home, "config/pulse/cookie"),
};
const env = appEnv(home, { name: "Teacher", host_locally: true, local_port: roomPort, language: "en" }, extra);
let stopPulse = () => {};
if (opts["no-sound"]) {
  env.PULSE_SERVER = "unix:/nonexistent";
} else {
  try {
    execFileSync("pulseaudio", ["--version"], { stdio: "ignore" });
    stopPulse = startPulse(env);
  } catch (e) {
    console.error(`no PulseAudio (${e.message}): the app runs without sound devices`);
  }
}

const { base } = await startDriver(env);
const app = await Session.start(base, APP);
let result;
try {
  const title = await app.until("the home screen", () => app.find(".home input"));
  await app.type(title, "Benchmark");
  await app.press("Host");
  await app.press("Continue", 30_000);
  const codeEl = await app.until("the invite code", () => app.find("[data-testid=invite-code]"), 30_000);
  const code = (await app.text(codeEl)).trim();

  // An open lesson with nobody there.
  await sleep(3000);
  const idle = cpuMeter(appProcesses());
  await sleep(Number(opts.idle) * 1000);
  const idleCpu = idle.stop();

  // The students: each knocks, the teacher admits.
  const studentEnv = { ...process.env, HOME: join(home, "students"), PULSE_SERVER: "unix:/nonexistent" };
  for (let i = 1; i <= students; i++) {
    run(PEER, ["join", code, "--server", `ws://127.0.0.1:${roomPort}/ws`, "--name", `Student ${i}`,
      "--udp", "127.0.0.1", "--source", `tone:${330 + 110 * i}`, "--video", "test-pattern",
      "--video-size", size], studentEnv, `student${i}`);
  }
  const inLesson = () =>
    app.execute(`return document.querySelectorAll('figure.video[data-peer]:not([data-peer=""])').length;`);
  const admitting = Date.now() + 120_000;
  while ((await inLesson()) < students) {
    if (Date.now() > admitting) throw new Error("the students were not all admitted");
    // The waiting room changes as students knock: a button may be gone by the click.
    const button = await app.findText("Admit", "button").catch(() => null);
    if (button) await app.click(button).catch(() => {});
    await sleep(300);
  }
  await app.until(
    "every student's picture",
    () =>
      app.execute(`
        const figs = [...document.querySelectorAll('figure.video[data-peer]:not([data-peer=""])')];
        return figs.length === ${students} && figs.every((f) => f.querySelector('.no-picture') === null);`),
    60_000,
  );
  await sleep(3000);

  // The window: CPU, pictures, draw time, and the page's answers meanwhile.
  const read = () => app.execute("return JSON.parse(JSON.stringify(window.__tuttiVideo));");
  const before = await read();
  const procs = appProcesses();
  const cpu = cpuMeter(procs);
  const t0 = performance.now();
  const rtts = [];
  while (performance.now() - t0 < seconds * 1000) {
    const s = performance.now();
    await app.execute("return 1;");
    rtts.push(performance.now() - s);
    await sleep(200);
  }
  const elapsed = (performance.now() - t0) / 1000;
  const used = cpu.stop();
  const after = await read();

  const peers = Object.keys(after.peers).filter((p) => p !== "");
  const perPeer = peers.map((p) => ({
    received_fps: round((after.peers[p].frames - (before.peers[p]?.frames ?? 0)) / elapsed),
    shown_fps: round((after.peers[p].drawn - (before.peers[p]?.drawn ?? 0)) / elapsed),
  }));
  const drawn = after.drawn - before.drawn;
  result = {
    bench: "app",
    students,
    size,
    compositing: opts.compositing ?? "auto",
    pictures: opts.pictures ?? "default",
    sound: !opts["no-sound"],
    shown_fps: round(Math.min(...perPeer.map((p) => p.shown_fps))),
    shown_fps_each: perPeer.map((p) => p.shown_fps),
    received_fps_each: perPeer.map((p) => p.received_fps),
    draw_ms: round((after.drawMs - before.drawMs) / Math.max(drawn, 1), 2),
    app_cpu_pct: used.total,
    idle_cpu_pct: idleCpu.total,
    page_rtt_ms: round(percentile(rtts, 95)),
    page_rtt_p50_ms: round(percentile(rtts, 50)),
    cpu_by_process: used.per,
    idle_cpu_by_process: idleCpu.per,
    app_threads: used.threads,
    idle_app_threads: idleCpu.threads,
  };
} finally {
  await app.end();
  killChildren();
  stopPulse();
}

console.log(`students ${students} at ${size}, ${seconds} s, compositing ${result.compositing}, pictures ${result.pictures}`);
console.log(`  pictures shown per second (lowest of the students): ${result.shown_fps}`);
console.log(`  shown, each: ${result.shown_fps_each.join(", ")}; received: ${result.received_fps_each.join(", ")}`);
console.log(`  draw: ${result.draw_ms} ms a picture`);
console.log(`  app CPU: ${result.app_cpu_pct} % of one core (${JSON.stringify(result.cpu_by_process)})`);
console.log(`  open lesson, nobody there: ${result.idle_cpu_pct} % (${JSON.stringify(result.idle_cpu_by_process)})`);
console.log(`  the app's threads: ${JSON.stringify(result.app_threads)}`);
console.log(`  the app's threads, nobody there: ${JSON.stringify(result.idle_app_threads)}`);
console.log(`  page answers: p50 ${result.page_rtt_p50_ms} ms, p95 ${result.page_rtt_ms} ms`);
console.log(JSON.stringify(result));
process.exit(0);
