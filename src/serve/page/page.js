// The playground: every answer comes from the API of the server that served this page.
"use strict";

const $ = (id) => document.getElementById(id);
const editor = $("template");
const gutter = $("gutter");
const backdrop = $("backdrop");
const completion = $("completion");
let catalog = [];
let completionItems = [];
let completionIndex = 0;
let lastDiagnostics = [];

async function api(path, body) {
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let json = null;
  try { json = await response.json(); } catch (_) { json = { error: "the server answered " + response.status }; }
  return { status: response.status, json };
}

function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) node.append(child);
  return node;
}

// ---- variables panel
function variables() {
  const result = {};
  for (const row of $("variables").rows) {
    const [name, value] = row.querySelectorAll("input");
    if (name.value.trim()) result[name.value.trim()] = value.value;
  }
  return result;
}

function addVariable(name = "", value = "") {
  const nameInput = el("input", { type: "text", value: name, ariaLabel: "Variable name" });
  const valueInput = el("input", { type: "text", value, ariaLabel: "Test value" });
  const remove = el("button", { type: "button", textContent: "×", title: "Remove the variable", ariaLabel: "Remove the variable" });
  const row = el("tr", {}, el("td", {}, nameInput), el("td", {}, valueInput), el("td", {}, remove));
  remove.addEventListener("click", () => { row.remove(); update(); });
  nameInput.addEventListener("input", update);
  valueInput.addEventListener("input", update);
  $("variables").append(row);
  return nameInput;
}

// ---- the editor: gutter, markers, result
function lineCount(text) { return text.split("\n").length; }

function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// Offsets from the API are in UTF-8 bytes; the textarea counts UTF-16 units.
function charIndex(text, byteOffset) {
  const bytes = new TextEncoder().encode(text);
  return new TextDecoder().decode(bytes.slice(0, Math.min(byteOffset, bytes.length))).length;
}

function paintMarkers(diagnostics) {
  const text = editor.value;
  const lines = lineCount(text);
  gutter.replaceChildren();
  const byLine = new Map();
  for (const d of diagnostics) {
    if (!byLine.has(d.line) || d.severity === "error") byLine.set(d.line, d);
  }
  for (let line = 1; line <= lines; line++) {
    const cell = el("div", { textContent: String(line) });
    cell.dataset.line = String(line);
    const d = byLine.get(line);
    if (d) {
      cell.className = "marker marker-" + d.severity;
      cell.title = d.message + (d.suggestion ? " — " + pageAdvice(d.suggestion) : "");
      cell.addEventListener("click", () => goTo(editor, d));
    }
    gutter.append(cell);
  }
  // Underline each span in a copy of the text behind the textarea.
  const ranges = diagnostics
    .map((d) => ({ start: charIndex(text, d.offset), end: charIndex(text, d.end.offset), severity: d.severity }))
    .sort((a, b) => a.start - b.start);
  let html = "";
  let at = 0;
  for (const r of ranges) {
    if (r.start < at) continue;
    const end = Math.max(r.end, r.start + 1);
    html += escapeHtml(text.slice(at, r.start));
    html += '<mark class="' + r.severity + '">' + escapeHtml(text.slice(r.start, end) || " ") + "</mark>";
    at = end;
  }
  html += escapeHtml(text.slice(at)) + "\n";
  backdrop.innerHTML = html;
  syncScroll();
}

function syncScroll() {
  backdrop.scrollTop = editor.scrollTop;
  backdrop.scrollLeft = editor.scrollLeft;
  gutter.scrollTop = editor.scrollTop;
}

// Lists `diagnostics` in `list`. `target` is the editor their offsets point into:
// clicking one selects its text there, and a certain fix is applied there.
function showDiagnostics(list, diagnostics, target) {
  list.replaceChildren();
  if (!diagnostics.length) {
    list.append(el("li", { className: "ok", textContent: "No problems found." }));
    return;
  }
  for (const d of diagnostics) {
    const where = el("span", { className: "where", textContent: `${d.severity} at line ${d.line}, column ${d.column}: ` });
    const button = el("button", { type: "button", title: "Go to the problem" }, where, d.message);
    const advice = pageAdvice(d.suggestion);
    if (advice) button.append(el("span", { className: "fix", textContent: " Fix: " + advice }));
    button.addEventListener("click", () => goTo(target, d));
    const item = el("li", { className: d.severity }, button);
    const replacement = fixFor(d);
    if (replacement !== null) {
      const apply = el("button", { type: "button", className: "apply", textContent: "Apply: write " + replacement });
      apply.addEventListener("click", () => applyFix(target, d, replacement));
      item.append(apply);
    }
    item.dataset.line = String(d.line);
    item.dataset.code = d.code;
    list.append(item);
  }
}

// A suggestion in the page's words: where it names a command-line option, the
// page's own control that does the same.
function pageAdvice(suggestion) {
  if (!suggestion) return suggestion;
  return suggestion
    .replace(/\(--var ([^=\s]+)=\.\.\.\)/g, "(give $1 a value in the Variables panel)")
    .replace(/--var ([^=\s]+)=\S*/g, "a value for $1 in the Variables panel")
    .replace(/\(--strict refuses an unset variable\)/g, "(tick Strict to refuse an unset variable)")
    .replace(/--strict/g, "Strict");
}

// The one certain fix a suggestion names, or null. Only where the name written
// cannot be right (no such function, no such spec field) is the closest name
// certain; "did you mean firstname?" for a variable the panel lacks is a guess
// (the chat may set it), so it gets no Apply button.
function fixFor(d) {
  const certain = d.code === "unknown-function" || (d.code === "spec" && /unknown field/.test(d.message));
  if (!certain) return null;
  const match = /^did you mean `?([A-Za-z_][A-Za-z0-9_.-]*)`?\?$/.exec(d.suggestion || "");
  return match ? match[1] : null;
}

function applyFix(target, d, replacement) {
  const start = charIndex(target.value, d.offset);
  const end = charIndex(target.value, d.end.offset);
  target.focus();
  target.setRangeText(replacement, start, end, "end");
  if (target === editor) {
    markStale();
    update();
  }
}

function goTo(target, d) {
  target.focus();
  const start = charIndex(target.value, d.offset);
  target.setSelectionRange(start, Math.max(start, charIndex(target.value, d.end.offset)));
}

const update = debounce(async () => {
  const template = editor.value;
  const as = $("context-kind").value;
  const strict = $("strict").checked;
  const vars = variables();
  const [checked, rendered] = await Promise.all([
    api("/v1/check", { template, as, variables: vars, strict }),
    api("/v1/render", { template, as, variables: vars, strict }),
  ]);
  if (editor.value !== template) return; // a newer update is on its way
  const diagnostics = (checked.json && checked.json.diagnostics) || [];
  const result = $("result");
  if (rendered.status === 200) {
    result.classList.remove("failed");
    result.textContent = rendered.json.value !== undefined
      ? JSON.stringify(rendered.json.value, null, 2)
      : rendered.json.output;
  } else {
    result.classList.add("failed");
    const more = (rendered.json && rendered.json.diagnostics) || [];
    for (const d of more) {
      if (!diagnostics.some((known) => known.offset === d.offset && known.code === d.code)) diagnostics.push(d);
    }
    result.textContent = more.length ? "Not rendered: " + more[0].message : (rendered.json && rendered.json.error) || "Not rendered";
  }
  lastDiagnostics = diagnostics;
  $("diagnostics").classList.remove("stale");
  result.classList.remove("stale");
  paintMarkers(diagnostics);
  showDiagnostics($("diagnostics"), diagnostics, editor);
}, 150);

// ---- completion of function names (from the catalog) and variable names
function openHole(text, caret) {
  const before = text.slice(0, caret);
  const open = before.lastIndexOf("${");
  if (open < 0) return false;
  // A `{` inside the hole opens a set or map literal, whose `}` does not close it.
  let depth = 0;
  for (const c of before.slice(open + 2)) {
    if (c === "{") depth++;
    else if (c === "}" && depth-- === 0) return false;
  }
  return true;
}

// The collection operations of EL 3.0, completed after a `.`. A unit test of
// serve/page.rs checks that this list is the language's (eval::operation_names).
const OPERATIONS = [
  ["stream", "()", "list or set → stream"], ["values", "()", "map → list of its values"],
  ["filter", "(x -> test)", "stream → the elements that pass"], ["map", "(x -> value)", "stream → each element's value"],
  ["flatMap", "(x -> stream)", "stream → the elements of each one's stream"], ["distinct", "()", "stream → without repeats"],
  ["sorted", "() or ((a, b) -> n)", "stream → in order"], ["limit", "(n)", "stream → the first n"],
  ["substream", "(start, end?)", "stream → elements start to end - 1"], ["toList", "()", "stream → list"],
  ["count", "()", "stream → integer"], ["sum", "()", "stream → number"], ["average", "()", "stream → optional number"],
  ["min", "() or ((a, b) -> n)", "stream → optional element"], ["max", "() or ((a, b) -> n)", "stream → optional element"],
  ["anyMatch", "(x -> test)", "stream → optional boolean"], ["allMatch", "(x -> test)", "stream → optional boolean"],
  ["noneMatch", "(x -> test)", "stream → optional boolean"], ["findFirst", "()", "stream → optional element"],
  ["reduce", "(seed?, (a, b) -> value)", "stream → (optional) result"], ["get", "()", "optional → its value"],
  ["orElse", "(default)", "optional → its value or the default"], ["orElseGet", "(() -> default)", "optional → its value or the lambda's"],
  ["isPresent", "()", "optional → whether it has a value"],
];

function completions(prefix, afterDot) {
  const lower = prefix.toLowerCase();
  if (afterDot) {
    const ops = OPERATIONS.map(([name, args, summary]) => ({ kind: "operation", name, detail: name + args, summary }));
    return ops.filter((c) => c.name.toLowerCase().startsWith(lower));
  }
  const fns = catalog.map((f) => ({ kind: "function", name: f.name, detail: f.signature + " → " + f.returns, summary: f.summary }));
  const vars = Object.keys(variables()).map((name) => ({ kind: "variable", name, detail: "variable", summary: "" }));
  const all = vars.concat(fns);
  const starts = all.filter((c) => c.name.toLowerCase().startsWith(lower));
  const contains = all.filter((c) => !c.name.toLowerCase().startsWith(lower) && lower && c.name.toLowerCase().includes(lower));
  return starts.concat(contains).slice(0, 50);
}

function wordBefore(text, caret) {
  const match = /[A-Za-z_][A-Za-z0-9_]*$/.exec(text.slice(0, caret));
  return match ? match[0] : "";
}

function showCompletion(force) {
  const caret = editor.selectionStart;
  const text = editor.value;
  const prefix = wordBefore(text, caret);
  const afterDot = text[caret - prefix.length - 1] === ".";
  if (!openHole(text, caret) || (!prefix && !force && !afterDot)) return hideCompletion();
  completionItems = completions(prefix, afterDot);
  if (!completionItems.length) return hideCompletion();
  completionIndex = 0;
  completion.replaceChildren();
  completionItems.forEach((c, i) => {
    const item = el("li", { id: "completion-" + i, role: "option" },
      el("span", { className: "name", textContent: c.name }),
      el("span", { className: "detail", textContent: c.detail + (c.summary ? " — " + c.summary : "") }));
    item.dataset.name = c.name;
    item.addEventListener("mousedown", (event) => { event.preventDefault(); completionIndex = i; acceptCompletion(); });
    completion.append(item);
  });
  // Under the caret: the editor's font is monospaced.
  const lines = text.slice(0, caret).split("\n");
  const style = getComputedStyle(editor);
  const lineHeight = parseFloat(style.lineHeight);
  const charWidth = measureChar(style.font);
  const top = 8 + lines.length * lineHeight - editor.scrollTop;
  const left = 10 + (lines[lines.length - 1].length - prefix.length) * charWidth - editor.scrollLeft;
  completion.style.top = Math.max(0, top) + "px";
  completion.style.left = Math.max(0, Math.min(left, editor.clientWidth - 260)) + "px";
  completion.hidden = false;
  highlight();
}

let measured = null;
function measureChar(font) {
  if (measured && measured.font === font) return measured.width;
  const context = document.createElement("canvas").getContext("2d");
  context.font = font;
  measured = { font, width: context.measureText("0000000000").width / 10 };
  return measured.width;
}

function highlight() {
  [...completion.children].forEach((item, i) => item.setAttribute("aria-selected", String(i === completionIndex)));
  const active = completion.children[completionIndex];
  if (active) { active.scrollIntoView({ block: "nearest" }); editor.setAttribute("aria-activedescendant", active.id); }
}

function hideCompletion() {
  completion.hidden = true;
  completionItems = [];
  editor.removeAttribute("aria-activedescendant");
}

function acceptCompletion() {
  const chosen = completionItems[completionIndex];
  if (!chosen) return;
  const caret = editor.selectionStart;
  const prefix = wordBefore(editor.value, caret);
  const insert = chosen.kind === "function" || chosen.kind === "operation" ? chosen.name + "(" : chosen.name;
  editor.setRangeText(insert, caret - prefix.length, caret, "end");
  markStale();
  hideCompletion();
  editor.focus();
  update();
}

editor.addEventListener("keydown", (event) => {
  if (event.key === " " && event.ctrlKey) { event.preventDefault(); showCompletion(true); return; }
  if (completion.hidden) return;
  if (event.key === "ArrowDown") { event.preventDefault(); completionIndex = (completionIndex + 1) % completionItems.length; highlight(); }
  else if (event.key === "ArrowUp") { event.preventDefault(); completionIndex = (completionIndex + completionItems.length - 1) % completionItems.length; highlight(); }
  else if (event.key === "Enter" || event.key === "Tab") { event.preventDefault(); acceptCompletion(); }
  else if (event.key === "Escape") { event.preventDefault(); hideCompletion(); }
});
// Until the answer for the new text lands, the old problems and result are shown dimmed.
function markStale() {
  $("diagnostics").classList.add("stale");
  $("result").classList.add("stale");
}

editor.addEventListener("input", () => { paintMarkers([]); markStale(); showCompletion(false); update(); });
editor.addEventListener("scroll", syncScroll);
editor.addEventListener("blur", () => setTimeout(hideCompletion, 100));
$("context-kind").addEventListener("change", update);
$("strict").addEventListener("change", update);
$("add-variable").addEventListener("click", () => addVariable().focus());

// ---- mappings: click a response field to add a row
function mappingRows() {
  return [...$("mappings").rows].map((row) => {
    const [source, target] = row.querySelectorAll("input");
    return { source: source.value, target: target.value };
  });
}

function showMappingToml() {
  $("mappings-toml").textContent = mappingRows()
    .map((m) => `[[mappings]]\nsource = ${JSON.stringify(m.source)}\ntarget = ${JSON.stringify(m.target)}\n`)
    .join("\n");
}

function addMapping(path) {
  const variable = path.replace(/^\//, "").replace(/[^A-Za-z0-9]+/g, "_").replace(/^_+|_+$/g, "").toLowerCase();
  const source = el("input", { type: "text", value: path, ariaLabel: "Response field" });
  const target = el("input", { type: "text", value: variable, ariaLabel: "Variable to set" });
  const remove = el("button", { type: "button", textContent: "×", title: "Remove the mapping", ariaLabel: "Remove the mapping" });
  const row = el("tr", {}, el("td", {}, source), el("td", {}, target), el("td", {}, remove));
  remove.addEventListener("click", () => { row.remove(); showMappingToml(); });
  source.addEventListener("input", showMappingToml);
  target.addEventListener("input", showMappingToml);
  $("mappings").append(row);
  showMappingToml();
}

async function listFieldsNow() {
  const { status, json } = await api("/v1/mappings", { response: $("sample-response").value });
  const fields = $("fields");
  fields.replaceChildren();
  if (status !== 200) {
    fields.append(el("li", { className: "help", textContent: json.error }));
    return;
  }
  for (const leaf of json.leaves) {
    const button = el("button", { type: "button", title: "Map " + leaf.path },
      leaf.path + " ", el("span", { className: "value", textContent: typeof leaf.value === "string" ? JSON.stringify(leaf.value) : leaf.text }));
    button.dataset.path = leaf.path;
    button.addEventListener("click", () => addMapping(leaf.path));
    fields.append(el("li", {}, button));
  }
}
const listFields = debounce(listFieldsNow, 200);
$("sample-response").addEventListener("input", listFields);

// ---- dry run of a whole spec
$("dry-run").addEventListener("click", async () => {
  const { status, json } = await api("/v1/dry-run", { spec: $("spec").value, variables: variables() });
  const out = $("dry-run-result");
  const list = $("spec-diagnostics");
  list.replaceChildren();
  out.classList.toggle("failed", status !== 200);
  if (status === 200) {
    out.textContent = `${json.method} ${json.url}\n` +
      Object.entries(json.headers).map(([k, v]) => `${k}: ${v}`).join("\n") +
      (json.body != null ? "\n\n" + json.body : "") +
      (json.tls ? "\n\n[tls]\n" + Object.entries(json.tls).map(([k, v]) => `${k}: ${v}`).join("\n") : "") +
      (json.notes.length ? "\n\n" + json.notes.join("\n") : "");
  } else if (json.diagnostics) {
    out.textContent = "Nothing would be sent: fix the problems above.";
    showDiagnostics(list, json.diagnostics, $("spec"));
  } else {
    out.textContent = json.error;
  }
});

// ---- send for real, then click a field of the real response to map it
// The spec with the panel's mappings added: as [[mappings]] tables after a TOML
// spec, or into the "mappings" list of a JSON one.
function specWithMappings() {
  const spec = $("spec").value;
  const rows = mappingRows().filter((m) => m.source && m.target);
  if (!rows.length) return spec;
  if (spec.trim().startsWith("{")) {
    try {
      const object = JSON.parse(spec);
      object.mappings = (object.mappings || []).concat(rows);
      return object;
    } catch (_) { return spec; } // the server's diagnostics say what is wrong
  }
  return spec.replace(/\n*$/, "\n\n") + $("mappings-toml").textContent;
}

function showOutcome(outcome) {
  const lines = [];
  if (outcome.status != null) lines.push("Status " + outcome.status);
  if (outcome.error) lines.push("Error: " + outcome.error);
  const exchange = (outcome.log || []).map((entry) => entry.response).filter(Boolean).pop();
  if (exchange) {
    lines.push(...Object.entries(exchange.headers).map(([k, v]) => `${k}: ${v}`));
  }
  const mapped = mappingRows().filter((m) => m.target && outcome.variables && m.target in outcome.variables);
  if (mapped.length) {
    lines.push("", "Mapped variables:");
    // A list variable (a mapping that read a list of scalars) shows as its JSON array.
    const shown = (value) => (Array.isArray(value) ? JSON.stringify(value) : value);
    for (const m of mapped) lines.push(`${m.target} = ${shown(outcome.variables[m.target])}`);
  }
  const notes = (outcome.log || []).filter((entry) => entry.status == null).map((entry) => entry.message);
  if (notes.length) lines.push("", ...notes);
  const body = outcome.variables && outcome.variables.api_client_response_body;
  if (body != null) lines.push("", body);
  return lines.join("\n");
}

$("send").addEventListener("click", async () => {
  const out = $("send-result");
  out.classList.add("stale");
  // debug: the outcome's log carries the response's headers and body to show.
  const { status, json } = await api("/v1/send", { spec: specWithMappings(), variables: variables(), debug: true });
  out.classList.remove("stale");
  out.classList.toggle("failed", status !== 200 || Boolean(json.error));
  const list = $("spec-diagnostics");
  list.replaceChildren();
  if (status !== 200) {
    out.textContent = json.diagnostics ? "Nothing was sent: fix the problems above." : json.error;
    if (json.diagnostics) showDiagnostics(list, json.diagnostics, $("spec"));
    return;
  }
  out.textContent = showOutcome(json);
  const body = json.variables && json.variables.api_client_response_body;
  if (body) {
    // The real response becomes the one to map: its fields are listed to click.
    $("sample-response").value = body;
    await listFieldsNow();
  }
});

// ---- start
(async () => {
  addVariable("email", "ada@example.org");
  addVariable("firstname", "Ada");
  const { json } = await api("/v1/functions");
  catalog = Array.isArray(json) ? json : [];
  update();
  listFields();
})();
