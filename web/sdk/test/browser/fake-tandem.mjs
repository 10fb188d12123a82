// A minimal stand-in for the Tandem server, for the throughput bench only: it serves the SDK
// (same origin as its WebSocket), speaks just enough of the protocol (first-frame auth →
// `connected`, the sync ping → `pong` + `ack`), and pushes durable events at a fixed rate. It
// exists because a debug build of the real server writes ~450 durable events/s on SQLite here,
// below the 1,000 events/s the SDK must keep up with (the real server is measured too).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const SDK = new URL("../../tandem.js", import.meta.url);

/** One unmasked server text frame. */
function encode(text) {
  const payload = Buffer.from(text);
  const length = payload.length;
  const header = length < 126 ? Buffer.from([0x81, length]) : length < 65536
    ? Buffer.from([0x81, 126, length >> 8, length & 255])
    : Buffer.concat([Buffer.from([0x81, 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(length)); return b; })()]);
  return Buffer.concat([header, payload]);
}

/** Reads masked client frames from `buffer`; returns [texts, rest]. */
function decode(buffer) {
  const texts = [];
  for (;;) {
    if (buffer.length < 2) break;
    const opcode = buffer[0] & 15;
    let length = buffer[1] & 127;
    let offset = 2;
    if (length === 126) [length, offset] = [buffer.readUInt16BE(2), 4];
    else if (length === 127) [length, offset] = [Number(buffer.readBigUInt64BE(2)), 10];
    if (buffer.length < offset + 4 + length) break;
    const mask = buffer.subarray(offset, offset + 4);
    const payload = Buffer.from(buffer.subarray(offset + 4, offset + 4 + length));
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
    if (opcode === 1) texts.push(payload.toString());
    buffer = buffer.subarray(offset + 4 + length);
  }
  return [texts, buffer];
}

export class FakeTandem {
  async start() {
    this.sockets = new Set();
    this.server = http.createServer((req, res) => {
      if (req.url === "/sdk/tandem.js") {
        res.writeHead(200, { "content-type": "text/javascript" }).end(readFileSync(SDK));
      } else if (req.url === "/api/v1/threads") {
        res.writeHead(200, { "content-type": "application/json" }).end('{"threads":[]}');
      } else {
        res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      }
    });
    this.server.on("upgrade", (req, socket) => this.upgrade(req, socket));
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  upgrade(req, socket) {
    const accept = createHash("sha1").update(req.headers["sec-websocket-key"] + GUID).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.setNoDelay(true);
    let pending = Buffer.alloc(0);
    const conn = { socket, authed: false, send: (frame) => socket.write(encode(JSON.stringify(frame))) };
    socket.on("data", (data) => {
      let texts;
      [texts, pending] = decode(Buffer.concat([pending, data]));
      for (const text of texts) this.onFrame(conn, JSON.parse(text));
    });
    socket.on("close", () => this.sockets.delete(conn));
    socket.on("error", () => {});
  }

  onFrame(conn, frame) {
    if (!conn.authed && frame.type === "auth") {
      conn.authed = true;
      this.sockets.add(conn);
      conn.send({ type: "connected", user_id: "bench", connection_id: "1", heartbeat_interval_ms: 30000 });
    } else if (frame.type === "ping") {
      conn.send({ type: "pong" });
      if (frame.ref !== undefined) conn.send({ type: "ack", ref: frame.ref });
    }
  }

  /**
   * Publishes `rate` durable events a second into `room` for `seconds`, paced by the clock
   * (catching up when a timer fires late). Resolves with how many were sent.
   */
  stream(room, rate, seconds) {
    const total = rate * seconds;
    const started = Date.now();
    let seq = 0;
    return new Promise((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate));
        while (seq < due) {
          seq++;
          const frame = {
            type: "message_created", room, seq, timestamp: Date.now(), id: `m${seq}`,
            parent_thread: room.slice(7), user_id: "bench", snapshot: { i: seq, text: "x".repeat(64) },
          };
          for (const conn of this.sockets) conn.send(frame);
        }
        if (seq < total) setTimeout(tick, 5);
        else resolve(seq);
      };
      tick();
    });
  }

  async close() {
    for (const conn of this.sockets) conn.socket.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
