// The Body section of an action: none, form-data, x-www-form-urlencoded (key/value rows), raw (text + type).

import { h, field, select } from "./dom.js";
import { kvEditor } from "./kv.js";

const TYPES = [["none", "none"], ["form-data", "form-data"], ["x-www-form-urlencoded", "x-www-form-urlencoded"],
  ["raw", "raw"]];
const CONTENT_TYPES = ["application/json", "text/plain", "application/xml", "text/xml", "text/html",
  "application/javascript"];

/** Why `text` is not JSON once each {{tag}} stands for a value; "" when it is (or is empty). */
export function jsonProblem(text) {
  if (!text.trim()) return "";
  try {
    JSON.parse(text.replace(/\{\{[A-Za-z0-9_\-/.]+\}\}/g, "0"));
    return "";
  } catch (error) {
    return error.message;
  }
}

export function bodyEditor(body) {
  const type = select(TYPES, body.type || "none", { name: "body_type" });
  const fields = kvEditor("Body fields", body.fields || [], { fieldName: "body.fields" });
  const listId = "content-types";
  const contentType = h("input", { name: "content_type", list: listId, autocomplete: "off",
    value: body.content_type || "application/json" });
  const raw = h("textarea", { name: "raw", rows: 8, spellcheck: "false", class: "code" });
  raw.value = body.raw || "";
  const fieldsBox = h("div", {}, fields.el);
  const rawBox = h("div", {},
    field("Content type", contentType, { fieldName: "body.content_type" }),
    h("datalist", { id: listId }, CONTENT_TYPES.map((value) => h("option", { value }))),
    field("Raw body", raw, { fieldName: "body.raw",
      hint: "Sent as typed, with {{tag}} replaced (JSON-escaped inside a JSON body)." }));
  const jsonNote = h("p", { class: "field-warning", "aria-live": "polite", hidden: true });
  raw.after(jsonNote);
  const checkJson = () => {
    const problem = contentType.value.includes("json") ? jsonProblem(raw.value) : "";
    jsonNote.textContent = problem ? `Not valid JSON (tags counted as values): ${problem}` : "";
    jsonNote.hidden = !problem;
  };
  raw.addEventListener("input", checkJson);
  contentType.addEventListener("input", checkJson);
  const show = () => {
    fieldsBox.hidden = !["form-data", "x-www-form-urlencoded"].includes(type.value);
    rawBox.hidden = type.value !== "raw";
  };
  type.addEventListener("change", show);
  show();
  checkJson();
  const el = h("fieldset", { class: "group" }, h("legend", {}, "Body"),
    field("Type", type, { fieldName: "body.type" }), fieldsBox, rawBox);
  const get = () => {
    if (type.value === "raw") return { type: "raw", content_type: contentType.value.trim(), raw: raw.value };
    if (type.value === "none") return { type: "none" };
    return { type: type.value, fields: fields.get() };
  };
  return { el, get };
}
