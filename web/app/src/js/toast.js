/** Short notifications in a live region: errors and confirmations that need no answer. */

const TOAST_MS = 5000;

/** Shows `text` for a few seconds; `kind` is `"error"` or `"info"`. */
export function toast(text, kind = "info") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const item = document.createElement("div");
  item.className = `toast toast-${kind}`;
  item.textContent = text;
  region.append(item);
  setTimeout(() => item.remove(), TOAST_MS);
}
