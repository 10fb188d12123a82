/** Canvases (`/canvases`): start one (name and grid size), and the canvases this browser opened. */
import { errorText, field, h, replace } from "../dom.js";
import { getClient } from "../realtime.js";
import { recent } from "../recent.js";
import { navigate } from "../router.js";
import { toast } from "../toast.js";

export function mount(main) {
  const client = getClient();
  const { field: nameField, input: name } = field("Canvas name", { required: true, maxlength: 200, autocomplete: "off" });
  const { field: widthField, input: width } = field("Columns", { type: "number", min: 1, max: 64, value: 8, required: true });
  const { field: heightField, input: height } = field("Rows", { type: "number", min: 1, max: 64, value: 6, required: true });
  const form = h("form", { class: "inline-form", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const canvas = await client.rest.canvases.create({ name: name.value.trim(), width: Number(width.value), height: Number(height.value) });
      navigate(`/canvases/${canvas.id}`);
    } catch (e) {
      toast(errorText(e), "error");
    }
  } }, nameField, widthField, heightField, h("button", { type: "submit", class: "primary" }, "Create canvas"));
  const items = recent("canvases");
  replace(main,
    h("h1", {}, "Canvases"),
    h("p", { class: "muted" }, "A grid of tiles everyone on the canvas can add to, like and talk about."),
    h("section", { class: "card", "aria-labelledby": "new-canvas" }, h("h2", { id: "new-canvas" }, "New canvas"), form),
    h("section", { "aria-labelledby": "recent-canvases" }, h("h2", { id: "recent-canvases" }, "Recent canvases"),
      items.length
        ? h("ul", { class: "list", "aria-label": "Recent canvases" }, items.map((c) => h("li", {}, h("a", { href: `/canvases/${c.id}` }, c.name))))
        : h("p", { class: "muted" }, "None yet. Canvases shared with you open from their link.")));
}
