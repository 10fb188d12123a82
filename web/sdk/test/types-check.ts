// Compiled by `npm run typecheck` (tsc --noEmit): uses the API as an app would, so a change to
// tandem.d.ts that breaks callers fails CI. Never run.
import { connect, signUp, TandemError, type Status, type TandemClient } from "../tandem.js";

async function app(): Promise<void> {
  const { token, user } = await signUp("http://127.0.0.1:8080", "alice");
  const client: TandemClient = connect({
    url: "http://127.0.0.1:8080",
    getToken: async ({ rejected }) => (rejected ? refresh() : token),
    shareAcrossTabs: true,
    reconnectDelays: [1000, 2000],
    heartbeatTimeout: 5000,
    restartWindow: 10000,
    storage: localStorage,
  });
  const status: Status = client.status;
  const offStatus = client.onStatus((s) => console.log(s === "live", status));
  const off = client.on("message_created", (event) => {
    const seq: number = event.seq;
    const thread: string = event.parent_thread;
    console.log(seq, thread, event.snapshot);
  });
  client.on("*", (frame) => console.log(frame.type));
  client.on("resync_required", (frame) => client.rest.threads.get(frame.room.slice(7)));

  const thread = await client.rest.threads.create("Friday");
  client.track(`thread:${thread.id}`, thread.seq);
  const message = await client.rest.threads.postMessage(thread.id, { bpm: 120 });
  console.log(message.id, user.id);
  const canvas = await client.rest.canvases.create({ name: "c", width: 10, height: 10 });
  await client.subscribe(`canvas:${canvas.id}`, { after: canvas.seq });
  const page = await client.rest.rooms.events(`thread:${thread.id}`, { after: 0, wait: 25000 });
  console.log(page.last_seq, page.events.map((e) => e.seq));

  try {
    const ack = await client.send({ type: "list_users" }, { timeout: 2000 });
    console.log(ack?.ref);
  } catch (error) {
    if (error instanceof TandemError) console.log(error.code, error.status);
  }

  const presence = client.presence(`canvas:${canvas.id}`);
  presence.onJoin((member) => console.log(member.username, member.online));
  console.log(presence.members.length);
  const typing = client.typing(`canvas:${canvas.id}`, { idle: 2000 });
  typing.keystroke();
  typing.onChange((users) => users.map((u) => u.username));
  const cursors = client.cursors(`canvas:${canvas.id}`);
  cursors.move(1, 2);
  cursors.onChange((positions) => positions.get(user.id)?.x);
  console.log(client.isLeader, client.pendingCreates, client.cursor(`thread:${thread.id}`));
  off();
  offStatus();
  typing.close();
  cursors.close();
  await client.unsubscribe(`canvas:${canvas.id}`);
  client.close();
}

declare function refresh(): Promise<string>;
void app;
