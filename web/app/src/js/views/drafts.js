/** Drafts (`/drafts`): start one, open one by link, and the drafts this browser has opened. */
import { errorText, field, h, replace } from "../dom.js";
import { getClient } from "../realtime.js";
import { recent } from "../recent.js";
import { navigate } from "../router.js";
import { toast } from "../toast.js";

export function mount(main) {
  const client = getClient();
  const { field: titleField, input } = field("Draft title", { required: true, maxlength: 200, autocomplete: "off" });
  const form = h("form", { class: "inline-form", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const draft = await client.rest.drafts.create(input.value.trim());
      navigate(`/drafts/${draft.id}`);
    } catch (e) {
      toast(errorText(e), "error");
    }
  } }, titleField, h("button", { type: "submit", class: "primary" }, "Create draft"));
  const items = recent("drafts");
  replace(main,
    h("h1", {}, "Drafts"),
    h("p", { class: "muted" }, "A draft is written by passing a ring: whoever holds it adds the next segment."),
    h("section", { class: "card", "aria-labelledby": "new-draft" }, h("h2", { id: "new-draft" }, "New draft"), form),
    h("section", { "aria-labelledby": "recent-drafts" }, h("h2", { id: "recent-drafts" }, "Recent drafts"),
      items.length
        ? h("ul", { class: "list", "aria-label": "Recent drafts" }, items.map((d) => h("li", {}, h("a", { href: `/drafts/${d.id}` }, d.name))))
        : h("p", { class: "muted" }, "None yet. Drafts shared with you open from their link.")));
}
