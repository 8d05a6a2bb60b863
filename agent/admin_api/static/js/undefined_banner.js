// The banner listing {{tags}} an action uses that are not defined; each one can be defined in place.

import { h } from "./dom.js";
import { parameterDialog, flash } from "./ui.js";

const TAG = /\{\{([A-Za-z0-9_\-/.]+)\}\}/g;

function strings(value, out) {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((item) => strings(item, out));
  else if (value && typeof value === "object") Object.values(value).forEach((item) => strings(item, out));
  return out;
}

/** Tags used in the action's templated parts, in order of first use. */
export function usedTags(action) {
  const parts = strings([action.url, action.query, action.headers, action.body, action.auth], []);
  const seen = new Set();
  for (const text of parts) for (const found of text.matchAll(TAG)) seen.add(found[1]);
  return [...seen];
}

export function undefinedBanner(api, known, currentAction) {
  const list = h("ul", { class: "tag-list" });
  const el = h("div", { class: "banner banner-warn", id: "undefined-parameters", hidden: true },
    h("p", {}, h("span", { class: "info-icon", "aria-hidden": "true" }, "i"),
      "Listed parameters are not defined, and will be replaced by empty values at execution"),
    list, h("p", { class: "hint" }, "Click a parameter to define it."));
  el.hidden = true;
  const define = async (tag) => {
    const created = await parameterDialog(api, { tag });
    if (!created) return;
    known.add(tag);
    flash(`Defined parameter ${tag}`);
    update();
  };
  let shown = "";
  function update() {
    const action = currentAction();
    const missing = action ? usedTags(action).filter((tag) => !known.has(tag)) : [];
    // Re-render only on a real change: a blur's change event must not replace the button being clicked.
    if (missing.join("\n") === shown) return;
    shown = missing.join("\n");
    list.replaceChildren(...missing.map((tag) => h("li", {}, h("button", { type: "button", class: "tag",
      onclick: () => define(tag), "aria-label": `Define parameter ${tag}` }, tag))));
    el.hidden = missing.length === 0;
  }
  return { el, update };
}
