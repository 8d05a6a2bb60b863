// Actions list: search, paging, delete; links to add, edit and the Postman import.

import { h, button, table, row, itemsOf } from "./dom.js";
import { qs } from "./api.js";
import { joinUrl } from "./urlquery.js";
import { heading, pager, confirmDialog, flash, errorBox } from "./ui.js";

const PER_PAGE = 25;

export function requestLine(action) {
  return `${action.method} ${joinUrl(action.url, action.query || [])}`;
}

function actionRow(action, api, reload) {
  const remove = async () => {
    if (!(await confirmDialog(`Delete the action "${action.name}"? Events using it stop calling it.`))) return;
    try {
      await api.del(`/actions/${action.id}`);
      flash(`Deleted ${action.name}`);
      reload();
    } catch (error) {
      flash(error.message, "bad");
    }
  };
  return row([
    ["Name", h("a", { href: `#/actions/${action.id}`, class: "strong" }, action.name)],
    ["Description", h("div", {}, action.description && action.description !== requestLine(action)
      ? h("div", {}, action.description) : null, h("code", { class: "break" }, requestLine(action)))],
    ["Active events", String(action.active_events ?? 0)],
    ["", h("div", { class: "row-buttons" },
      h("a", { href: `#/actions/${action.id}`, class: "btn btn-secondary btn-small", "aria-label": `Edit ${action.name}` }, "Edit"),
      button("Delete", remove, { kind: "danger", class: "btn btn-danger btn-small", "aria-label": `Delete ${action.name}` }))],
  ], { dataset: { action: action.name } });
}

export async function renderList(root, { api, isCurrent }) {
  const state = { page: 1, search: "" };
  const search = h("input", { type: "search", id: "action-search", autocomplete: "off" });
  const results = h("div", { class: "results", "aria-live": "polite" });
  const load = async () => {
    try {
      const data = await api.get(`/actions${qs({ page: state.page, per_page: PER_PAGE, search: state.search })}`);
      if (!isCurrent()) return;
      const items = itemsOf(data);
      results.replaceChildren(items.length
        ? table(["Name", "Description", "Active events", ""], items.map((a) => actionRow(a, api, load)), { className: "actions" })
        : h("p", { class: "empty" }, state.search ? "No action matches." : "No actions yet."),
      pager(state.page, data.per_page || PER_PAGE, data.total ?? items.length, (page) => {
        state.page = page;
        load();
      }));
    } catch (error) {
      results.replaceChildren(errorBox(error));
    }
  };
  let debounce = null;
  const form = h("form", { class: "toolbar", role: "search", onsubmit: (event) => {
    event.preventDefault();
    state.search = search.value.trim();
    state.page = 1;
    load();
  } }, h("label", { for: search.id }, "Search"), search, button("Search", null, { type: "submit" }));
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => form.requestSubmit(), 300);
  });
  root.append(heading("Actions", h("div", { class: "head-buttons" },
    h("a", { href: "#/actions/new", class: "btn btn-primary" }, "Add Action"),
    h("a", { href: "#/actions/import", class: "btn btn-secondary" }, "Import Postman Collection"))), form, results);
  await load();
  return () => clearTimeout(debounce);
}
