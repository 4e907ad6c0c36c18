// Real phoenix.js clients for `websock-bench load presence`: <count> sockets on <url> (the
// socket's URL without /websocket, e.g. ws://127.0.0.1:4000/socket), each joining room:bench
// tracked under js<i>, each with phoenix.js's own Presence. Prints `ready` once all have
// joined; then reads commands on stdin:
//   expect N   prints `settled` once every client's Presence.list() has N keys
//   dump       prints a JSON array: every client's Presence.list() keys, sorted; then exits
// Usage: node presence_observers.mjs <url> <count>
import { Socket, Presence } from "phoenix";
import WebSocket from "ws";
import readline from "node:readline";

const [url, countArg] = process.argv.slice(2);
const count = Number(countArg);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const clients = [];
for (let i = 0; i < count; i++) {
  // A server busy with a join storm answers late: long push timeouts, so nothing is retried.
  const socket = new Socket(url, { transport: WebSocket, timeout: 120000 });
  socket.connect();
  const channel = socket.channel("room:bench", { presence: true, key: `js${i}` });
  clients.push({ socket, channel, presence: new Presence(channel) });
}
await Promise.all(
  clients.map(
    ({ channel }) =>
      new Promise((resolve, reject) => {
        channel
          .join()
          .receive("ok", resolve)
          .receive("error", (e) => reject(new Error(`join refused: ${JSON.stringify(e)}`)))
          .receive("timeout", () => reject(new Error("join timed out")));
      }),
  ),
);
console.log("ready");

const keys = (client) => client.presence.list((key) => key);
for await (const line of readline.createInterface({ input: process.stdin })) {
  const [command, arg] = line.trim().split(" ");
  if (command === "expect") {
    const n = Number(arg);
    while (!clients.every((client) => keys(client).length >= n)) await sleep(20);
    console.log("settled");
  } else if (command === "dump") {
    // Written before exiting: `process.exit` drops what a pipe has not taken yet (a dump of
    // 20 lists of 10,000 keys is megabytes; console.log lost all but the first 128 KiB).
    const dump = JSON.stringify(clients.map((client) => keys(client).sort()));
    await new Promise((resolve) => process.stdout.write(`${dump}\n`, resolve));
    break;
  }
}
for (const { socket } of clients) socket.disconnect();
process.exit(0);
