// Node `ws` against the echo example: text, binary, large and fragmented messages, ping and
// the close handshake. Prints `N passed, M failed`; exits non-zero on any failure.
import WebSocket from "ws";

const url = process.argv[2];
let passed = 0;
let failed = 0;
const check = (name, ok, detail = "") => {
  if (ok) passed++;
  else {
    failed++;
    console.log(`FAIL ${name} ${detail}`);
  }
};

const ws = new WebSocket(url);
const replies = [];
let waiter = null;
ws.on("message", (data, isBinary) => {
  replies.push({ data, isBinary });
  if (waiter) waiter();
});
const next = () =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), 10000);
    const take = () => {
      if (replies.length) {
        clearTimeout(timer);
        waiter = null;
        resolve(replies.shift());
      } else waiter = take;
    };
    take();
  });

await new Promise((resolve, reject) => {
  ws.once("open", resolve);
  ws.once("error", reject);
});
for (const text of ["hello", "", "ünïcödé ✓", "y".repeat(70000)]) {
  ws.send(text);
  const reply = await next();
  check(`text ${text.length}`, !reply.isBinary && reply.data.toString() === text);
}
for (const bytes of [Buffer.from([0, 1, 2]), Buffer.alloc(0), Buffer.alloc(300000, 7)]) {
  ws.send(bytes);
  const reply = await next();
  check(`binary ${bytes.length}`, reply.isBinary && Buffer.compare(reply.data, bytes) === 0);
}
// A fragmented message through the `fin` option.
ws.send("frag", { fin: false });
ws.send("ment", { fin: false });
ws.send("ed", { fin: true });
const fragmented = await next();
check("fragmented", fragmented.data.toString() === "fragmented", fragmented.data.toString());
await new Promise((resolve) => {
  ws.once("pong", (data) => {
    check("ping", data.toString() === "js");
    resolve();
  });
  ws.ping("js");
});
const code = await new Promise((resolve) => {
  ws.once("close", (code) => resolve(code));
  ws.close(1000, "done");
});
check("close code", code === 1000, String(code));
console.log(`node ws: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
