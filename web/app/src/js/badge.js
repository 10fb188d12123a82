/**
 * The connection badge (seed 003, API.md §7): one `role="status"` element on every page whose
 * text is "Live" (WebSocket up and caught up), "Syncing" (connecting, replaying, or the polling
 * fallback) or "Offline". The first time it shows Live, a `tandem-live` performance mark is set,
 * so the time from navigation to live can be measured.
 */

const LABELS = { live: "Live", polling: "Syncing", connecting: "Syncing", offline: "Offline" };
const TITLES = {
  live: "Connected: changes arrive as they happen",
  polling: "No WebSocket: changes arrive by polling",
  connecting: "Connecting and catching up",
  offline: "Cannot reach the server: retrying",
};

/** Shows `status` (an SDK status) in the badge. */
export function showStatus(status) {
  const badge = document.getElementById("badge");
  if (!badge) return;
  badge.dataset.status = status;
  badge.textContent = LABELS[status] ?? "Offline";
  badge.title = TITLES[status] ?? "";
  if (status === "live" && !performance.getEntriesByName("tandem-live").length) performance.mark("tandem-live");
}
