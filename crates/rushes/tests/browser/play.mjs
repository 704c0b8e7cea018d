// Plays an HLS URL in headless Chromium with hls.js, for crates/rushes/tests/browser.rs.
//
//   node play.mjs [--static DIR]
//
// 1. Serves player.html at / and hls.js at /hls.js (and DIR's files under /static/ when
//    given) on 127.0.0.1, on a port of the system's choosing, and prints one JSON line:
//    {"origin": "http://127.0.0.1:PORT"}.
// 2. Reads one JSON line from stdin: {"url": HLS URL, "min_time": seconds, "timeout_ms": ms}.
// 3. Starts Chromium (CHROMIUM, or /usr/bin/chromium) headless through playwright-core,
//    opens the page, checks what Media Source Extensions support, plays the URL and watches
//    until video.currentTime reaches min_time, a fatal error, or the timeout.
// 4. Prints one JSON line with everything seen (see `result` below) and exits 0; the test
//    judges it. A failure of the harness itself (Chromium does not start, bad input) prints
//    {"harness_error": "..."} and exits 1.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const hlsJs = path.join(here, "node_modules", "hls.js", "dist", "hls.min.js");
const staticIndex = process.argv.indexOf("--static");
const staticDir = staticIndex > 0 ? path.resolve(process.argv[staticIndex + 1]) : null;

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".m3u8": "application/vnd.apple.mpegurl",
  ".ts": "video/mp2t",
  ".mp4": "video/mp4",
  ".m4s": "video/iso.segment",
};

function fail(message) {
  process.stdout.write(JSON.stringify({ harness_error: message }) + "\n");
  process.exit(1);
}

async function serve(req, res) {
  const pathname = decodeURIComponent(new URL(req.url, "http://x").pathname);
  let file = null;
  if (pathname === "/") {
    file = path.join(here, "player.html");
  } else if (pathname === "/hls.js") {
    file = hlsJs;
  } else if (staticDir && pathname.startsWith("/static/")) {
    const candidate = path.resolve(staticDir, "." + pathname.slice("/static".length));
    if (candidate.startsWith(staticDir + path.sep)) file = candidate;
  }
  try {
    if (!file) throw new Error("not served");
    const body = await readFile(file);
    res.writeHead(200, {
      "content-type": TYPES[path.extname(file)] || "application/octet-stream",
      "cache-control": "no-store",
    });
    res.end(body);
  } catch {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
  }
}

async function readRequest() {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim()) {
      lines.close();
      return JSON.parse(line);
    }
  }
  fail("stdin closed before the request line");
}

const server = createServer((req, res) => {
  serve(req, res).catch(() => res.destroy());
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;
process.stdout.write(JSON.stringify({ origin }) + "\n");

const request = await readRequest();
const minTime = Number(request.min_time ?? 5);
const timeoutMs = Number(request.timeout_ms ?? 30000);
if (typeof request.url !== "string") fail("the request names no url");

let browser;
try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // As root Chromium needs --no-sandbox (playwright adds it unless chromiumSandbox is
    // set). The network here is closed: no background connections, no QUIC.
    args: [
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
} catch (e) {
  fail(`Chromium did not start: ${e.message}`);
}

const consoleMessages = [];
const network = [];
const requests = [];
const result = { url: request.url, origin, min_time: minTime, timeout_ms: timeoutMs };
try {
  const page = await browser.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") {
      consoleMessages.push({ type: m.type(), text: m.text() });
    }
  });
  page.on("pageerror", (e) => consoleMessages.push({ type: "pageerror", text: String(e) }));
  page.on("requestfailed", (r) =>
    network.push({ url: r.url(), failure: r.failure() ? r.failure().errorText : "failed" }));
  page.on("response", (r) => {
    requests.push({ url: r.url(), status: r.status() });
    if (r.status() >= 400) network.push({ url: r.url(), status: r.status() });
  });
  await page.goto(origin + "/", { waitUntil: "load" });
  result.browser_version = browser.version();
  result.codecs = await page.evaluate(() => window.codecSupport());
  if (result.codecs.h264 && result.codecs.hls_supported) {
    await page.evaluate((url) => window.play(url), request.url);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const report = await page.evaluate(() => window.report());
      result.report = report;
      if (report.current_time >= minTime || report.fatal || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
} catch (e) {
  result.exception = String(e && e.stack ? e.stack : e);
} finally {
  result.console = consoleMessages;
  result.network_failures = network;
  result.responses = requests;
  await browser.close().catch(() => {});
  server.close();
}
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
