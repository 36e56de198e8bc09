// Opens onair's preview page in Debian's headless Chromium and reports, once a second, what
// the page's <video> does. Usage: node play.mjs URL SECONDS [SCREENSHOT.png]
// Prints one JSON object on stdout: { samples: [...], pageErrors: [...], consoleErrors: [...] }.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [url, seconds = "10", screenshot] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), "onair-chromium-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
const result = { samples: [], pageErrors: [], consoleErrors: [] };
try {
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.on("pageerror", (e) => result.pageErrors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") result.consoleErrors.push(m.text()); });
  await page.goto(url);
  for (let i = 0; i < Number(seconds); i++) {
    await page.waitForTimeout(1000);
    result.samples.push(await page.evaluate(() => {
      const v = document.querySelector("video");
      const q = v.getVideoPlaybackQuality();
      const s = window.onairStats;
      return {
        currentTime: v.currentTime,
        videoWidth: v.videoWidth,
        videoHeight: v.videoHeight,
        readyState: v.readyState,
        paused: v.paused,
        totalVideoFrames: q.totalVideoFrames,
        droppedVideoFrames: q.droppedVideoFrames,
        audioBytes: v.webkitAudioDecodedByteCount ?? 0,
        videoBytes: v.webkitVideoDecodedByteCount ?? 0,
        latencyMs: s.latencyMs,
        bitrateKbps: s.bitrateKbps,
        state: s.state,
        errors: s.errors.slice(),
        shown: {
          latency: document.getElementById("latency").textContent,
          resolution: document.getElementById("resolution").textContent,
          bitrate: document.getElementById("bitrate").textContent,
        },
      };
    }));
  }
  if (screenshot) await page.screenshot({ path: screenshot });
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(result) + "\n");
