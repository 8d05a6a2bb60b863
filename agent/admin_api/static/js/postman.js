// Import a Postman collection: pick a file, preview its requests with the per-item report, select, import.
// A collection variable whose tag is taken (a custom parameter with another value, or a system parameter) gets a
// choice: a new tag (the default for a custom parameter), keep, overwrite, or the live system value (asked).

import { h, button, nextId } from "./dom.js";
import { heading, showErrors, clearErrors, badge, flash, SECRET_DOTS } from "./ui.js";

const STATUS_KIND = { importable: "good", changed: "warn", skipped: "bad" };

function itemCard(item) {
  const id = nextId("pm");
  const skipped = item.status === "skipped";
  const box = h("input", { type: "checkbox", id, name: "select", value: String(item.index), disabled: skipped });
  return h("li", { class: `pm-item pm-${item.status}`, dataset: { index: String(item.index) } },
    h("div", { class: "pm-head" }, box,
      h("label", { for: id, class: "strong" }, item.name || "Untitled"), badge(item.status, STATUS_KIND[item.status] || "warn")),
    h("code", { class: "break" }, `${item.method || ""} ${item.url || ""}`),
    (item.notes || []).length ? h("ul", { class: "notes" }, item.notes.map((note) => h("li", {}, note))) : null);
}

function variablesBox(variables) {
  if (!variables || !variables.length) return null;
  const fresh = variables.filter((variable) => !variable.exists);
  const create = h("input", { type: "checkbox", id: "postman-variables", name: "variables", checked: true });
  return h("fieldset", { class: "group" }, h("legend", {}, "Collection variables"),
    h("ul", { class: "var-list" }, variables.map((variable) => h("li", {}, h("code", {}, `{{${variable.key}}}`),
      " = ", variable.secret ? h("span", { class: "masked" }, SECRET_DOTS)
        : h("code", { class: "break" }, String(variable.value ?? "")),
      variable.exists ? h("span", { class: "muted small" }, " (already a parameter: kept as is)") : null))),
    fresh.length ? h("div", { class: "field check" }, h("label", { for: create.id }, create,
      ` Create the ${fresh.length} new variable(s) as custom parameters`)) : null);
}

const CHOICE_LABELS = {
  new: (clash) => `Import as a new parameter {{${clash.new_tag}}}`,
  keep: (clash) => `Keep the existing {{${clash.tag}}} (the requests use its value)`,
  overwrite: (clash) => `Overwrite {{${clash.tag}}} with the collection's value (for every action)`,
  system: (clash) => `Use the live system value {{${clash.tag}}}`,
};

function clashRow(clash) {
  const id = nextId("clash");
  const ask = clash.kind === "system";
  const select = h("select", { id, name: "clash", dataset: { key: clash.key } },
    ask ? h("option", { value: "", selected: true, disabled: true }, "Choose…") : null,
    clash.choices.map((choice) => h("option", { value: choice, selected: !ask && choice === clash.choice },
      CHOICE_LABELS[choice](clash))));
  const what = ask
    ? [h("code", {}, `{{${clash.key}}}`), " is a system parameter; the collection sets it to ",
      h("code", { class: "break" }, clash.value)]
    : [h("code", {}, `{{${clash.key}}}`), " is already ", h("code", { class: "break" }, clash.existing),
      "; the collection has ", h("code", { class: "break" }, clash.value)];
  return h("li", { class: "pm-clash" }, h("label", { for: id }, ...what), " ", select);
}

function clashesBox(clashes) {
  if (!clashes || !clashes.length) return null;
  return h("fieldset", { class: "group", id: "postman-clashes" },
    h("legend", {}, "Variables whose tag is taken: choose for each"),
    h("ul", { class: "var-list" }, clashes.map(clashRow)));
}

function chosen(form) {
  const choices = {};
  const missing = [];
  for (const select of form.querySelectorAll('select[name="clash"]')) {
    if (select.value) choices[select.dataset.key] = select.value;
    else missing.push(`{{${select.dataset.key}}}`);
  }
  return { choices, missing };
}

export async function render(root, { api }) {
  const state = { collection: null };
  const fileInput = h("input", { type: "file", id: "postman-file", accept: ".json,application/json" });
  const preview = h("div", { class: "results", "aria-live": "polite" });
  const pickForm = h("form", { class: "form", novalidate: true },
    h("div", { class: "form-errors", hidden: true }),
    h("div", { class: "field", dataset: { field: "collection" } },
      h("label", { for: fileInput.id }, "Postman collection (v2.0 or v2.1, exported as JSON)"), fileInput));

  const showPreview = (data) => {
    const items = data.items || [];
    const selectAll = h("input", { type: "checkbox", id: "postman-select-all" });
    const list = h("ul", { class: "pm-list" }, items.map(itemCard));
    const boxes = () => [...list.querySelectorAll('input[name="select"]:not(:disabled)')];
    selectAll.addEventListener("change", () => boxes().forEach((box) => { box.checked = selectAll.checked; }));
    list.addEventListener("change", () => { selectAll.checked = boxes().length > 0 && boxes().every((b) => b.checked); });
    const importForm = h("form", { class: "form", novalidate: true },
      h("div", { class: "form-errors", hidden: true }),
      h("p", {}, `${items.length} request(s) found.`),
      (data.notes || []).length ? h("ul", { class: "notes", id: "postman-notes", "aria-label": "About the collection" },
        data.notes.map((note) => h("li", {}, note))) : null,
      h("div", { class: "field check" }, h("label", { for: selectAll.id }, selectAll, " Select All Actions")),
      list, clashesBox(data.clashes), variablesBox(data.variables),
      h("div", { class: "buttons" }, button("Import", null, { kind: "primary", type: "submit" }),
        h("a", { href: "#/actions", class: "btn btn-secondary" }, "Go back")));
    importForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(importForm);
      const select = boxes().filter((box) => box.checked).map((box) => Number(box.value));
      if (!select.length) {
        showErrors(importForm, { message: "Select at least one request to import." });
        return;
      }
      const { choices, missing } = chosen(importForm);
      if (missing.length) {
        showErrors(importForm, { message: `Choose what ${missing.join(", ")} should mean before importing.` });
        return;
      }
      try {
        const variables = importForm.querySelector("#postman-variables");
        const result = await api.post("/postman/import",
          { collection: state.collection, select, choices, variables: variables ? variables.checked : false });
        showImported(result);
      } catch (error) {
        showErrors(importForm, error);
      }
    });
    preview.replaceChildren(importForm);
  };

  const showImported = (result) => {
    const created = result.created || [];
    flash(`Imported ${created.length} action(s)`);
    preview.replaceChildren(h("section", { class: "result result-good", id: "import-result" },
      h("h2", {}, `Imported ${created.length} action(s)`),
      h("ul", {}, created.map((action) => h("li", {}, h("a", { href: `#/actions/${action.id}` }, action.name)))),
      (result.parameters || []).length ? h("p", {}, `New parameters: ${result.parameters.join(", ")}`) : null,
      h("p", {}, h("a", { href: "#/actions", class: "btn btn-primary" }, "Back to Actions"))));
  };

  fileInput.addEventListener("change", async () => {
    clearErrors(pickForm);
    preview.replaceChildren();
    const file = fileInput.files[0];
    if (!file) return;
    try {
      state.collection = JSON.parse(await file.text());
    } catch {
      showErrors(pickForm, { message: `${file.name} is not valid JSON.` });
      return;
    }
    try {
      showPreview(await api.post("/postman/preview", state.collection));
    } catch (error) {
      showErrors(pickForm, error);
    }
  });
  root.append(heading("Import Postman Collection"), pickForm, preview);
}
