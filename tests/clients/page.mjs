// The built-in chat page in headless Chromium: load / without the API key (the
// page loads, says it needs the key, and a message sent without it fails with
// that), then type the key and a message, send it, and wait for streamed text
// in the reply bubble.
// usage: node page.mjs BASE_URL API_KEY SCREENSHOT.png   (prints TAP lines)
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, apiKey, shot] = process.argv.slice(2);
let n = 0, failed = 0;
const check = (what, cond, detail) => {
  n++;
  if (cond) console.log(`ok ${n} - ${what}`);
  else { failed++; console.log(`not ok ${n} - ${what}${detail ? ": " + detail : ""}`); }
};
const profile = mkdtempSync(join(tmpdir(), "bn-chromium-"));
// a fresh profile directory (playwright passes it as --user-data-dir)
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1000, height: 700 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const resp = await page.goto(base + "/");
  check("the page loads (200)", resp && resp.status() === 200);
  check("the title is bntk chat", (await page.title()) === "bntk chat");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("API key"),
    null, { timeout: 20000 }).catch(() => {});
  check("without the key the page says it needs one",
    (await page.textContent("#status")).includes("needs an API key"), await page.textContent("#status"));
  await page.fill("#input", "Hello?");
  await page.click("#send");
  await page.waitForSelector(".msg.error", { timeout: 20000 }).catch(() => {});
  const keyErr = await page.$(".msg.error");
  check("a message sent without the key fails asking for it",
    keyErr && (await keyErr.textContent()).includes("API key"), keyErr ? await keyErr.textContent() : "no error");
  check("the key field is marked and focused",
    await page.evaluate(() => document.activeElement.id === "key" &&
      document.getElementById("key").getAttribute("aria-invalid") === "true"));
  await page.click("#clear");
  await page.fill("#key", apiKey);
  await page.dispatchEvent("#key", "change");
  await page.waitForFunction(() => document.getElementById("model").textContent.length > 0,
    null, { timeout: 20000 }).catch(() => {});
  check("with the key the page shows the model", (await page.textContent("#model")) === "tiny.gguf",
    await page.textContent("#model"));
  await page.fill("#input", "Tell me about the history of the city.");
  await page.fill("#maxtok", "24");
  await page.fill("#temp", "0");
  // count streamed updates of the reply bubble while it grows: the mutation records of
  // the assistant bubble, not observer callbacks (one callback carries every update made
  // in one task, and under load the tiny model's whole reply can arrive in one read)
  await page.evaluate(() => {
    window.__updates = 0;
    new MutationObserver((recs) => {
      for (const r of recs) if (r.target.classList && r.target.classList.contains("assistant")) window.__updates++;
    }).observe(document.getElementById("log"),
      { childList: true, subtree: true, characterData: true });
  });
  await page.click("#send");
  await page.waitForSelector(".msg.assistant[data-state=done], .msg.error", { timeout: 60000 });
  const err = await page.$(".msg.error");
  check("no error bubble", !err, err ? await err.textContent() : "");
  const reply = await page.$eval(".msg.assistant", (el) => el.textContent).catch(() => "");
  check("the reply bubble holds streamed text", reply.length > 0, JSON.stringify(reply));
  const updates = await page.evaluate(() => window.__updates);
  check("the text arrived in several updates (streamed)", updates > 2, `${updates} updates`);
  check("the user's message is shown", (await page.$eval(".msg.user", (el) => el.textContent)) ===
        "Tell me about the history of the city.");
  await page.screenshot({ path: shot, fullPage: true });
  check("no script errors", errors.length === 0, errors.join("; "));
  check("no request left the server", external.length === 0, external.join(", "));
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
