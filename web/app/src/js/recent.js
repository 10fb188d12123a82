/**
 * Drafts and canvases this browser created or opened, newest first, in localStorage: the
 * server has no "list my drafts/canvases" endpoint, so the lists come from here and from links
 * people share.
 */

const LIMIT = 30;

function key(kind) {
  return `tandem.recent.${kind}`;
}

/** The remembered `{ id, name }` of `kind` ("drafts" | "canvases"). */
export function recent(kind) {
  try {
    const items = JSON.parse(localStorage.getItem(key(kind)) ?? "[]");
    return Array.isArray(items) ? items : [];
  } catch {
    return [];
  }
}

/** Remembers (or moves to the top) `{ id, name }`. */
export function remember(kind, item) {
  const items = [{ id: item.id, name: item.name }, ...recent(kind).filter((i) => i.id !== item.id)].slice(0, LIMIT);
  localStorage.setItem(key(kind), JSON.stringify(items));
}
