// Small DOM helpers: every element is built with createElement and text nodes, never from HTML strings.

const PROPERTIES = new Set(["value", "checked", "selected", "disabled", "hidden", "required", "multiple", "open"]);

/** Build an element: h("button", {class: "btn", onclick: fn}, "Save"). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    setProp(el, key, value);
  }
  append(el, children);
  return el;
}

function setProp(el, key, value) {
  if (value === undefined || value === null) return;
  if (key === "class") el.className = value;
  else if (key === "text") el.textContent = value;
  else if (key === "dataset") Object.assign(el.dataset, value);
  else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
  else if (PROPERTIES.has(key)) el[key] = value;
  else if (value === false) return;
  else el.setAttribute(key, value === true ? "" : String(value));
}

/** Append children (nested arrays, strings, numbers, nodes; null and false are skipped). */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

let uid = 0;
/** A unique id for label/aria wiring. */
export function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: label above the control, optional hint, error slot keyed by `field`. */
export function field(label, control, { hint, fieldName } = {}) {
  if (!control.id) control.id = nextId("f");
  const parts = [h("label", { for: control.id }, label), control];
  if (hint) {
    const hintEl = h("p", { class: "hint", id: `${control.id}-hint` }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
    parts.push(hintEl);
  }
  return h("div", { class: "field", dataset: fieldName ? { field: fieldName } : {} }, parts);
}

export function select(options, value, props = {}) {
  const el = h("select", props);
  for (const option of options) {
    const [optValue, optLabel] = Array.isArray(option) ? option : [option, option];
    el.append(h("option", { value: optValue, selected: optValue === value }, optLabel));
  }
  return el;
}

export function button(label, onclick, { kind = "secondary", type = "button", ...rest } = {}) {
  return h("button", { type, class: `btn btn-${kind}`, onclick, ...rest }, label);
}

/** A table with a caption-less header row; `cells` per row are [label, content] so phones can show labels. */
export function table(headers, rows, { className = "" } = {}) {
  const head = h("thead", {}, h("tr", {}, headers.map((title) => h("th", { scope: "col" }, title))));
  const body = h("tbody", {}, rows);
  return h("div", { class: "table-wrap" }, h("table", { class: `data ${className}` }, head, body));
}

export function row(cells, props = {}) {
  return h("tr", props, cells.map(([label, content, cellProps]) =>
    h("td", { "data-label": label, ...(cellProps || {}) }, content)));
}

export function itemsOf(data) {
  return Array.isArray(data) ? data : (data && Array.isArray(data.items) ? data.items : []);
}

export function formatDate(value) {
  if (!value) return "";
  const date = new Date(typeof value === "number" ? value * 1000 : value);
  if (Number.isNaN(date.getTime())) return String(value);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} `
    + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
