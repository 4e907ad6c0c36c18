// What every Node test suite here shares (tests/js/*.mjs, tests/browser/chat.mjs): starting
// the example binary and reading the address from its `listening on` line, stopping it, free
// ports, the waits, and the check/report harness that prints `N passed, M failed`.
// Node built-ins only, so the browser suite can use it without phoenix.js.
import { spawn } from "node:child_process";
import net from "node:net";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Rejects with `timed out after <ms> ms: <what>` unless `promise` settles first.
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Waits until `predicate()` (or the promise it returns) is true, asking every `everyMs`.
export async function until(predicate, what, ms = 5000, everyMs = 10) {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}
export const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// A port nobody listens on right now, on 127.0.0.1.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

// Starts an example binary on `addr` (WEBSOCK_ADDR; port 0 by default) with `env` added, in
// `cwd` (default: ours), and resolves with { child, addr } once it prints `listening on <ip:port>`.
// With `keepLog`, its stdout and stderr (the tracing log) are kept in `child.log` as they come
// (stderr is still shown).
export async function startBinary(binary, { addr = "127.0.0.1:0", env = {}, cwd, keepLog = false } = {}) {
  const child = spawn(binary, [], {
    env: { ...process.env, WEBSOCK_ADDR: addr, ...env },
    cwd,
    stdio: ["ignore", "pipe", keepLog ? "pipe" : "inherit"],
  });
  if (keepLog) {
    child.log = "";
    child.stdout.on("data", (chunk) => (child.log += chunk));
    child.stderr.on("data", (chunk) => {
      child.log += chunk;
      process.stderr.write(chunk);
    });
  }
  const bound = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no "listening on" from ${binary}: ${out}`)), 20000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/listening on ([0-9.]+:[0-9]+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`${binary} exited with ${code}: ${out}`)));
  });
  return { child, addr: bound };
}

// SIGTERM (the server drains), then SIGKILL if it has not exited within 5 s.
export async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await Promise.race([exited, sleep(5000).then(() => child.kill("SIGKILL"))]);
}

// The check/report harness: `test` runs one named check (failing it after `timeoutMs`, or
// never if 0) and prints `ok` or `FAIL` with the error; `finish` prints the closing
// `N passed, M failed` line and exits non-zero on any failure.
export function checks({ timeoutMs = 30000 } = {}) {
  let passed = 0;
  let failed = 0;
  const failures = [];
  async function test(name, body) {
    try {
      await (timeoutMs ? withTimeout(body(), timeoutMs, name) : body());
      passed++;
      console.log(`ok   ${name}`);
    } catch (error) {
      failed++;
      failures.push(name);
      console.log(`FAIL ${name}: ${error && error.stack ? error.stack : error}`);
    }
  }
  function finish() {
    console.log(`${passed} passed, ${failed} failed${failed ? ": " + failures.join("; ") : ""}`);
    process.exit(failed ? 1 : 0);
  }
  return { test, finish };
}
