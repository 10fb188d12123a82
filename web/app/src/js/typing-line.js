/**
 * "alice is typing…" under a composer, from the SDK's typing helper (`client.typing(room)`),
 * which also throttles this user's own `typing` frames.
 */
import { h } from "./dom.js";
import { getClient } from "./realtime.js";

/** Text for the users typing now. */
export function typingText(users) {
  const names = users.map((u) => u.username);
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

/**
 * The indicator for `room` plus the hooks a composer calls. Closed with the view's scope.
 * @returns {{ element: HTMLElement, keystroke: () => void, stop: () => void }}
 */
export function typingLine(room, scope) {
  const typing = getClient().typing(room);
  const element = h("p", { class: "typing", "aria-live": "polite" });
  scope.add(typing.onChange((users) => (element.textContent = typingText(users))));
  scope.add(() => typing.close());
  return { element, keystroke: () => typing.keystroke(), stop: () => typing.stop() };
}
