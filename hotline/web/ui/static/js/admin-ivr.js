// The IVR flow editor: YAML in a textarea with line numbers, validation issues listed with
// line, column and node (click one to jump there; the line is marked in the gutter), save as a
// new version (optionally activated). The graph of the saved version is drawn by the server.

import { api, ApiError } from "/static/js/api.js";
import { t } from "/static/js/admin.js";

const form = document.getElementById("flow-form");
const area = document.getElementById("flow-source");
const gutter = form.querySelector(".gutter");
const list = form.querySelector(".issue-list");
const status = form.querySelector(".form-status");
const pos = document.getElementById("flow-pos");
const name = form.dataset.flow;
let marked = new Map(); // line → severity

function renderGutter() {
  const n = area.value.split("\n").length;
  const out = [];
  for (let i = 1; i <= n; i++) {
    const sev = marked.get(i);
    out.push(sev ? `<span class="mark-${sev}">${i}</span>` : String(i));
  }
  gutter.innerHTML = out.join("\n");
  gutter.scrollTop = area.scrollTop;
}

function caret() {
  const before = area.value.slice(0, area.selectionStart);
  const line = before.split("\n").length;
  const col = before.length - before.lastIndexOf("\n");
  pos.textContent = `${t("adm_line")} ${line}, ${t("adm_column")} ${col}`;
}

function goTo(line, column) {
  const lines = area.value.split("\n");
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
  offset += Math.max((column || 1) - 1, 0);
  area.focus();
  area.setSelectionRange(offset, offset);
  const lh = parseFloat(getComputedStyle(area).lineHeight) || 18;
  area.scrollTop = Math.max(0, (line - 4) * lh);
  caret();
  renderGutter();
}

function showIssues(issues, { valid }) {
  list.replaceChildren();
  marked = new Map();
  form.classList.toggle("has-errors", !valid);
  area.setAttribute("aria-invalid", valid ? "false" : "true");
  if (!issues.length) {
    const li = document.createElement("li");
    li.className = "ok";
    li.textContent = t("adm_no_issues");
    list.append(li);
  }
  for (const i of issues) {
    const sev = i.severity || "error";
    if (i.line && !marked.has(i.line)) marked.set(i.line, sev);
    const li = document.createElement("li");
    li.className = `issue issue-${sev}`;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "issue-jump";
    const where = [];
    if (i.line) where.push(`${t("adm_line")} ${i.line}`);
    if (i.column) where.push(`${t("adm_column")} ${i.column}`);
    if (i.node) where.push(`${t("adm_node")} ${i.node}`);
    b.textContent = where.join(", ") || sev;
    b.disabled = !i.line;
    b.addEventListener("click", () => goTo(i.line, i.column));
    const msg = document.createElement("span");
    msg.className = "issue-msg";
    msg.textContent = i.message || i.reason;
    li.append(b, " ", msg);
    list.append(li);
  }
  renderGutter();
}

function issuesOf(err) {
  return err.errors.map((e) => ({
    line: e.line ?? null,
    column: e.column ?? null,
    node: e.node ?? null,
    message: e.field && e.field !== "source" ? `${e.field}: ${e.reason}` : e.reason,
    severity: e.severity || "error",
  }));
}

async function validate() {
  status.textContent = t("adm_saving");
  status.classList.remove("bad");
  try {
    const res = await api("POST", `/api/v1/ivr/flows/${encodeURIComponent(name)}/validate`, { source: area.value }, { quiet: true });
    showIssues(res.issues, { valid: res.valid });
    status.textContent = res.valid ? t("adm_no_issues") : t("adm_issues_found");
    status.classList.toggle("bad", !res.valid);
  } catch (err) {
    status.textContent = "";
    if (err instanceof ApiError) showIssues(err.errors.length ? issuesOf(err) : [{ message: err.detail }], { valid: false });
  }
}

async function save(ev) {
  ev.preventDefault();
  const activate = document.getElementById("flow-activate");
  const q = activate && !activate.checked ? "?activate=false" : "";
  status.textContent = t("adm_saving");
  try {
    const res = await api("PUT", `/api/v1/ivr/flows/${encodeURIComponent(name)}${q}`, { source: area.value }, { quiet: true });
    status.textContent = t("adm_saved");
    window.location.assign(`/admin/ivr/${encodeURIComponent(name)}?version=${res.version}`);
  } catch (err) {
    status.textContent = t("adm_issues_found");
    status.classList.add("bad");
    if (err instanceof ApiError) showIssues(err.errors.length ? issuesOf(err) : [{ message: err.detail }], { valid: false });
  }
}

area.addEventListener("input", () => {
  renderGutter();
  caret();
});
area.addEventListener("scroll", () => {
  gutter.scrollTop = area.scrollTop;
});
area.addEventListener("keyup", caret);
area.addEventListener("click", caret);
area.addEventListener("keydown", (ev) => {
  // Tab indents two spaces (YAML); Escape then Tab leaves the editor (keyboard users)
  if (ev.key === "Tab" && !ev.shiftKey && !area.dataset.escaped && !area.readOnly) {
    ev.preventDefault();
    area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
    renderGutter();
  } else if (ev.key === "Escape") {
    area.dataset.escaped = "1";
  } else if (ev.key !== "Tab") {
    delete area.dataset.escaped;
  }
});
const upload = document.getElementById("flow-file");
if (upload) {
  // a YAML file from disk replaces the text (validated at once; saved only on "save")
  upload.addEventListener("change", async () => {
    const file = upload.files && upload.files[0];
    if (!file) return;
    area.value = await file.text();
    renderGutter();
    await validate();
  });
}
document.getElementById("flow-validate").addEventListener("click", validate);
form.addEventListener("submit", save);
renderGutter();

// the graph: centred on the start node; "fit to width" scales a wide graph into view
const region = document.querySelector(".graph-scroll");
const fit = document.getElementById("graph-fit");
if (region) region.scrollLeft = (region.scrollWidth - region.clientWidth) / 2;
if (region && fit) {
  fit.addEventListener("click", () => {
    const on = region.classList.toggle("fit");
    fit.setAttribute("aria-pressed", on ? "true" : "false");
  });
}
