/**
 * Client-side routing over the History API. The server answers every route here with the same
 * page (API.md §7 deep links); this module picks the view, tears the previous one down, and turns
 * clicks on same-origin links into `navigate` calls.
 */

/** @typedef {{ view: string, params: Record<string, string> }} Route */

const ROUTES = [
  [/^\/$/, "home"],
  [/^\/threads\/?$/, "home"],
  [/^\/threads\/([0-9a-f]+)$/, "thread"],
  [/^\/drafts\/?$/, "drafts"],
  [/^\/drafts\/([0-9a-f]+)$/, "draft"],
  [/^\/canvases\/?$/, "canvases"],
  [/^\/canvases\/([0-9a-f]+)$/, "canvas"],
  [/^\/join\/([0-9a-f]+)$/, "join"],
  [/^\/library\/?$/, "library"],
];

/** The route of `url` (a URL or path), `{ view: "notfound" }` when none matches. @returns {Route} */
export function match(url) {
  const { pathname, searchParams } = new URL(url, location.origin);
  for (const [pattern, view] of ROUTES) {
    const found = pattern.exec(pathname);
    if (found) return { view, params: { id: found[1] ?? "", ...Object.fromEntries(searchParams) } };
  }
  return { view: "notfound", params: {} };
}

let onRoute = () => {};

/** Starts routing: `handler(route)` runs now and on every navigation. */
export function startRouter(handler) {
  onRoute = handler;
  window.addEventListener("popstate", () => onRoute(match(location.href)));
  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || link.target) return;
    const url = new URL(link.href);
    if (url.origin !== location.origin || match(url.href).view === "notfound") return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  onRoute(match(location.href));
}

/** Goes to `path` (pushes a history entry unless `replace`). */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  onRoute(match(location.href));
}

/**
 * Collects cleanups for a mounted view: `add(fn)` registers one, `dispose()` runs them all
 * (last first). Listeners registered through a scope never outlive their view.
 */
export function scope() {
  const cleanups = [];
  return {
    add(fn) {
      if (typeof fn === "function") cleanups.push(fn);
      return fn;
    },
    dispose() {
      while (cleanups.length) {
        try {
          cleanups.pop()();
        } catch (error) {
          console.error("cleanup failed", error);
        }
      }
    },
  };
}
