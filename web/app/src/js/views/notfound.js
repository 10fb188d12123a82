/** Any path the app does not know. */
import { h, replace } from "../dom.js";

export function mount(main) {
  replace(main, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "/" }, "Go to your threads")));
}
