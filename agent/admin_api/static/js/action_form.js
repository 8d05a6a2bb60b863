// Add / edit an action: general, query (in step with the URL), body, authorization, advanced options,
// the undefined-parameter banner, Save, Save & Test and Preview (a dry run of the unsaved form).

import { h, field, select, button, nextId } from "./dom.js";
import { getAll } from "./api.js";
import { splitUrl, joinUrl } from "./urlquery.js";
import { kvEditor } from "./kv.js";
import { authEditor } from "./auth_editor.js";
import { bodyEditor } from "./body_editor.js";
import { undefinedBanner } from "./undefined_banner.js";
import { heading, showErrors, clearErrors, flash } from "./ui.js";

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];
const EMPTY = { name: "", description: "", method: "GET", url: "", query: [], headers: [], body: { type: "none" },
  auth: { type: "none" }, timeout_s: null };

function generalSection(action, syncFromUrl) {
  const name = h("input", { name: "name", value: action.name, required: true, autocomplete: "off", maxlength: 200 });
  const description = h("input", { name: "description", value: action.description || "", autocomplete: "off" });
  const method = select(METHODS, action.method, { name: "method" });
  const split = splitUrl(action.url);
  const url = h("input", { name: "url", type: "text", inputmode: "url", required: true, autocomplete: "off",
    spellcheck: "false", value: joinUrl(split.base, [...split.query, ...(action.query || [])]),
    placeholder: "https://example.com/hook?call={{call_id}}", oninput: syncFromUrl });
  const el = h("fieldset", { class: "group" }, h("legend", {}, "General"),
    field("Name", name, { fieldName: "name" }),
    field("Description", description, { fieldName: "description" }),
    field("HTTP Method", method, { fieldName: "method" }),
    field("URL", url, { fieldName: "url", hint: "Use {{tag}} for parameters. A query string here fills Query below." }));
  return { el, name, description, method, url };
}

function advancedSection(action) {
  const headers = kvEditor("Headers", action.headers || [], { fieldName: "headers" });
  const timeout = h("input", { name: "timeout_s", type: "number", min: "0.1", max: "300", step: "0.1",
    value: action.timeout_s ?? "", placeholder: "default" });
  const id = nextId("advanced");
  const el = h("div", { id, class: "advanced", hidden: true },
    h("fieldset", { class: "group" }, h("legend", {}, "Headers"), headers.el),
    h("fieldset", { class: "group" }, h("legend", {}, "Delivery"),
      field("Timeout (seconds)", timeout, { fieldName: "timeout_s", hint: "Total time allowed for one attempt." })));
  const toggle = button("Show Advanced Options", () => {
    el.hidden = !el.hidden;
    toggle.textContent = el.hidden ? "Show Advanced Options" : "Hide Advanced Options";
    toggle.setAttribute("aria-expanded", String(!el.hidden));
  }, { kind: "link", "aria-expanded": "false", "aria-controls": id, class: "btn btn-link advanced-toggle" });
  return { el, toggle, headers, timeout };
}

function resultPanel() {
  return h("section", { class: "result", id: "action-result", "aria-live": "polite", hidden: true });
}

function showResult(panel, title, status, text) {
  const failed = status !== undefined && (Number(status) === 0 || Number(status) >= 400);
  panel.className = `result ${status === undefined ? "" : (failed ? "result-bad" : "result-good")}`;
  panel.replaceChildren(h("h2", {}, title), h("pre", { class: "output" }, text));
  panel.hidden = false;
  panel.scrollIntoView({ block: "nearest" });
}

function formatRendered(data) {
  const headers = Array.isArray(data.headers)
    ? data.headers.map((item) => (Array.isArray(item) ? item : [item.key, item.value]))
    : Object.entries(data.headers || {});
  const lines = [`${data.method || ""} ${data.url || ""}`, ...headers.map(([k, v]) => `${k}: ${v}`)];
  const body = data.body ?? data.body_text ?? "";
  return body ? `${lines.join("\n")}\n\n${body}` : lines.join("\n");
}

export async function render(root, { api, params }) {
  const state = { id: params[0] ? Number(params[0]) : null };
  const [loaded, parameters] = await Promise.all([
    state.id ? api.get(`/actions/${state.id}`) : Promise.resolve(EMPTY), getAll("/parameters")]);
  const action = { ...EMPTY, ...loaded };
  let payload = null;
  const syncFromUrl = () => {
    query.set(splitUrl(general.url.value).query);
    changed();
  };
  const general = generalSection(action, syncFromUrl);
  const query = kvEditor("Query", splitUrl(general.url.value).query, { fieldName: "query", onChange: () => {
    general.url.value = joinUrl(splitUrl(general.url.value).base, query.get());
    changed();
  } });
  const body = bodyEditor(action.body || { type: "none" });
  const auth = authEditor(action.auth || { type: "none" });
  const advanced = advancedSection(action);
  const banner = undefinedBanner(api, new Set(parameters.map((p) => p.tag)), () => payload);
  const title = heading(state.id ? `Action › ${action.name}` : "Action › Add", advanced.toggle);
  const panel = resultPanel();

  function collect() {
    const split = splitUrl(general.url.value.trim());
    const timeout = advanced.timeout.value.trim();
    return { name: general.name.value.trim(), description: general.description.value.trim(),
      method: general.method.value, url: split.base, query: query.get(), headers: advanced.headers.get(),
      body: body.get(), auth: auth.get(), timeout_s: timeout === "" ? null : Number(timeout) };
  }
  function changed() {
    payload = collect();
    general.description.placeholder = payload.url ? `${payload.method} ${joinUrl(payload.url, payload.query)}` : "";
    banner.update();
  }

  async function save() {
    clearErrors(form);
    const data = collect();
    const saved = state.id ? await api.put(`/actions/${state.id}`, data) : await api.post("/actions", data);
    if (!state.id) {
      state.id = saved.id;
      history.replaceState(null, "", `#/actions/${saved.id}`);
    }
    title.querySelector("h1").textContent = `Action › ${saved.name}`;
    return saved;
  }
  const guarded = (work) => async (event) => {
    if (event) event.preventDefault();
    try {
      await work();
    } catch (error) {
      showErrors(form, error);
      if (advanced.el.hidden && advanced.el.querySelector(".field-error")) advanced.toggle.click();
    }
  };
  const onSave = guarded(async () => {
    const saved = await save();
    flash(`Saved ${saved.name}`);
  });
  const onTest = guarded(async () => {
    await save();
    showResult(panel, "Testing…", undefined, "Sending the request now.");
    const result = await api.post(`/actions/${state.id}/test`, {});
    const status = result.status ?? 0;
    showResult(panel, `Test result: status ${status}`, status,
      `${result.message ?? ""}${result.duration_ms !== undefined ? `\n\n(${result.duration_ms} ms)` : ""}`);
  });
  const onPreview = guarded(async () => {
    clearErrors(form);
    const rendered = await api.post("/actions/dry-run", { action: collect() });
    showResult(panel, "Dry run: the request as it would be sent (not sent)", undefined, formatRendered(rendered));
  });

  const form = h("form", { class: "form action-form", novalidate: true, onsubmit: onSave, oninput: changed,
    onchange: changed },
  h("div", { class: "form-errors", hidden: true }),
  h("div", { class: "form-columns" },
    h("div", {}, general.el, h("fieldset", { class: "group" }, h("legend", {}, "Query"), query.el), body.el),
    h("div", {}, auth.el, advanced.el)),
  h("div", { class: "buttons" },
    button("Save", null, { kind: "primary", type: "submit" }),
    button("Save & Test", onTest),
    button("Preview", onPreview, { title: "Dry run: show the rendered request without saving or sending it" }),
    h("a", { href: "#/actions", class: "btn btn-secondary" }, "Go back")));
  root.append(title, banner.el, form, panel);
  changed();
}
