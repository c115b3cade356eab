// What the app test and the app benchmark share: where the binaries are, child processes that
// are cleaned up, free ports, tauri-driver, a userspace PulseAudio, and per-process CPU from /proc.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import assert from "node:assert/strict";

export const TARGET = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, ".cache/tutti-target");
export const APP = join(TARGET, "debug/tutti");
export const PEER = join(TARGET, "debug/tutti-peer");
export const SERVER = join(TARGET, "debug/tutti-server");

const children = [];

/** Kills every child started with `run`, and what each of them started. */
export function killChildren() {
  for (const c of children.splice(0)) {
    try {
      process.kill(-c.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on("error", fail);
  });
}

export async function portOpen(port) {
  return new Promise((ok) => {
    const c = connect(port, "127.0.0.1", () => {
      c.end();
      ok(true);
    });
    c.on("error", () => ok(false));
  });
}

/** Starts `cmd` as the leader of its own process group (so what it starts goes with it),
 * keeping its output in `child.output`. */
export function run(cmd, args, env, name) {
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  child.output = "";
  const keep = (d) => {
    child.output += d;
    if (process.env.TUTTI_E2E_VERBOSE) process.stderr.write(`[${name}] ${d}`);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  children.push(child);
  return child;
}

/** The environment of an app with its own home under `home`, and its settings file. */
export function appEnv(home, settings, extra = {}) {
  const env = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, "config"),
    XDG_DATA_HOME: join(home, "data"),
    XDG_RUNTIME_DIR: join(home, "run"),
    RUST_LOG: "info",
    ...extra,
  };
  mkdirSync(join(home, "run"), { recursive: true, mode: 0o700 });
  writeSettings(home, settings);
  return env;
}

export function writeSettings(home, settings) {
  const dir = join(home, "config/app.tutti.desktop");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "settings.json"), JSON.stringify(settings));
}

/** tauri-driver on a free port; its base URL. */
export async function startDriver(env) {
  const port = await freePort();
  // Its WebKitWebDriver on a free port too, so that two drivers can run at once.
  const native = await freePort();
  const driver = run("tauri-driver", ["--port", String(port), "--native-port", String(native)], env, "driver");
  const deadline = Date.now() + 20_000;
  while (!(await portOpen(port))) {
    assert.ok(Date.now() < deadline, `tauri-driver did not start: ${driver.output}`);
    await sleep(100);
  }
  return { driver, base: `http://127.0.0.1:${port}` };
}

/** A userspace PulseAudio for `env` (its HOME and XDG_RUNTIME_DIR), with a 48 kHz null sink
 * whose monitor is the default source: the app gets a real microphone and speaker. */
export function startPulse(env) {
  const opts = { env, stdio: "ignore" };
  execFileSync("pulseaudio", ["-D", "--exit-idle-time=-1", "--disallow-exit", "--log-target=stderr"], opts);
  const pactl = (...a) => execFileSync("pactl", a, opts);
  pactl("load-module", "module-null-sink", "sink_name=tutti_null", "rate=48000", "channels=2",
    "format=float32le");
  pactl("set-default-sink", "tutti_null");
  pactl("set-default-source", "tutti_null.monitor");
  // Otherwise the null sink's output stalls for seconds at a time.
  try {
    pactl("unload-module", "module-suspend-on-idle");
  } catch {
    // Not loaded.
  }
  return () => {
    try {
      execFileSync("pulseaudio", ["--kill"], opts);
    } catch {
      // Already gone.
    }
  };
}

/** CPU time (user + system, in seconds) of `pid`, or null when it is gone. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return null;
  }
}

function processes() {
  const out = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      out.push({ pid: Number(d), ppid, comm });
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** The app's processes: every process named `tutti` and all it started (WebKit's). */
export function appProcesses() {
  const all = processes();
  const ids = new Set(all.filter((p) => p.comm === "tutti").map((p) => p.pid));
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (!ids.has(p.pid) && ids.has(p.ppid)) {
        ids.add(p.pid);
        grew = true;
      }
    }
  }
  return all.filter((p) => ids.has(p.pid));
}

/** Starts measuring the CPU of `procs`; `stop()` gives, per process name and in all, the % of
 * one core they used since, and per thread name of the processes named `tutti`. */
export function cpuMeter(procs) {
  const before = procs.map((p) => cpuSeconds(p.pid));
  const threadsBefore = appThreads(procs);
  const t0 = performance.now();
  return {
    stop: () => {
      const elapsed = (performance.now() - t0) / 1000;
      const result = cpuSince(procs, before, elapsed);
      const threads = {};
      for (const [key, t] of appThreads(procs)) {
        const was = threadsBefore.get(key);
        if (!was) continue;
        const pct = (100 * (t.cpu - was.cpu)) / elapsed;
        threads[t.name] = +((threads[t.name] ?? 0) + pct).toFixed(1);
      }
      result.threads = Object.fromEntries(Object.entries(threads).filter(([, v]) => v >= 0.5).sort((a, b) => b[1] - a[1]));
      return result;
    },
  };
}

/** The threads of the `tutti` processes among `procs`: pid/tid → name and CPU seconds. */
function appThreads(procs) {
  const out = new Map();
  for (const p of procs.filter((p) => p.comm === "tutti")) {
    let tids = [];
    try {
      tids = readdirSync(`/proc/${p.pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${p.pid}/task/${tid}/stat`, "utf8");
        const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        const cpu = cpuSeconds(`${p.pid}/task/${tid}`);
        if (cpu !== null) out.set(`${p.pid}/${tid}`, { name, cpu });
      } catch {
        // Gone meanwhile.
      }
    }
  }
  return out;
}

function cpuSince(procs, before, elapsed) {
  const per = {};
  let total = 0;
  procs.forEach((p, i) => {
    const after = cpuSeconds(p.pid);
    if (after === null || before[i] === null) return;
    const pct = (100 * (after - before[i])) / elapsed;
    per[p.comm] = +((per[p.comm] ?? 0) + pct).toFixed(1);
    total += pct;
  });
  return { total: +total.toFixed(1), per };
}
