/**
 * What can be done with the selected cell: create a tile in an empty cell, edit one's own tile,
 * like a tile, mention it (it flashes for everyone viewing). While the "Tile text" box is in use
 * the others see this user editing the cell (`user_presence` `editing_tile`).
 */
import { errorText, field, h, replace } from "../dom.js";
import { nameOf } from "../names.js";
import { getClient } from "../realtime.js";
import { toast } from "../toast.js";
import { tileText } from "./canvas-grid.js";

/** How long a mention highlights a tile, ms. */
const MENTION_MS = 3000;

/**
 * @param {{ id: string, room: string, me: string, grid: ReturnType<import("./canvas-grid.js").canvasGrid> }} canvas
 */
export function tilePanel({ id, room, me, grid }) {
  const client = getClient();
  const panel = h("section", { class: "card tile-panel", "aria-labelledby": "tile-title" });
  let editingAt = null;
  let cell = null;

  /** Tells the others whether this user edits x, y (only changes are sent). */
  function setEditing(at) {
    const same = at && editingAt && at.x === editingAt.x && at.y === editingAt.y;
    if (same || (!at && !editingAt)) return;
    if (editingAt) presence(editingAt, false);
    editingAt = at;
    if (at) presence(at, true);
  }

  function presence({ x, y }, isEditing) {
    client.send({ type: "user_presence", room, presence_type: "editing_tile", tile_x: x, tile_y: y, is_editing: isEditing }, { ack: false })
      .catch(() => {});
  }

  /** Shows the panel for x, y (or the current cell again when omitted). */
  function show(x = cell?.x, y = cell?.y) {
    if (x === undefined) {
      replace(panel, h("h2", { id: "tile-title" }, "Tiles"), h("p", { class: "muted" }, "Pick a cell of the canvas: an empty one to add a tile, a tile to like or mention it."));
      return;
    }
    if (!cell || cell.x !== x || cell.y !== y) setEditing(null);
    cell = { x, y };
    const tile = grid.tileAt(x, y);
    const where = `Column ${x + 1}, row ${y + 1}`;
    const own = tile && tile.creator_id === me;
    const parts = [h("h2", { id: "tile-title" }, tile ? "Tile" : "Empty cell"), h("p", { class: "hint" }, where)];
    if (tile) {
      parts.push(h("p", { class: "tile-text" }, tileText(tile)),
        h("p", { class: "hint" }, `by @${own ? "you" : nameOf(tile.creator_id) ?? "someone"} · ♥ ${tile.like_count ?? 0}`),
        h("div", { class: "row" },
          h("button", { type: "button", onclick: () => like(tile) }, `Like (${tile.like_count ?? 0})`),
          h("button", { type: "button", onclick: () => mention(x, y) }, "Mention tile")));
    }
    if (!tile || own) parts.push(editor(x, y, tile));
    replace(panel, ...parts);
  }

  function editor(x, y, tile) {
    const { field: textField, input } = field("Tile text", { maxlength: 200, required: true, autocomplete: "off" });
    if (tile) input.value = tileText(tile);
    input.addEventListener("focus", () => setEditing({ x, y }));
    input.addEventListener("input", () => setEditing({ x, y }));
    input.addEventListener("blur", () => setTimeout(() => {
      if (!panel.contains(document.activeElement)) setEditing(null);
    }, 0));
    const submit = h("button", { type: "submit", class: "primary" }, tile ? "Save tile" : "Create tile");
    return h("form", { class: "tile-form", onsubmit: async (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      submit.disabled = true;
      try {
        const saved = tile
          ? await client.rest.canvases.updateTile(id, tile.id, { text })
          : await client.rest.canvases.createTile(id, { x, y, data: { text } });
        grid.upsert(saved);
        setEditing(null);
        show(x, y);
      } catch (e) {
        toast(errorText(e), "error");
        submit.disabled = false;
      }
    } }, textField, submit);
  }

  async function like(tile) {
    try {
      grid.upsert(await client.rest.canvases.likeTile(id, tile.id));
      show();
    } catch (e) {
      toast(e.status === 409 ? "You already liked this tile." : errorText(e), e.status === 409 ? "info" : "error");
    }
  }

  function mention(x, y) {
    grid.flash(x, y, MENTION_MS);
    client.send({ type: "tile_mention", room, tile_x: x, tile_y: y, message: "", duration: MENTION_MS })
      .catch((e) => toast(errorText(e), "error"));
  }

  show();
  return { element: panel, show, stopEditing: () => setEditing(null) };
}
