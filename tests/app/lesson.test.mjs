// The real app (built by `make app`) under a virtual display, driven through tauri-driver and
// WebKitWebDriver: the teacher hosts, a headless student (tutti-peer) knocks with a question and
// a test-pattern camera, the teacher admits, sees the picture, answers the question, runs the
// metronome (the student follows it), reads the student's note in the tuner, writes a
// note and ends the lesson; after a restart (in Korean) the lesson, its note and its question
// are in the history. Screenshots go to $CARGO_TARGET_DIR/screenshots/ (failure.png when it fails).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, mkdirSync, readdirSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Session } from "./webdriver.mjs";
import {
  APP,
  PEER,
  SERVER,
  TARGET,
  appEnv,
  freePort,
  killChildren,
  portOpen,
  run,
  startDriver,
  writeSettings,
} from "./harness.mjs";

// Screenshots of each run (docs/screenshots/ holds copies chosen for the README).
const SHOTS = process.env.TUTTI_SCREENSHOTS ?? join(TARGET, "screenshots");

after(killChildren);

test("a lesson in the real app, from hosting to the history", { timeout: 240_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), "tutti-app-e2e-"));
  const roomPort = await freePort();
  const settings = { name: "김선생", host_locally: true, local_port: roomPort, language: "en" };
  // No sound server: the app must say "no microphone" and go on.
  const env = appEnv(home, settings, { PULSE_SERVER: "unix:/nonexistent" });
  const { driver, base } = await startDriver(env);
  // Without a GPU (as here) the app paints its page without compositing, as users without one
  // get it; WebKitWebDriver's screenshots never return then, so this part takes none unless the
  // machine composites. The restart below composites (TUTTI_COMPOSITING=on) for its screenshot.
  const composited = existsSync("/dev/dri") && readdirSync("/dev/dri").some((n) => n.startsWith("renderD"));
  const shot = async (name) => {
    if (!composited) return;
    mkdirSync(SHOTS, { recursive: true });
    writeFileSync(join(SHOTS, name), await app.screenshot());
  };

  let app = await Session.start(base, APP);
  let student;
  try {
    // Host a lesson.
    const title = await app.until("the home screen", () => app.find(".home input"));
    mkdirSync(SHOTS, { recursive: true });
    await shot("home.png");
    await app.type(title, "Bach partita, bar 12");
    await app.press("Host");
    await app.until("the device check", () => app.findText("Use headphones"));
    await shot("device-check.png");
    await app.press("Continue");
    const codeEl = await app.until("the invite code", () => app.find("[data-testid=invite-code]"), 30_000);
    const code = (await app.text(codeEl)).trim();
    assert.match(code, /^[2-9A-Z]{3}-[2-9A-Z]{3}-[2-9A-Z]{3}$/);
    // No sound card here: said plainly, and the lesson goes on.
    await app.until("the no-microphone notice", () => app.findText("No microphone"));

    // A student knocks, with a question and a test-pattern camera; the code typed in lower case.
    student = run(
      PEER,
      [
        "join", code.toLowerCase(),
        "--server", `ws://127.0.0.1:${roomPort}/ws`,
        "--name", "Omar",
        "--udp", "127.0.0.1",
        "--video", "test-pattern",
        "--ask", "How do I keep the bow straight?",
        "--record-lesson", join(home, "student-recording"),
      ],
      env,
      "student",
    );
    await app.until("Omar in the waiting room", () => app.findText("Omar"), 30_000);
    await app.press("Admit");

    // The question arrives, and so does the picture (frames over the channel to a canvas).
    await app.until("the question", () => app.findText("How do I keep the bow straight?"), 30_000);
    await app.until(
      "the student's picture",
      () =>
        app.execute(`
          const f = document.querySelector('figure.video[data-peer]:not([data-peer=""])');
          return f !== null && f.querySelector('.no-picture') === null;`),
      30_000,
    );
    await app.until("the connection figures", () => app.findText("one-way"), 30_000);
    await measureVideo(app);
    await shot("lesson.png");

    // Answer it: it leaves the open list.
    await app.press("✓ Answered");
    await app.until("the open list to empty", () => app.findText("No questions."));

    // The metronome: the teacher starts it; the student's machine plays it from the shared
    // clock (the student says so), the beat moves on the teacher's screen; then stopped.
    await app.press("Start");
    await app.until("the student to follow the metronome", async () => student.output.includes("metronome: 80 bpm"), 20_000);
    await app.until(
      "the beat on screen",
      () => app.execute("return document.querySelector('[data-testid=metronome-beat] .beat.on') !== null;"),
      10_000,
    );
    await app.press("Stop");
    await app.until("the student to stop it", async () => student.output.includes("metronome: stopped"), 20_000);

    // The tuner: the student's tone (440 Hz) read as A4 on the teacher's screen.
    await app.press("Tuner");
    await app.until(
      "the student's note in the tuner",
      () =>
        app.execute(`return [...document.querySelectorAll('.tuner li')].some((l) =>
          l.textContent.includes('Omar') && l.textContent.includes('A4'));`),
      10_000,
    );
    await app.press("Tuner");

    // Instant replay: the student's last 10 s again in the teacher's ears while the lesson goes
    // on (the app keeps every part it plays; nothing kept, and no Stop would show), then stopped.
    const replayOmar = '[aria-label="Play the last 10 s of Omar again"]';
    await app.click(await app.until("the replay of Omar's part", () => app.find(replayOmar)));
    await app.press("Stop the replay", 10_000);
    await app.until("the replay offered again", () => app.find(replayOmar), 10_000);

    // Recording: the student records for themselves, and the teacher's screen says so (nobody
    // is recorded unawares); the teacher records too, and is told where the files went.
    await app.until("the student's recording shown", () => app.findText("Being recorded by Omar"), 20_000);
    await app.press("● Record");
    await app.until("our recording under way", () => app.findText("Recording into"), 10_000);
    // A mark on its timeline, a second in.
    await sleep(1000);
    await app.press("★ Mark");
    await app.until("the mark counted", () => app.findText("Marks: 1"), 10_000);
    await sleep(1500);
    await app.press("■ Stop recording");
    const saved = await app.until("where it was saved", () => app.find("[data-testid=recording-saved]"), 10_000);
    const folder = (await app.text(saved)).replace("Recording saved in", "").trim();
    assert.ok(
      readdirSync(folder).some((f) => f.endsWith(".wav")),
      `a track in ${folder}: ${readdirSync(folder)}`,
    );
    // The mix, made beside the tracks once the recording stopped.
    await app.until("the recording's mix", async () => readdirSync(folder).includes("mix.opus"), 20_000);

    // A note, saved as it is typed.
    await app.press("Notes");
    const notes = await app.until("the notes", () => app.find(".notes textarea"));
    await app.type(notes, "Bow arm: elbow lower on the G string.");
    await app.until("the note saved", () => app.findText("Saved"), 10_000);

    // Recording again, and left running: ending the lesson stops it, and it is kept.
    await app.press("● Record");
    await app.until("the second recording under way", () => app.findText("Recording into"), 10_000);
    await sleep(1500);

    // End the lesson for everyone (the confirmation answered yes).
    await app.execute("window.confirm = () => true;");
    await app.press("End lesson");
    await app.until("the end of the lesson", () => app.findText("You ended the lesson"), 20_000);
    await app.until("the student to be told", async () => student.exitCode !== null, 20_000);
  } catch (e) {
    mkdirSync(SHOTS, { recursive: true });
    await shot("failure.png").catch(() => {});
    e.message += `\n--- student ---\n${student?.output ?? ""}\n--- driver ---\n${driver.output.slice(-4000)}`;
    throw e;
  } finally {
    await app.end();
  }

  // Restart, in Korean this time: the lesson, its note and its question are kept.
  writeSettings(home, { ...settings, language: "ko" });
  await sleep(500);
  const restarted = await startDriver({ ...env, TUTTI_COMPOSITING: "on" });
  app = await Session.start(restarted.base, APP);
  try {
    await app.press("수업 기록");
    await app.click(await app.until("the past lesson", () => app.findText("Bach partita, bar 12", "button")));
    await app.until("the note", () => app.findText("Bow arm: elbow lower on the G string."));
    await app.until("the question", () => app.findText("How do I keep the bow straight?"));
    // Both recordings listed, the one the end of the lesson stopped too: the student's track
    // and the mix of all, each.
    const mixes = async () =>
      (await app.cmd("POST", "/elements", { using: "xpath", value: "//strong[normalize-space(.)='모두 (믹스)']" })).length;
    await app.until("both recordings' mixes", async () => (await mixes()) === 2);
    await app.until("the student's track", () => app.findText("Omar.wav"));
    // The first take: its mark a second or so in, its waveform drawn from its tracks, and its
    // mix played in the window from the app's own files.
    const firstMark = await app.until("the take's mark", () =>
      app.execute(`const m = document.querySelector('[data-testid=take] [data-testid=marks] li');
        return m ? m.textContent : null;`),
    );
    assert.match(firstMark, /^0:0[12]\.\d ★ 표시$/, firstMark);
    await app.until("the waveform", () =>
      app.execute("return document.querySelector('[data-testid=take]').querySelectorAll('rect.peak').length === 400;"),
    );
    const loud = await app.execute(
      "return Math.max(...[...document.querySelector('[data-testid=take]').querySelectorAll('rect.peak')].map((r) => +r.getAttribute('height')));",
    );
    assert.ok(loud > 5, `the waveform shows sound (tallest peak ${loud} of 96)`);
    await app.press("▶ 재생");
    const played = await app.until(
      "the take playing",
      () =>
        app.execute(`const a = document.querySelector('[data-testid=take-audio]');
          if (a.error) return 'error ' + a.error.code + ' ' + a.error.message;
          return a.currentTime > 0.3 ? 'at ' + a.currentTime + ' of ' + a.duration : null;`),
      20_000,
    );
    assert.match(played, /^at /, played);
    // GStreamer (WebKit's player, a decoder of its own) reads the mix as long as the take.
    const heading = await app.execute("return document.querySelector('[data-testid=take] h4').textContent;");
    const [, min, sec] = heading.match(/(\d+):(\d+(?:\.\d)?)$/) ?? [];
    const decoded = Number(played.split(" of ")[1]);
    const within = sec?.includes(".") ? 0.15 : 1.05;
    assert.ok(Math.abs(decoded - (Number(min) * 60 + Number(sec))) < within, `${heading}: the mix decodes to ${decoded} s`);
    writeFileSync(join(SHOTS, "history-ko.png"), await app.screenshot());
    await app.press("Markdown으로 내보내기");
    const saved = await app.until("the export", () => app.findText("저장 위치"));
    const path = (await app.text(saved)).replace(/^저장 위치\s*/, "");
    const md = readFileSync(path, "utf8");
    assert.match(md, /Bow arm: elbow lower/);
    assert.match(md, /keep the bow straight/);
    // The takes' files beside it, and the mark at its time into the first.
    assert.match(md, /- \*\*0:0[12]\*\* ★ mark/);
    assert.ok(readdirSync(join(dirname(path), "take-1")).includes("mix.opus"), md);
  } finally {
    await app.end();
  }
});

// The room server is killed (SIGKILL) in the middle of a lesson and started again on the same
// port and data: the lesson screen says the room server cannot be reached (not "lesson over"),
// and once it is back the notice goes, and the lesson, the student and the chat carry on.
test("the lesson screen says reconnecting while the room server is away, and carries on", { timeout: 180_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), "tutti-app-reconnect-"));
  const data = mkdtempSync(join(tmpdir(), "tutti-server-data-"));
  const port = await freePort();
  const url = `ws://127.0.0.1:${port}/ws`;
  const startServer = async () => {
    const server = run(SERVER, ["--listen", `127.0.0.1:${port}`, "--data", data], process.env, "server");
    const deadline = Date.now() + 20_000;
    while (!(await portOpen(port))) {
      assert.ok(Date.now() < deadline, `the room server did not start: ${server.output}`);
      await sleep(100);
    }
    return server;
  };
  let server = await startServer();
  const settings = { name: "김선생", host_locally: false, server_url: url, language: "en" };
  const env = appEnv(home, settings, { PULSE_SERVER: "unix:/nonexistent" });
  const { driver, base } = await startDriver(env);
  const app = await Session.start(base, APP);
  const away = "The room server cannot be reached";
  let student;
  let other;
  try {
    // Before anything: another teacher's lesson is previewed as its code is typed (the app asks
    // the room server over HTTP), and a wrong code is said before anyone knocks.
    other = run(PEER, ["host", "--server", url, "--name", "이선생", "--title", "Duets", "--udp", "127.0.0.1"], env, "other");
    await app.until("the other lesson's code", async () => /invite: \S+/.test(other.output), 30_000);
    const otherCode = /invite: (\S+)/.exec(other.output)[1];
    const codeBox = await app.until("the code box", () => app.find(".code-input"));
    await app.type(codeBox, otherCode.toLowerCase().replaceAll("-", " "));
    const card = await app.until("the invite card", () => app.find("[data-testid=invite-card]"), 20_000);
    const said = await app.text(card);
    assert.ok(said.includes("Duets") && said.includes("이선생") && said.includes("has started"), said);
    await app.clear(codeBox);
    await app.type(codeBox, otherCode.startsWith("Z") ? "YYY-YYY-YYY" : "ZZZ-ZZZ-ZZZ");
    await app.until("the wrong code said", () => app.find("[data-code=wrong_code]"), 20_000);
    await app.clear(codeBox);
    process.kill(-other.pid, "SIGTERM");

    await app.type(await app.until("the home screen", () => app.find(".home input")), "Scales");
    await app.press("Host");
    // The connection check on the device check screen, against the lesson's room server (the
    // app's command, the server's /api/check): it answers and offers no relay.
    await app.press("Connection check", 30_000);
    const verdict = await app.until(
      "the connection check's verdict",
      () => app.execute("const v = document.querySelector('[data-testid=check-verdict]'); return v && v.dataset.verdict;"),
      30_000,
    );
    assert.equal(verdict, "direct_only");
    assert.equal(
      await app.execute("return document.querySelector('[data-testid=check-server_ws]').dataset.ok;"),
      "true",
    );
    await app.press("Continue", 30_000);
    const codeEl = await app.until("the invite code", () => app.find("[data-testid=invite-code]"), 30_000);
    const code = (await app.text(codeEl)).trim();
    student = run(PEER, ["join", code, "--server", url, "--name", "Omar", "--udp", "127.0.0.1"], env, "student");
    await app.until("Omar in the waiting room", () => app.findText("Omar"), 30_000);
    await app.press("Admit");
    await app.until("the connection figures", () => app.findText("one-way"), 30_000);

    process.kill(-server.pid, "SIGKILL");
    await app.until("the reconnecting notice", () => app.findText(away), 30_000);
    assert.ok(await app.find("[data-testid=invite-code]"), "still on the lesson screen");
    await sleep(3000);
    assert.ok(await app.findText(away), "said for as long as it is away");
    assert.equal(await app.findText("Admit", "button"), null, "the student is not knocking again");

    server = await startServer();
    await app.until("the notice gone", async () => (await app.findText(away)) === null, 30_000);
    assert.ok(await app.find("[data-testid=invite-code]"), "the lesson goes on");
    assert.ok(await app.findText("Omar"), "with the student in it");
    // The room server carries the lesson again: a chat line goes out and comes back.
    await app.press("Chat");
    await app.type(await app.until("the chat box", () => app.find(".chat input")), "Again from bar 12");
    await app.press("Send");
    await app.until("the chat line", () => app.findText("Again from bar 12"), 20_000);
    assert.equal(student.exitCode, null, "the student is still in the lesson");
  } catch (e) {
    const page = await app.execute("return document.body.innerText;").catch(() => "");
    e.message += `\n--- page ---\n${page}\n--- other ---\n${other?.output ?? ""}\n--- student ---\n${student?.output ?? ""}\n--- server ---\n${server.output.slice(-3000)}\n--- driver ---\n${driver.output.slice(-4000)}`;
    throw e;
  } finally {
    await app.end();
  }
});

/** Prints what the picture path costs in this window over 3 s, and what decoding the same
 * picture as JPEG would cost here. */
async function measureVideo(app) {
  const read = () => app.execute("return { ...window.__tuttiVideo };");
  const a = await read();
  await sleep(3000);
  const b = await read();
  const frames = b.frames - a.frames;
  const drawn = b.drawn - a.drawn;
  assert.ok(frames > 0, "frames arrive while the student sends them");
  const jpeg = await app.executeAsync(`
    const done = arguments[arguments.length - 1];
    const canvas = document.querySelector('figure.video[data-peer]:not([data-peer=""]) canvas');
    canvas.toBlob(async (blob) => {
      const target = document.createElement("canvas");
      target.width = canvas.width;
      target.height = canvas.height;
      const ctx = target.getContext("2d");
      const start = performance.now();
      for (let i = 0; i < 30; i++) {
        const bitmap = await createImageBitmap(blob);
        ctx.drawImage(bitmap, 0, 0);
        bitmap.close();
      }
      done({ bytes: blob.size, ms: (performance.now() - start) / 30 });
    }, "image/jpeg", 0.85);`);
  const figures = {
    bench: "video_to_webview",
    fps: +(frames / 3).toFixed(1),
    bytes_per_frame: Math.round((b.bytes - a.bytes) / frames),
    parse_ms: +((b.parseMs - a.parseMs) / frames).toFixed(3),
    draw_ms: +((b.drawMs - a.drawMs) / Math.max(drawn, 1)).toFixed(3),
    jpeg_bytes_per_frame: jpeg.bytes,
    jpeg_decode_draw_ms: +jpeg.ms.toFixed(3),
  };
  console.log(JSON.stringify(figures));
}
