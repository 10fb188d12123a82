/**
 * A canvas (`/canvases/{id}`, seed 004): the tile grid, the selected cell's actions, the chat,
 * "N viewing" (viewers join and leave live), editing highlights and mention flashes, and adding
 * members. The `canvas:` room is subscribed from the REST snapshot's seq while the page is open.
 */
import { copyPageLink } from "../copy-link.js";
import { errorText, h, replace } from "../dom.js";
import { fetchName, learnName } from "../names.js";
import { getClient, onResync } from "../realtime.js";
import { remember } from "../recent.js";
import { loadSession } from "../session.js";
import { toast } from "../toast.js";
import { userPicker } from "../user-picker.js";
import { canvasChat } from "./canvas-chat.js";
import { canvasGrid } from "./canvas-grid.js";
import { tilePanel } from "./canvas-tile-panel.js";

export async function mount(main, { id }, scope) {
  const client = getClient();
  const me = loadSession().user.id;
  const room = `canvas:${id}`;
  let canvas;
  try {
    canvas = await client.rest.canvases.get(id);
  } catch (e) {
    replace(main, h("h1", {}, "Canvas not found"),
      h("p", {}, e.status === 404 || e.status === 403 ? "This canvas does not exist or you are not a member." : errorText(e)),
      h("p", {}, h("a", { href: "/canvases" }, "Back to canvases")));
    return;
  }
  remember("canvases", canvas);
  learnName(me, loadSession().user.username);

  let panel;
  const grid = canvasGrid(canvas, (x, y) => panel.show(x, y));
  scope.add(() => grid.dispose());
  panel = tilePanel({ id, room, me, grid });
  scope.add(() => panel.stopEditing());
  const chat = canvasChat({ id, room, scope });
  const viewing = h("p", { class: "viewing", "aria-live": "polite" });
  const picker = userPicker({
    label: "Add member by username",
    verb: "Add",
    exclude: (user) => (canvas.members ?? []).includes(user.id),
    onPick: async (user) => {
      await client.rest.canvases.addMember(id, user.id);
      canvas.members = [...(canvas.members ?? []), user.id];
    },
  });

  replace(main,
    h("div", { class: "title-row" }, h("h1", {}, canvas.name), viewing),
    h("div", { class: "canvas-layout" },
      h("div", { class: "canvas-main" }, h("div", { class: "grid-scroll" }, grid.element), panel.element),
      h("div", { class: "canvas-side" }, chat.element,
        h("details", { class: "card" }, h("summary", {}, "Add a member"), picker, h("p", { class: "hint" }, "They open it from its link:"), copyPageLink()))));

  function showTiles(tiles) {
    grid.reset(tiles);
    for (const tile of tiles) fetchName(tile.creator_id).then(() => panel.show());
  }
  showTiles(canvas.tiles ?? []);

  const presence = client.presence(room);
  function showViewers(members) {
    const names = members.map((m) => m.username ?? m.name).filter(Boolean);
    for (const m of members) learnName(m.id, m.username);
    viewing.textContent = `${members.length} viewing`;
    viewing.title = names.join(", ");
  }
  showViewers(presence.members);
  scope.add(presence.onChange(showViewers));

  async function refresh() {
    try {
      canvas = await client.rest.canvases.get(id);
      showTiles(canvas.tiles ?? []);
      panel.show();
      await chat.load();
    } catch (e) {
      toast(errorText(e), "error");
    }
  }

  const here = (event) => event.room === room || event.canvas_id === id;
  for (const type of ["tile_created", "tile_updated", "tile_liked"]) {
    scope.add(client.on(type, (event) => {
      if (!here(event)) return;
      grid.upsert({ id: event.tile_id, x: event.x, y: event.y, data: event.data, creator_id: event.creator_id, like_count: event.like_count });
      fetchName(event.creator_id).then(() => {
        const selected = grid.selected();
        if (selected && selected.x === event.x && selected.y === event.y) panel.show();
      });
    }));
  }
  scope.add(client.on("user_presence_update", (event) => {
    if (!here(event) || event.presence_type !== "editing_tile" || event.user_id === me) return;
    grid.setEditing(event.tile_x, event.tile_y, event.username, event.is_editing && event.status !== "offline");
  }));
  scope.add(client.on("user_left", (event) => here(event) && grid.clearEditor(event.username)));
  scope.add(client.on("tile_mention", (event) => {
    if (!here(event)) return;
    grid.flash(event.tile_x, event.tile_y, event.duration);
    toast(`@${event.username} mentioned the tile at column ${event.tile_x + 1}, row ${event.tile_y + 1}${event.message ? `: ${event.message}` : ""}`);
  }));
  scope.add(onResync((changed) => (changed === null || changed === room) && refresh()));
  scope.add(() => client.unsubscribe(room));
  client.subscribe(room, { after: canvas.seq }).catch((e) => toast(`Not live: ${errorText(e)}`, "error"));
  await chat.load();
}
