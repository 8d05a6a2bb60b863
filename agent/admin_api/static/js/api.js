// The JSON API client: bearer token from sessionStorage, one error type for every failure.

const TOKEN_KEY = "event-agent.token";
const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.details = Array.isArray(body && body.details) ? body.details : [];
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

async function readBody(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { error: text.slice(0, 500) };
  }
}

/** Call the API; resolves with the parsed JSON body, rejects with ApiError. 401 asks for the token again. */
export async function request(method, path, body, { raw = null, text = false, token = getToken() } = {}) {
  const headers = { Accept: text ? "text/csv, text/plain, */*" : "application/json", Authorization: `Bearer ${token}` };
  const init = { method, headers, cache: "no-store", credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = raw || "application/json";
    init.body = raw ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch (error) {
    throw new ApiError(0, { error: `The agent cannot be reached (${error.message})` });
  }
  if (text && response.ok) return response.text();
  const data = await readBody(response);
  if (response.status === 401) window.dispatchEvent(new CustomEvent("auth-required"));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body) => request("POST", path, body === undefined ? {} : body),
  put: (path, body) => request("PUT", path, body),
  del: (path) => request("DELETE", path),
};

/** Build a query string from an object, skipping empty values. */
export function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Fetch every page of a paged list (bounded, for pickers). */
export async function getAll(path, perPage = 200) {
  const items = [];
  for (let page = 1; page <= 50; page += 1) {
    const sep = path.includes("?") ? "&" : "?";
    const data = await api.get(`${path}${sep}page=${page}&per_page=${perPage}`);
    if (Array.isArray(data)) return data;
    items.push(...(data.items || []));
    if (!data.total || items.length >= data.total || (data.items || []).length === 0) break;
  }
  return items;
}
