// Entry point: sign-in, hash routing between the sections, the status line.

import { api, getToken, setToken, request } from "./api.js";
import { clear } from "./dom.js";
import { errorBox } from "./ui.js";
import { startStatus } from "./status.js";
import * as events from "./events.js";
import * as actions from "./actions.js";
import * as actionForm from "./action_form.js";
import * as postman from "./postman.js";
import * as parameters from "./parameters.js";
import * as rates from "./rates.js";

const ROUTES = [
  [/^#\/events\/?$/, "events", events.renderList],
  [/^#\/events\/settings$/, "events", events.renderSettings],
  [/^#\/events\/activity$/, "events", events.renderActivity],
  [/^#\/events\/([\w.-]+)$/, "events", events.renderEdit],
  [/^#\/actions\/?$/, "actions", actions.renderList],
  [/^#\/actions\/new$/, "actions", actionForm.render],
  [/^#\/actions\/import$/, "actions", postman.render],
  [/^#\/actions\/(\d+)$/, "actions", actionForm.render],
  [/^#\/parameters\/?$/, "parameters", parameters.render],
  [/^#\/rates\/?$/, "rates", rates.render],
];

const main = document.getElementById("main");
let cleanup = null;
let routeToken = 0;

function match(hash) {
  for (const [pattern, section, view] of ROUTES) {
    const found = pattern.exec(hash);
    if (found) return { section, view, params: found.slice(1) };
  }
  return null;
}

async function route() {
  const found = match(location.hash || "#/events");
  if (!found) {
    location.replace("#/events");
    return;
  }
  if (cleanup) cleanup();
  cleanup = null;
  routeToken += 1;
  const mine = routeToken;
  markSection(found.section);
  clear(main);
  main.setAttribute("aria-busy", "true");
  try {
    const result = await found.view(main, { api, params: found.params, isCurrent: () => mine === routeToken });
    if (mine === routeToken && typeof result === "function") cleanup = result;
    else if (typeof result === "function") result();
  } catch (error) {
    if (mine === routeToken && error.status !== 401) main.append(errorBox(error));
  } finally {
    if (mine === routeToken) {
      main.removeAttribute("aria-busy");
      const title = main.querySelector("h1");
      document.title = title ? `${title.textContent} · Event Manager` : "Event Manager";
      if (title) title.focus({ preventScroll: true });
    }
  }
}

function markSection(section) {
  for (const link of document.querySelectorAll(".mainnav a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function askToken(message) {
  const dialog = document.getElementById("login-dialog");
  const error = document.getElementById("login-error");
  error.textContent = message || "";
  error.hidden = !message;
  if (!dialog.open) dialog.showModal();
  document.getElementById("login-token").focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = document.getElementById("login-token");
  const token = input.value.trim();
  try {
    await request("GET", "/settings", undefined, { token });
  } catch (error) {
    askToken(error.status === 401 ? "That token is not valid." : error.message);
    return;
  }
  setToken(token);
  input.value = "";
  document.getElementById("login-dialog").close();
  started();
}

let statusStarted = false;
function started() {
  document.getElementById("logout").hidden = false;
  if (!statusStarted) {
    statusStarted = true;
    startStatus(document.getElementById("statusline"), api);
  }
  route();
}

function setup() {
  document.getElementById("login-form").addEventListener("submit", signIn);
  document.querySelector(".skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    const title = main.querySelector("h1");
    (title || main).focus();
  });
  document.getElementById("login-dialog").addEventListener("cancel", (event) => event.preventDefault());
  document.getElementById("logout").addEventListener("click", () => {
    setToken("");
    location.reload();
  });
  window.addEventListener("auth-required", () => {
    setToken("");
    askToken("Please sign in again.");
  });
  window.addEventListener("hashchange", () => { if (getToken()) route(); });
  if (getToken()) started();
  else askToken("");
}

setup();
