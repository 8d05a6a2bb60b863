// A key/value rows editor (query, headers, form fields) that always keeps one empty row at the end.

import { h, button } from "./dom.js";

export function kvEditor(label, rows, { onChange, fieldName } = {}) {
  const body = h("tbody");
  const wrap = h("div", { class: "kv", dataset: fieldName ? { field: fieldName } : {} },
    h("table", { class: "kv-table" },
      h("caption", { class: "sr-only" }, label),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Value"),
        h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Remove")))),
      body));

  const renumber = () => {
    [...body.rows].forEach((tr, index) => {
      const [key, value, remove] = tr.querySelectorAll("input, button");
      key.setAttribute("aria-label", `${label} key ${index + 1}`);
      value.setAttribute("aria-label", `${label} value ${index + 1}`);
      remove.setAttribute("aria-label", `Remove ${label.toLowerCase()} row ${index + 1}`);
      key.dataset.field = `${fieldName}.${index}.key`;
      value.dataset.field = `${fieldName}.${index}.value`;
    });
  };
  const ensureTrailingEmpty = () => {
    const last = body.rows[body.rows.length - 1];
    const values = last ? [...last.querySelectorAll("input")].map((input) => input.value) : ["x"];
    if (values.some((v) => v !== "")) body.append(makeRow({ key: "", value: "" }));
    renumber();
  };
  const changed = () => {
    ensureTrailingEmpty();
    if (onChange) onChange();
  };
  const makeRow = (item) => {
    const key = h("input", { value: item.key, class: "kv-key", autocomplete: "off", spellcheck: "false", oninput: changed });
    const value = h("input", { value: item.value, class: "kv-value", autocomplete: "off", spellcheck: "false", oninput: changed });
    const tr = h("tr", {}, h("td", {}, key), h("td", {}, value), h("td", {}, button("×", () => {
      tr.remove();
      changed();
    }, { kind: "icon" })));
    return tr;
  };
  const set = (items) => {
    body.replaceChildren(...(items || []).map(makeRow));
    ensureTrailingEmpty();
  };
  const get = () => [...body.rows].map((tr) => {
    const [key, value] = tr.querySelectorAll("input");
    return { key: key.value, value: value.value };
  }).filter((item) => item.key !== "" || item.value !== "");
  set(rows);
  return { el: wrap, set, get };
}
