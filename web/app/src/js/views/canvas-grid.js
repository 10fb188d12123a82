/**
 * The canvas grid (API.md §7: a grid named "Canvas"): one gridcell per position, each a button
 * (the tile's text, its like count, or "Empty"), with arrow-key navigation (one tab stop, roving
 * focus). Cells show other users editing them and flash while a tile mention lasts.
 */
import { h } from "../dom.js";

/**
 * @param {{ width: number, height: number }} size
 * @param {(x: number, y: number) => void} onSelect
 */
export function canvasGrid({ width, height }, onSelect) {
  /** @type {Map<string, any>} "x,y" → tile */
  const tiles = new Map();
  /** @type {Map<string, string>} "x,y" → username editing it */
  const editing = new Map();
  const flashing = new Map();
  let focus = { x: 0, y: 0 };
  let selected = null;
  const buttons = [];
  const grid = h("div", { class: "canvas-grid", role: "grid", "aria-label": "Canvas" });
  grid.style.setProperty("--cols", String(width));
  for (let y = 0; y < height; y++) {
    const row = h("div", { role: "row", class: "canvas-row" });
    for (let x = 0; x < width; x++) {
      const button = h("button", { type: "button", class: "cell", tabindex: x === 0 && y === 0 ? 0 : -1, dataset: { x, y },
        onclick: () => select(x, y), onkeydown: (event) => move(event, x, y) });
      buttons.push(button);
      row.append(h("div", { role: "gridcell", class: "cell-wrap" }, button));
    }
    grid.append(row);
  }

  const key = (x, y) => `${x},${y}`;
  const buttonAt = (x, y) => buttons[y * width + x];

  function select(x, y) {
    selected = { x, y };
    focusCell(x, y);
    for (const b of buttons) b.setAttribute("aria-pressed", String(b === buttonAt(x, y)));
    onSelect(x, y);
  }

  function focusCell(x, y) {
    buttonAt(focus.x, focus.y).tabIndex = -1;
    focus = { x, y };
    const button = buttonAt(x, y);
    button.tabIndex = 0;
    if (document.activeElement !== button) button.focus();
  }

  function move(event, x, y) {
    const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    let next;
    if (steps[event.key]) next = { x: x + steps[event.key][0], y: y + steps[event.key][1] };
    else if (event.key === "Home") next = { x: 0, y };
    else if (event.key === "End") next = { x: width - 1, y };
    if (!next) return;
    event.preventDefault();
    if (next.x >= 0 && next.x < width && next.y >= 0 && next.y < height) focusCell(next.x, next.y);
  }

  /** Redraws the cell at x, y. */
  function paint(x, y) {
    const button = buttonAt(x, y);
    if (!button) return;
    const tile = tiles.get(key(x, y));
    const editor = editing.get(key(x, y));
    const text = tile ? tileText(tile) : "";
    button.replaceChildren();
    if (tile) {
      button.append(h("span", { class: "cell-text" }, text), h("span", { class: "likes" }, `♥ ${tile.like_count ?? 0}`));
    } else {
      button.append(h("span", { class: "cell-empty", "aria-hidden": "true" }, "+"));
    }
    if (editor) button.append(h("span", { class: "cell-editor" }, `✎ ${editor}`));
    button.classList.toggle("has-tile", Boolean(tile));
    button.classList.toggle("editing", Boolean(editor));
    button.classList.toggle("mentioned", flashing.has(key(x, y)));
    const where = `column ${x + 1}, row ${y + 1}`;
    const label = tile ? `${text}, ${tile.like_count ?? 0} likes, ${where}` : `Empty cell, ${where}`;
    button.setAttribute("aria-label", editor ? `${label}, ${editor} is editing` : label);
  }

  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) paint(x, y);

  return {
    element: grid,
    /** The tile at x, y, if any. */
    tileAt: (x, y) => tiles.get(key(x, y)),
    selected: () => selected,
    select,
    /** Adds or replaces a tile (REST answer or tile_* event). */
    upsert(tile) {
      const previous = tiles.get(key(tile.x, tile.y));
      tiles.set(key(tile.x, tile.y), { ...previous, ...tile });
      paint(tile.x, tile.y);
    },
    /** Replaces every tile (a fresh canvas). */
    reset(list) {
      tiles.clear();
      for (const tile of list) tiles.set(key(tile.x, tile.y), tile);
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) paint(x, y);
    },
    /** `username` is (or stops) editing x, y. */
    setEditing(x, y, username, isEditing) {
      if (isEditing) editing.set(key(x, y), username);
      else if (editing.get(key(x, y)) === username) editing.delete(key(x, y));
      paint(x, y);
    },
    /** Clears every editing mark of `username` (they left). */
    clearEditor(username) {
      for (const [k, name] of editing) if (name === username) editing.delete(k), paint(...k.split(",").map(Number));
    },
    /** Highlights x, y for `duration` ms (a tile mention). */
    flash(x, y, duration) {
      clearTimeout(flashing.get(key(x, y)));
      flashing.set(key(x, y), setTimeout(() => (flashing.delete(key(x, y)), paint(x, y)), Math.min(Math.max(duration, 500), 30000)));
      paint(x, y);
    },
    dispose() {
      for (const timer of flashing.values()) clearTimeout(timer);
    },
  };
}

/** A tile's text: `data.text`, a string, or its JSON. */
export function tileText(tile) {
  const data = tile.data;
  if (typeof data === "string") return data;
  if (data && typeof data.text === "string") return data.text;
  return JSON.stringify(data);
}
