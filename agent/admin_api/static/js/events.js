// Events section: the event list, editing one event, the global switch, the activity monitor.

import { h, select, button, table, row, itemsOf, formatDate } from "./dom.js";
import { getAll, qs } from "./api.js";
import { heading, showErrors, clearErrors, flash, pager, badge, isFailure } from "./ui.js";

function tabs(current) {
  const tab = (href, label, key) => h("a", { href, class: "tab", "aria-current": key === current ? "page" : null }, label);
  return h("nav", { class: "tabs", "aria-label": "Events sections" },
    tab("#/events", "Event List", "list"),
    tab("#/events/settings", "Settings", "settings"),
    tab("#/events/activity", "Activity Monitor", "activity"));
}

function activeMark(active, enabled) {
  const text = active ? "Active" : "Inactive";
  const title = enabled ? text : `${text} (all actions are disabled in Settings)`;
  return h("span", { class: `mark ${active ? "yes" : "no"}${enabled ? "" : " muted"}`, title },
    h("span", { "aria-hidden": "true" }, active ? "✓" : "✗"), h("span", { class: "sr-only" }, title));
}

export async function renderList(root, { api }) {
  const [events, settings] = await Promise.all([api.get("/events"), api.get("/settings")]);
  const enabled = Boolean(settings.actions_enabled);
  const rows = itemsOf(events).map((event) => row([
    ["Event", h("a", { href: `#/events/${event.key}`, class: "strong" }, event.name)],
    ["Key", h("code", {}, event.key)],
    ["Description", event.description],
    ["Active", activeMark(event.active, enabled)],
    ["Actions", `${(event.actions || []).length}`],
    ["", h("a", { href: `#/events/${event.key}`, class: "icon-link", "aria-label": `Edit ${event.name}` }, "Edit")],
  ], { dataset: { event: event.key } }));
  root.append(heading("Events"), tabs("list"));
  if (!enabled) {
    root.append(h("p", { class: "notice" }, "Actions are globally disabled, so no event fires any action. ",
      h("a", { href: "#/events/settings" }, "Turn them on in Settings"), "."));
  }
  root.append(table(["Event", "Key", "Description", "Active", "Actions", ""], rows, { className: "events" }));
}

function yesNo(name, value, legend) {
  const option = (label, checked) => h("label", { class: "radio" },
    h("input", { type: "radio", name, value: checked ? "yes" : "no", checked: value === checked }), ` ${label}`);
  return h("fieldset", { class: "yesno", dataset: { field: name } }, h("legend", {}, legend),
    option("Yes", true), option("No", false));
}

function actionPicker(allActions, chosen) {
  const filter = h("input", { type: "search", placeholder: "Filter actions", "aria-label": "Filter actions" });
  const items = allActions.map((action) => h("li", { dataset: { name: action.name.toLowerCase() } },
    h("label", {}, h("input", { type: "checkbox", name: "actions", value: String(action.id),
      checked: chosen.has(action.id) }), ` ${action.name}`,
    h("span", { class: "muted small" }, ` ${action.method} ${action.url}`))));
  filter.addEventListener("input", () => {
    const needle = filter.value.trim().toLowerCase();
    for (const item of items) item.hidden = Boolean(needle) && !item.dataset.name.includes(needle);
  });
  const list = items.length ? h("ul", { class: "checklist" }, items)
    : h("p", { class: "muted" }, "No actions yet. ", h("a", { href: "#/actions/new" }, "Add an action"), ".");
  return h("fieldset", { class: "picker", dataset: { field: "actions" } },
    h("legend", {}, "Actions"),
    h("p", { class: "hint" }, "Select the actions to trigger when the event occurs."),
    items.length > 8 ? filter : null, list);
}

export async function renderEdit(root, { api, params }) {
  const key = params[0];
  const [event, allActions] = await Promise.all([api.get(`/events/${encodeURIComponent(key)}`), getAll("/actions")]);
  const form = h("form", { class: "form", novalidate: true },
    h("div", { class: "form-errors", hidden: true }),
    actionPicker(allActions, new Set(event.actions || [])),
    h("fieldset", { class: "group" }, h("legend", {}, "Settings"), yesNo("active", Boolean(event.active), "Active")),
    h("div", { class: "buttons" }, button("Save", null, { kind: "primary", type: "submit" }),
      h("a", { href: "#/events", class: "btn btn-secondary" }, "Go back")));
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    clearErrors(form);
    const data = new FormData(form);
    const body = { active: data.get("active") === "yes", actions: data.getAll("actions").map(Number) };
    try {
      await api.put(`/events/${encodeURIComponent(key)}`, body);
      flash(`Saved ${event.name}`);
      location.hash = "#/events";
    } catch (error) {
      showErrors(form, error);
    }
  });
  root.append(heading(`Event › ${event.name}`), h("p", { class: "muted" }, h("code", {}, event.key), " — ",
    event.description), form);
}

export async function renderSettings(root, { api }) {
  const settings = await api.get("/settings");
  const form = h("form", { class: "form", novalidate: true },
    h("div", { class: "form-errors", hidden: true }),
    h("fieldset", { class: "group" }, h("legend", {}, "Events"),
      yesNo("actions_enabled", Boolean(settings.actions_enabled), "Active"),
      h("p", { class: "hint" }, "When off, no event fires any action (events are still tracked).")),
    h("div", { class: "buttons" }, button("Save", null, { kind: "primary", type: "submit" }),
      h("a", { href: "#/events", class: "btn btn-secondary" }, "Go back")));
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    clearErrors(form);
    const enabled = new FormData(form).get("actions_enabled") === "yes";
    try {
      await api.put("/settings", { actions_enabled: enabled });
      flash(enabled ? "Actions are enabled for all active events" : "Actions are disabled for all events");
    } catch (error) {
      showErrors(form, error);
    }
  });
  root.append(heading("Events"), tabs("settings"), form);
}

const PER_PAGE = 25;

function activityRow(item) {
  const failed = isFailure(item.status);
  return row([
    ["Action", item.action || (item.action_id ? `#${item.action_id}` : "")],
    ["Event", h("div", {}, h("span", { class: "break" }, item.event || ""),
      item.call_id ? h("div", { class: "muted small break", title: "Call id" }, `call ${item.call_id}`) : null)],
    ["Status", badge(String(item.status), failed ? "bad" : "good")],
    ["Message", h("span", { class: "message", title: item.message || "" }, item.message || "")],
    ["Date", h("time", { datetime: item.date || "" }, formatDate(item.date))],
    ["Attempt", item.attempt ? String(item.attempt) : ""],
  ], { class: failed ? "failed" : null, dataset: { status: String(item.status) } });
}

const EVENT_FILTER = [["", "All events"], ["call_incoming", "Incoming Call"], ["ringing", "Ringing"],
  ["call_hangup", "Hangup Call"], ["call_answered", "Answered Call"], ["call_unanswered", "Unanswered Call"]];

export async function renderActivity(root, { api, isCurrent }) {
  const state = { page: 1, search: "", event: "", failed: false };
  const search = h("input", { type: "search", id: "activity-search", name: "search", autocomplete: "off" });
  const eventFilter = select(EVENT_FILTER, "", { id: "activity-event", "aria-label": "Event" });
  const failedOnly = h("input", { type: "checkbox", id: "activity-failed" });
  const results = h("div", { class: "results", "aria-live": "polite" });
  const load = async () => {
    const data = await api.get(`/activity${qs({ page: state.page, per_page: PER_PAGE, search: state.search,
      event: state.event, failed: state.failed ? "true" : "" })}`);
    if (!isCurrent()) return;
    const items = itemsOf(data);
    const body = items.length ? table(["Action", "Event", "Status", "Message", "Date", "Attempt"],
      items.map(activityRow), { className: "activity" }) : h("p", { class: "empty" }, "No activity found.");
    results.replaceChildren(body, pager(state.page, data.per_page || PER_PAGE, data.total ?? items.length, (page) => {
      state.page = page;
      load();
    }));
  };
  let debounce = null;
  const form = h("form", { class: "toolbar", role: "search", onsubmit: (event) => {
    event.preventDefault();
    Object.assign(state, { search: search.value.trim(), event: eventFilter.value, failed: failedOnly.checked, page: 1 });
    load();
  } }, h("label", { for: search.id }, "Search"), search, eventFilter,
  h("label", { class: "inline-check", for: failedOnly.id }, failedOnly, " Failed only"),
  button("Search", null, { type: "submit" }), button("Refresh", () => load()));
  eventFilter.addEventListener("change", () => form.requestSubmit());
  failedOnly.addEventListener("change", () => form.requestSubmit());
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => form.requestSubmit(), 400);
  });
  root.append(heading("Events"), tabs("activity"),
    h("p", { class: "muted" }, "Every delivery attempt and test, newest first. Failed attempts are marked."),
    form, results);
  await load();
  const timer = setInterval(() => {
    if (document.visibilityState !== "hidden" && document.activeElement !== search) load().catch(() => {});
  }, 5000);
  return () => {
    clearInterval(timer);
    clearTimeout(debounce);
  };
}
