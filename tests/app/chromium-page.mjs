// The room server's own lesson page (/join/CODE, /watch/CODE) in headless Chromium, with its
// default WebRTC settings, for tests/tests/chromium.rs. Its microphone plays a steady tone
// (--tone HZ). It opens each --url (a page each), which joins as the page does when a name is
// given, and prints what the pages report (window.tutti.report(): per participant, Chromium's
// own receive statistics and the pitch it hears), as one JSON line holding an array in the
// order of the URLs, each time a line comes on stdin; it ends when stdin does.
import { createInterface } from "node:readline";
import { launchWithTone } from "./chromium-launch.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const urls = process.argv.flatMap((a, i) => (a === "--url" ? [process.argv[i + 1]] : []));
const { browser, close } = await launchWithTone(Number(arg("tone", "660")));
let code = 0;
try {
  const pages = [];
  for (const [i, url] of urls.entries()) {
    const page = await browser.newPage();
    page.on("console", (m) => console.error(`page ${i}: ${m.text()}`));
    page.on("pageerror", (e) => console.error(`page ${i} error: ${e}`));
    await page.goto(url);
    pages.push(page);
  }
  for await (const _ of createInterface({ input: process.stdin })) {
    const reports = [];
    for (const page of pages) {
      reports.push(
        await page.evaluate(async () => ({
          status: document.getElementById("status").textContent,
          title: document.getElementById("title").textContent,
          me: window.tutti.state.me,
          questions: [...document.querySelectorAll("#questions li")].map((li) => li.textContent),
          chat: [...document.querySelectorAll("#chat li")].map((li) => li.textContent),
          peers: await window.tutti.report(),
        })),
      );
    }
    process.stdout.write(`${JSON.stringify(reports)}\n`);
  }
} catch (e) {
  console.error(`chromium-page: ${e?.stack ?? e}`);
  code = 1;
}
await close();
process.exit(code);
