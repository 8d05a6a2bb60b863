// Shared page pieces: API error display next to forms, confirm and prompt dialogs, pager, flash messages.

import { h, clear, field, button, nextId } from "./dom.js";

// How the page draws a secret value: dots, as a password field does. The API never sends a secret value back
// (it answers with the text mask "********", which a PUT may return to keep the value); the page shows neither,
// only this glyph, so that a mask is never mistaken for a value typed as eight asterisks.
export const SECRET_DOTS = "••••••••";

/** Show an ApiError (or any error) on a form: a summary box plus each detail next to its field. */
export function showErrors(form, error) {
  clearErrors(form);
  let summary = form.querySelector(".form-errors");
  if (!summary) {
    summary = h("div", { class: "form-errors" });
    form.prepend(summary);
  }
  summary.setAttribute("role", "alert");
  const details = error.details || [];
  const list = details.map((detail) => h("li", {}, describeDetail(detail)));
  summary.append(h("p", { class: "error-title" }, error.message || "Something went wrong"));
  if (list.length) summary.append(h("ul", {}, list));
  summary.hidden = false;
  for (const detail of details) placeDetail(form, detail);
  summary.scrollIntoView({ block: "nearest" });
}

const FIELD_NAMES = { url: "URL", timeout_s: "Timeout (seconds)", content_type: "content type", in: "add to" };

/** "headers.0.key" -> "Headers row 1 key": a field path as a person would say it. */
export function fieldName(path) {
  const words = String(path).split(".").map((part) => (/^\d+$/.test(part) ? `row ${Number(part) + 1}`
    : (FIELD_NAMES[part] || part.replace(/_/g, " "))));
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function describeDetail(detail) {
  if (typeof detail === "string") return detail;
  const where = detail.field ? fieldName(detail.field) : (detail.line ? `Line ${detail.line}` : "");
  const what = detail.message || detail.msg || JSON.stringify(detail);
  return where ? `${where}: ${what}` : what;
}

function placeDetail(form, detail) {
  if (!detail || typeof detail !== "object" || !detail.field) return;
  const parts = String(detail.field).split(".");
  for (let n = parts.length; n > 0; n -= 1) {
    const target = form.querySelector(`[data-field="${CSS.escape(parts.slice(0, n).join("."))}"]`);
    if (target) {
      const isControl = target.matches("input,select,textarea");
      const control = isControl ? target : target.querySelector("input,select,textarea");
      const message = h("p", { class: "field-error", id: nextId("err") }, detail.message || detail.msg || "");
      if (control) {
        control.setAttribute("aria-invalid", "true");
        const described = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
        control.setAttribute("aria-describedby", [...described, message.id].join(" "));
      }
      if (isControl) target.after(message);
      else target.append(message);
      return;
    }
  }
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error")) {
    for (const control of form.querySelectorAll(`[aria-describedby~="${el.id}"]`)) {
      const rest = control.getAttribute("aria-describedby").split(" ").filter((id) => id && id !== el.id);
      if (rest.length) control.setAttribute("aria-describedby", rest.join(" "));
      else control.removeAttribute("aria-describedby");
    }
    el.remove();
  }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const summary = form.querySelector(".form-errors");
  if (summary) {
    clear(summary);
    summary.hidden = true;
  }
}

/** Show an error in a view that has no form. */
export function errorBox(error) {
  return h("div", { class: "form-errors", role: "alert" },
    h("p", { class: "error-title" }, error.message || String(error)));
}

/** A modal <dialog> with a form; resolves with the form's FormData on submit, null on cancel. */
export function formDialog(title, fields, { submitLabel = "Save", onSubmit } = {}) {
  return new Promise((resolve) => {
    const form = h("form", { class: "form", method: "dialog" },
      h("h2", {}, title), h("div", { class: "form-errors", hidden: true }), fields,
      h("div", { class: "buttons" },
        button(submitLabel, null, { kind: "primary", type: "submit" }),
        button("Cancel", () => close(null))));
    const dialog = h("dialog", { class: "dialog" }, form);
    const close = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(null);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      if (!onSubmit) return close(data);
      try {
        close(await onSubmit(data, form));
      } catch (error) {
        showErrors(form, error);
      }
      return undefined;
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Ask a yes/no question in a modal dialog. */
export async function confirmDialog(message, confirmLabel = "Delete") {
  const result = await formDialog("Please confirm", h("p", {}, message), {
    submitLabel: confirmLabel,
    onSubmit: async () => true,
  });
  return result === true;
}

/** The parameter dialog (tag, value, secret): used by Parameters and by the undefined-parameter banner. */
export function parameterDialog(api, { tag = "", value = "", secret = false, editing = false } = {}) {
  const tagInput = h("input", { name: "tag", value: tag, required: true, readonly: editing || tag ? true : null,
    pattern: "[A-Za-z0-9_\\-\\/.]+", autocomplete: "off", spellcheck: "false" });
  const valueInput = h("input", { name: "value", value, autocomplete: "off", spellcheck: "false",
    type: secret ? "password" : "text" });
  const secretBox = h("input", { type: "checkbox", name: "secret", checked: secret,
    onchange: () => { valueInput.type = secretBox.checked ? "password" : "text"; } });
  const fields = [
    field("Tag", tagInput, { fieldName: "tag", hint: "Letters, digits, _ - / . ; used as {{tag}}" }),
    field("Value", valueInput, { fieldName: "value",
      hint: editing && secret ? "Secret: leave empty to keep the current value" : undefined }),
    h("div", { class: "field check", dataset: { field: "secret" } },
      h("label", {}, secretBox, " Secret (masked in lists, never logged)")),
  ];
  return formDialog(editing ? `Parameter ${tag}` : (tag ? `Define ${tag}` : "Add parameter"), fields, {
    onSubmit: async (data) => {
      const body = { value: data.get("value"), secret: data.get("secret") !== null };
      if (!editing) return api.post("/parameters", { tag: data.get("tag"), ...body });
      if (secret && body.value === "") delete body.value;
      return api.put(`/parameters/${encodeURIComponent(tag)}`, body);
    },
  });
}

/** Previous / Page x of y / Next. */
export function pager(page, perPage, total, onPage) {
  const pages = Math.max(1, Math.ceil((total || 0) / perPage));
  return h("nav", { class: "pager", "aria-label": "Pages" },
    button("‹ Previous", () => onPage(page - 1), { disabled: page <= 1 }),
    h("span", { class: "page-of" }, `Page ${page} of ${pages}`, total !== undefined ? ` (${total})` : ""),
    button("Next ›", () => onPage(page + 1), { disabled: page >= pages }));
}

export function flash(message, kind = "ok") {
  const el = document.getElementById("flash");
  el.textContent = message;
  el.className = `flash flash-${kind}`;
  el.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { el.hidden = true; }, 5000);
}

export function heading(text, ...extra) {
  return h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, text), extra);
}

export function badge(text, kind) {
  return h("span", { class: `badge badge-${kind}` }, text);
}

export function isFailure(status) {
  const code = Number(status);
  return code === 0 || code >= 400;
}
