// The Authorization section of an action: none, API key (header or query), basic, bearer.

import { h, field, select } from "./dom.js";

const TYPES = [["none", "No Auth"], ["api_key", "API Key"], ["basic", "Basic Auth"], ["bearer", "Bearer Token"]];

function input(name, value, props = {}) {
  return h("input", { name, value: value || "", autocomplete: "off", spellcheck: "false", ...props });
}

export function authEditor(auth) {
  const type = select(TYPES, auth.type || "none", { name: "auth_type" });
  const controls = {
    key: input("auth_key", auth.key), value: input("auth_value", auth.value),
    in: select([["header", "Header"], ["query", "Query params"]], auth.in || "header", { name: "auth_in" }),
    username: input("auth_username", auth.username),
    password: input("auth_password", auth.password, { type: "password", autocomplete: "new-password" }),
    token: input("auth_token", auth.token),
  };
  const groups = {
    api_key: h("div", {}, field("Key", controls.key, { fieldName: "auth.key" }),
      field("Value", controls.value, { fieldName: "auth.value" }),
      field("Add to", controls.in, { fieldName: "auth.in" })),
    basic: h("div", {}, field("Username", controls.username, { fieldName: "auth.username" }),
      field("Password", controls.password, { fieldName: "auth.password" })),
    bearer: h("div", {}, field("Token", controls.token, { fieldName: "auth.token",
      hint: "Sent as Authorization: Bearer <token>. {{tag}} works here." })),
  };
  const show = () => {
    for (const [name, group] of Object.entries(groups)) group.hidden = name !== type.value;
  };
  type.addEventListener("change", show);
  show();
  const el = h("fieldset", { class: "group" }, h("legend", {}, "Authorization"),
    field("Auth Type", type, { fieldName: "auth.type" }), Object.values(groups));
  const get = () => {
    const c = controls;
    switch (type.value) {
      case "api_key": return { type: "api_key", key: c.key.value, value: c.value.value, in: c.in.value };
      case "basic": return { type: "basic", username: c.username.value, password: c.password.value };
      case "bearer": return { type: "bearer", token: c.token.value };
      default: return { type: "none" };
    }
  };
  return { el, get };
}
