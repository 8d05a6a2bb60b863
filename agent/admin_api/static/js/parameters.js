// Parameters: the system tags (read-only, with a cog) and custom ones (add, edit, delete; secrets masked).

import { h, button, table, row } from "./dom.js";
import { getAll } from "./api.js";
import { heading, parameterDialog, confirmDialog, flash, errorBox, SECRET_DOTS } from "./ui.js";

function valueCell(parameter) {
  if (parameter.system) return h("span", { class: "muted" }, parameter.description || "");
  if (parameter.secret) return h("span", { class: "masked", title: "Secret value" }, SECRET_DOTS);
  return h("code", { class: "break" }, parameter.value ?? "");
}

function tagCell(parameter) {
  return h("span", { class: "tag-name" },
    parameter.system ? h("span", { class: "cog", role: "img", "aria-label": "System parameter", title: "System parameter (read-only)" }, "⚙") : null,
    h("code", {}, parameter.tag),
    parameter.secret ? h("span", { class: "badge badge-warn secret-badge" }, "secret") : null);
}

export async function render(root, { api, isCurrent }) {
  const results = h("div", { class: "results" });
  const load = async () => {
    let items;
    try {
      items = await getAll("/parameters");
    } catch (error) {
      results.replaceChildren(errorBox(error));
      return;
    }
    if (!isCurrent()) return;
    const custom = items.filter((p) => !p.system);
    const rows = (list) => list.map((p) => parameterRow(p, api, load));
    results.replaceChildren(
      h("h2", { class: "section-title" }, "Custom parameters"),
      custom.length ? table(["Tag", "Value", "Actions", ""], rows(custom), { className: "parameters custom" })
        : h("p", { class: "empty" }, "No custom parameters yet."),
      h("h2", { class: "section-title" }, "System parameters"),
      table(["Tag", "Data", "Actions", ""], rows(items.filter((p) => p.system)), { className: "parameters system" }));
  };
  const add = async () => {
    const created = await parameterDialog(api, {});
    if (created) {
      flash(`Added parameter ${created.tag || ""}`.trim());
      load();
    }
  };
  root.append(heading("Parameters", button("Add Parameter", add, { kind: "primary" })),
    h("p", { class: "muted" }, "Use a parameter in an action as {{tag}}; it is replaced when a request is sent. ",
      "System parameters (⚙) are generated for each event and cannot be edited or deleted."),
    results);
  await load();
}

function parameterRow(parameter, api, reload) {
  const edit = async () => {
    const saved = await parameterDialog(api, { tag: parameter.tag, value: parameter.secret ? "" : parameter.value,
      secret: Boolean(parameter.secret), editing: true });
    if (saved) {
      flash(`Saved parameter ${parameter.tag}`);
      reload();
    }
  };
  const remove = async () => {
    const used = parameter.actions ? ` It is used by ${parameter.actions} action(s); they will send an empty value.` : "";
    if (!(await confirmDialog(`Delete the parameter ${parameter.tag}?${used}`))) return;
    try {
      await api.del(`/parameters/${encodeURIComponent(parameter.tag)}`);
      flash(`Deleted parameter ${parameter.tag}`);
      reload();
    } catch (error) {
      flash(error.message, "bad");
    }
  };
  const buttons = parameter.system ? h("span", { class: "muted small" }, "read-only")
    : h("div", { class: "row-buttons" },
      button("Edit", edit, { class: "btn btn-secondary btn-small", "aria-label": `Edit ${parameter.tag}` }),
      button("Delete", remove, { class: "btn btn-danger btn-small", "aria-label": `Delete ${parameter.tag}` }));
  return row([
    ["Tag", tagCell(parameter)],
    ["Data", valueCell(parameter)],
    ["Actions", String(parameter.actions ?? 0)],
    ["", buttons],
  ], { class: parameter.system ? "system" : "custom", dataset: { tag: parameter.tag } });
}
