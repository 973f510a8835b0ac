/*
 * The browsable reference at /api/docs: a static page plus a script that
 * fetches /api/v1/openapi.json and lists operations by tag with their role,
 * parameters and schemas. No CDN, no inline script or style (the page CSP
 * allows only 'self'), and text is only ever set with textContent.
 */

/** The HTML of /api/docs. */
export const API_DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Inbound API reference</title>
<link rel="stylesheet" href="/api/docs/docs.css">
<script src="/api/docs/docs.js" defer></script>
</head>
<body>
<header><h1>Inbound API reference</h1><p>OpenAPI document: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a></p></header>
<main id="reference"><p>Loading…</p></main>
</body>
</html>
`;

/** The style sheet of /api/docs. */
export const API_DOCS_CSS = `body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1rem;color:#1b1f24}
h2{border-bottom:1px solid #d0d7de;margin-top:2rem;text-transform:capitalize}
details{border:1px solid #d0d7de;border-radius:6px;margin:.5rem 0;padding:.25rem .75rem}
summary{cursor:pointer;display:flex;gap:.75rem;align-items:baseline;flex-wrap:wrap}
.method{font:bold 12px monospace;padding:2px 6px;border-radius:4px;color:#fff;background:#57606a;min-width:4em;text-align:center}
.m-get{background:#0969da}.m-post{background:#1a7f37}.m-patch,.m-put{background:#9a6700}.m-delete{background:#cf222e}
.path{font-family:monospace}.role{font-size:12px;border:1px solid #8c959f;border-radius:10px;padding:0 6px}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;font-size:12px}
`;

/** The script of /api/docs. */
export const API_DOCS_JS = `"use strict";
(async function () {
  const root = document.getElementById("reference");
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
  let doc;
  try {
    const response = await fetch("/api/v1/openapi.json", { credentials: "same-origin" });
    doc = await response.json();
  } catch (error) {
    root.textContent = "Could not load the OpenAPI document: " + error;
    return;
  }
  root.textContent = "";
  const intro = el("p", doc.info.description);
  root.appendChild(intro);
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, op });
    }
  }
  const resolve = (schema) => {
    const seen = new Set();
    const walk = (s) => {
      if (Array.isArray(s)) return s.map(walk);
      if (s && typeof s === "object") {
        if (typeof s.$ref === "string") {
          const name = s.$ref.split("/").pop();
          if (seen.has(name)) return { $ref: name };
          seen.add(name);
          const out = walk(doc.components.schemas[name]);
          seen.delete(name);
          return out;
        }
        return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, walk(v)]));
      }
      return s;
    };
    return walk(schema);
  };
  for (const [tag, ops] of byTag) {
    root.appendChild(el("h2", tag));
    for (const { path, method, op } of ops) {
      const details = el("details");
      const summary = el("summary");
      summary.appendChild(el("span", method.toUpperCase(), "method m-" + method));
      summary.appendChild(el("span", path, "path"));
      summary.appendChild(el("span", op.summary));
      summary.appendChild(el("span", op["x-inbound-role"], "role"));
      details.appendChild(summary);
      if (op.description) details.appendChild(el("p", op.description));
      if (op.parameters && op.parameters.length) {
        details.appendChild(el("h4", "Parameters"));
        const list = el("ul");
        for (const p of op.parameters) list.appendChild(el("li", p.name + " (" + p.in + (p.required ? ", required" : "") + "): " + JSON.stringify(p.schema) + (p.description ? " — " + p.description : "")));
        details.appendChild(list);
      }
      if (op.requestBody) {
        for (const [type, media] of Object.entries(op.requestBody.content)) {
          details.appendChild(el("h4", "Request body (" + type + ")"));
          details.appendChild(el("pre", JSON.stringify(resolve(media.schema), null, 2)));
        }
      }
      details.appendChild(el("h4", "Responses"));
      for (const [status, response] of Object.entries(op.responses)) {
        details.appendChild(el("p", status + ": " + response.description));
        if (response.content && status.startsWith("2")) {
          for (const [type, media] of Object.entries(response.content)) {
            details.appendChild(el("pre", type + "\\n" + JSON.stringify(resolve(media.schema), null, 2)));
          }
        }
      }
      root.appendChild(details);
    }
  }
})();
`;
