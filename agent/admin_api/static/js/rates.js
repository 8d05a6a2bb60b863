// Rates (call rating): the prefix rate table; add, edit, delete; CSV import and export.

import { h, field, button, table, row, itemsOf } from "./dom.js";
import { request } from "./api.js";
import { heading, formDialog, confirmDialog, flash, showErrors, clearErrors, errorBox } from "./ui.js";

const COLUMNS = ["Prefix", "Price / minute", "Connection fee", "Minimum (s)", "Increment (s)", "Description", ""];

function rateFields(rate) {
  const input = (name, value, props = {}) => h("input", { name, value: value ?? "", autocomplete: "off", ...props });
  return [
    field("Prefix", input("prefix", rate.prefix, { required: true, inputmode: "tel" }), { fieldName: "prefix",
      hint: "Digits the called number starts with; the longest matching prefix wins." }),
    field("Price per minute", input("price_per_minute", rate.price_per_minute, { required: true, inputmode: "decimal" }),
      { fieldName: "price_per_minute" }),
    field("Connection fee", input("connection_fee", rate.connection_fee ?? "0", { inputmode: "decimal" }),
      { fieldName: "connection_fee" }),
    field("Minimum billed seconds", input("minimum_s", rate.minimum_s ?? 0, { type: "number", min: 0, step: 1 }),
      { fieldName: "minimum_s" }),
    field("Billing increment (seconds)", input("increment_s", rate.increment_s ?? 1, { type: "number", min: 1, step: 1 }),
      { fieldName: "increment_s" }),
    field("Description", input("description", rate.description), { fieldName: "description" }),
  ];
}

function rateBody(data) {
  return {
    prefix: String(data.get("prefix")).trim(),
    price_per_minute: String(data.get("price_per_minute")).trim(),
    connection_fee: String(data.get("connection_fee")).trim() || "0",
    minimum_s: Number(data.get("minimum_s") || 0),
    increment_s: Number(data.get("increment_s") || 1),
    description: String(data.get("description")).trim(),
  };
}

function editRate(api, rate) {
  return formDialog(rate.id ? `Rate ${rate.prefix}` : "Add rate", rateFields(rate), {
    onSubmit: (data) => (rate.id ? api.put(`/rates/${rate.id}`, rateBody(data)) : api.post("/rates", rateBody(data))),
  });
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function csvForm(api, reload) {
  const file = h("input", { type: "file", id: "rates-file", accept: ".csv,text/csv" });
  const form = h("form", { class: "form inline-form", novalidate: true },
    h("div", { class: "form-errors", hidden: true }),
    h("div", { class: "field", dataset: { field: "csv" } },
      h("label", { for: file.id }, "Import a CSV file (replaces the whole table)"), file,
      h("p", { class: "hint" }, "Columns: prefix, price_per_minute, connection_fee, minimum_s, increment_s, description.")),
    h("div", { class: "buttons" }, button("Import CSV", null, { type: "submit" }),
      button("Export CSV", async () => {
        try {
          download("rates.csv", await request("GET", "/rates.csv", undefined, { text: true }));
        } catch (error) {
          showErrors(form, error);
        }
      })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!file.files[0]) {
      showErrors(form, { message: "Choose a CSV file first." });
      return;
    }
    try {
      const result = await request("POST", "/rates/import", await file.files[0].text(), { raw: "text/csv" });
      flash(`Imported ${result.imported ?? 0} rate(s)`);
      file.value = "";
      reload();
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}

export async function render(root, { api, isCurrent }) {
  const results = h("div", { class: "results" });
  const load = async () => {
    let items;
    try {
      items = itemsOf(await api.get("/rates"));
    } catch (error) {
      results.replaceChildren(errorBox(error));
      return;
    }
    if (!isCurrent()) return;
    results.replaceChildren(items.length ? table(COLUMNS, items.map((rate) => rateRow(api, rate, load)),
      { className: "rates" }) : h("p", { class: "empty" }, "No rates: calls are not rated (call_cost stays empty)."));
  };
  const add = async () => {
    if (await editRate(api, {})) {
      flash("Rate added");
      load();
    }
  };
  root.append(heading("Rates", button("Add Rate", add, { kind: "primary" })),
    h("p", { class: "muted" }, "Answered outbound calls are priced by the longest matching prefix of the called number ",
      "(parameters call_cost and call_rating_duration)."),
    results, h("section", { class: "group" }, h("h2", {}, "CSV"), csvForm(api, load)));
  await load();
}

function rateRow(api, rate, reload) {
  const edit = async () => {
    if (await editRate(api, rate)) {
      flash(`Saved rate ${rate.prefix}`);
      reload();
    }
  };
  const remove = async () => {
    if (!(await confirmDialog(`Delete the rate for prefix ${rate.prefix}?`))) return;
    try {
      await api.del(`/rates/${rate.id}`);
      flash(`Deleted rate ${rate.prefix}`);
      reload();
    } catch (error) {
      flash(error.message, "bad");
    }
  };
  return row([
    ["Prefix", h("code", {}, rate.prefix)],
    ["Price / minute", String(rate.price_per_minute)],
    ["Connection fee", String(rate.connection_fee ?? "0")],
    ["Minimum (s)", String(rate.minimum_s ?? 0)],
    ["Increment (s)", String(rate.increment_s ?? 1)],
    ["Description", rate.description || ""],
    ["", h("div", { class: "row-buttons" },
      button("Edit", edit, { class: "btn btn-secondary btn-small", "aria-label": `Edit rate ${rate.prefix}` }),
      button("Delete", remove, { class: "btn btn-danger btn-small", "aria-label": `Delete rate ${rate.prefix}` }))],
  ], { dataset: { prefix: rate.prefix } });
}
