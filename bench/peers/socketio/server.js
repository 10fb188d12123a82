// socket.io room-broadcast peer for tandem-bench (loopback only).
//
// Members connect over WebSocket only (no long-polling upgrade), send `join` with a room name
// and an ack callback; a backend POSTs a JSON tick to /publish/{room}, which is emitted to the
// room as `tick`. Ping interval is raised so idle members are not pinged during a run, the same
// as Tandem's heartbeat in the bench. PORT selects the port; it listens on 127.0.0.1.
'use strict';
const http = require('node:http');
const { Server } = require('socket.io');

const port = Number(process.env.PORT || 3000);

const httpServer = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    res.writeHead(200).end('ok');
    return;
  }
  if (req.method === 'POST' && req.url.startsWith('/publish/')) {
    const room = decodeURIComponent(req.url.slice('/publish/'.length));
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      let tick;
      try {
        tick = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400).end('bad json');
        return;
      }
      io.to(room).emit('tick', tick);
      res.writeHead(204).end();
    });
    return;
  }
  res.writeHead(404).end();
});

const io = new Server(httpServer, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  pingInterval: 600000,
  pingTimeout: 60000,
});

io.on('connection', (socket) => {
  socket.on('join', (room, ack) => {
    socket.join(String(room));
    if (typeof ack === 'function') ack('ok');
  });
});

httpServer.listen(port, '127.0.0.1');
