/**
 * Small DOM helpers shared by every view: element creation, clearing, time formatting and the
 * rendering of a message snapshot. No framework: views build nodes with `h` and patch them.
 */

/**
 * Creates an element. `attrs` keys: `class`, `text`, `on{Event}` handlers, `dataset`,
 * booleans (`disabled`, `hidden`, ...) and any attribute; `null`/`false` values are skipped.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node|string|null|undefined|false|Array<Node|string>)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** Appends children (nested arrays, strings, nodes; falsy ones skipped). */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces every child of `el` with `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A labelled text field: `<label>` + `<input>`/`<textarea>` (returns `{ field, input }`). */
export function field(label, attrs = {}, { multiline = false, hint } = {}) {
  const id = attrs.id ?? uid("f");
  const input = h(multiline ? "textarea" : "input", { ...(multiline ? {} : { type: "text" }), ...attrs, id });
  const hintEl = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  return { field: h("div", { class: "field" }, h("label", { for: id }, label), input, hintEl), input, hint: hintEl };
}

let counter = 0;
/** A page-unique id with `prefix`. */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "just now", "5 minutes ago", "yesterday", ... for an RFC 3339 string or unix ms. */
export function ago(when) {
  if (when === null || when === undefined) return "never";
  const ms = typeof when === "number" ? when : Date.parse(when);
  if (Number.isNaN(ms)) return "";
  const seconds = Math.round((ms - Date.now()) / 1000);
  if (Math.abs(seconds) < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (Math.abs(minutes) < 60) return relative.format(minutes, "minute");
  const hours = Math.round(minutes / 60);
  if (Math.abs(hours) < 24) return relative.format(hours, "hour");
  return relative.format(Math.round(hours / 24), "day");
}

/** A `<time>` element showing `ago(when)` with the exact time as its title. */
export function timeEl(when) {
  const ms = typeof when === "number" ? when : Date.parse(when);
  const iso = Number.isNaN(ms) ? "" : new Date(ms).toISOString();
  return h("time", { datetime: iso, title: iso ? new Date(ms).toLocaleString() : null }, ago(when));
}

/** The text of a message snapshot (`{text}`, a string), or `null` when it is other JSON. */
export function snapshotText(snapshot) {
  if (typeof snapshot === "string") return snapshot;
  if (snapshot && typeof snapshot === "object" && typeof snapshot.text === "string") return snapshot.text;
  return null;
}

/** A snapshot rendered readably: its text, or pretty-printed JSON in a `<pre>`. */
export function renderSnapshot(snapshot) {
  const text = snapshotText(snapshot);
  if (text !== null) return h("p", { class: "message-text" }, text);
  return h("pre", { class: "message-json" }, JSON.stringify(snapshot, null, 2));
}

/** The user-facing text of a REST/socket error. */
export function errorText(error) {
  if (!error) return "Something went wrong";
  return error.message || error.code || String(error);
}
