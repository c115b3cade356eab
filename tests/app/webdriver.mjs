// A small W3C WebDriver client over fetch, for tauri-driver (no dependencies to install).
import { setTimeout as sleep } from "node:timers/promises";

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

export class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  static async start(base, application) {
    const body = {
      capabilities: {
        alwaysMatch: { browserName: "wry", "tauri:options": { application } },
      },
    };
    // tauri-driver listens before the WebKitWebDriver it forwards to does: a connection it
    // drops on the first request (seen on a busy machine) is tried again; an HTTP error is not.
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await request(base, "POST", "/session", body);
        return new Session(base, r.sessionId);
      } catch (e) {
        if (!(e instanceof TypeError) || attempt >= 3) throw e;
        await sleep(1000);
      }
    }
  }

  cmd(method, path, body) {
    return request(this.base, method, `/session/${this.id}${path}`, body);
  }

  async end() {
    await this.cmd("DELETE", "").catch(() => {});
  }

  /** The first element matching `css`, or null. */
  async find(css) {
    const r = await this.cmd("POST", "/elements", { using: "css selector", value: css });
    return r.length ? r[0][ELEMENT] : null;
  }

  /** The first element whose own text contains `text` (any tag), or null. */
  async findText(text, tag = "*") {
    const r = await this.cmd("POST", "/elements", {
      using: "xpath",
      value: `//${tag}[contains(normalize-space(.), ${xpathString(text)}) and not(.//${tag}[contains(normalize-space(.), ${xpathString(text)})])]`,
    });
    return r.length ? r[0][ELEMENT] : null;
  }

  click(el) {
    return this.cmd("POST", `/element/${el}/click`, {});
  }

  type(el, text) {
    return this.cmd("POST", `/element/${el}/value`, { text });
  }

  clear(el) {
    return this.cmd("POST", `/element/${el}/clear`, {});
  }

  text(el) {
    return this.cmd("GET", `/element/${el}/text`);
  }

  execute(script, args = []) {
    return this.cmd("POST", "/execute/sync", { script, args });
  }

  /** Runs `script`, whose last argument is a callback to call with the result. */
  executeAsync(script, args = []) {
    return this.cmd("POST", "/execute/async", { script, args });
  }

  screenshot() {
    return this.cmd("GET", "/screenshot").then((b64) => Buffer.from(b64, "base64"));
  }

  /** Polls `probe` until it returns something truthy; fails with `what` after `ms`. */
  async until(what, probe, ms = 20_000) {
    const deadline = Date.now() + ms;
    let last;
    while (Date.now() < deadline) {
      try {
        const v = await probe();
        if (v) return v;
      } catch (e) {
        last = e;
      }
      await sleep(200);
    }
    throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
  }

  /** Waits for a button with this text and clicks it. */
  async press(label, ms) {
    const el = await this.until(`the button "${label}"`, () => this.findText(label, "button"), ms);
    await this.click(el);
  }
}

function xpathString(s) {
  return s.includes('"') ? `concat("${s.split('"').join(`", '"', "`)}")` : `"${s}"`;
}

async function request(base, method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json.value ?? json)}`);
  }
  return json.value;
}
