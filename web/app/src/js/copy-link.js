/**
 * "Copy page link": drafts and canvases have no invitation event, so whoever is added learns of
 * one by its link (the page's own address).
 */
import { h } from "./dom.js";
import { toast } from "./toast.js";

/** A button that copies this page's address. */
export function copyPageLink() {
  return h("button", { type: "button", onclick: async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      toast("Link copied: send it to the people you added");
    } catch {
      toast(`Copy this link: ${location.href}`);
    }
  } }, "Copy page link");
}
