// Keep an action's URL and its query rows in step. Pure functions; {{tags}} are left untouched.

function decode(text) {
  try {
    return decodeURIComponent(text.replace(/\+/g, "%20"));
  } catch {
    return text;
  }
}

function encode(text, isKey) {
  let out = String(text).replace(/%/g, "%25").replace(/&/g, "%26").replace(/#/g, "%23").replace(/ /g, "%20");
  if (isKey) out = out.replace(/=/g, "%3D");
  return out;
}

/** Split "http://h/p?a=1&b#frag" into base "http://h/p", rows [{key:"a",value:"1"},{key:"b",value:""}]. */
export function splitUrl(url) {
  const text = String(url || "");
  const hashAt = text.indexOf("#");
  const withoutHash = hashAt >= 0 ? text.slice(0, hashAt) : text;
  const at = withoutHash.indexOf("?");
  if (at < 0) return { base: withoutHash, query: [] };
  const query = withoutHash.slice(at + 1).split("&").filter((part) => part !== "").map((part) => {
    const eq = part.indexOf("=");
    return eq < 0 ? { key: decode(part), value: "" } : { key: decode(part.slice(0, eq)), value: decode(part.slice(eq + 1)) };
  });
  return { base: withoutHash.slice(0, at), query };
}

/** The URL shown to the user: base plus the query rows. */
export function joinUrl(base, query) {
  const parts = (query || []).filter((item) => item.key !== "" || item.value !== "")
    .map((item) => `${encode(item.key, true)}=${encode(item.value, false)}`);
  return parts.length ? `${base}?${parts.join("&")}` : base;
}
