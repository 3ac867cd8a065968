// The agent desk: a thin client of the CTI API (api.js) that follows the event stream
// (events.js). State lives in `S`; every change goes through render*(). The only timer is the
// one-second clock that redraws the counters (time in state, call time, wait, wrap-up).

import { act, api } from "/static/js/api.js";
import { EventStream } from "/static/js/events.js";
import { customerPanel } from "/static/js/customer-panel.js";
import { deskTickets, ticketNotes } from "/static/js/desk-tickets.js";

const T = JSON.parse(document.getElementById("page-strings").textContent);
const CFG = JSON.parse(document.getElementById("desk-config").textContent);
const ME = CFG.user_id;
const LANG = CFG.lang;
const $ = (id) => document.getElementById(id);

const S = {
  agent: null, // AgentStatus (GET /api/v1/agents/{me})
  sinceMs: 0, // local clock time the current state started
  skewMs: 0, // server clock minus local clock (from AgentStatus)
  call: null, // {id, state, caller, queue, on_hold, muted, transfer, data, connected_ms, offered_ms, wait}
  wrap: null, // {call_id, queue, started_ms, seconds (null: manual)}
  queues: new Map(), // name -> {display_name, wrap_up}
  agents: new Map(), // user_id -> AgentStatus (transfer targets)
  codes: { disposition: [], not_ready: [] },
  messages: new Map(), // id -> message
  history: [],
};

// -- formatting ----------------------------------------------------------------------------------

const timeFmt = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(LANG, {
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
});

function fmt(key, vars = {}) {
  let text = T[key] || key;
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

/** Server time (ISO) → local epoch ms, corrected by the clock skew. */
function serverMs(iso) {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? Date.now() : ms - S.skewMs;
}

function codeLabel(kind, code) {
  const c = S.codes[kind].find((x) => x.code === code);
  if (!c) return T[`desk_reason_${code}`] || code || "";
  return LANG === "en" ? c.label_en : c.label_zh;
}

function queueLabel(name) {
  const q = S.queues.get(name);
  return q && q.display_name ? q.display_name : name || "";
}

function stateLabel(state) {
  return T[`desk_state_${state}`] || state;
}

function callStateLabel(state) {
  return T[`desk_call_${state}`] || state;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// -- agent state ---------------------------------------------------------------------------------

function setAgent(status) {
  if (!status || status.user_id !== ME) return;
  S.agent = status;
  if (typeof status.seconds_in_state === "number" && status.since) {
    // since + seconds_in_state = the server's "now" when it answered
    S.skewMs = Date.parse(status.since) + status.seconds_in_state * 1000 - Date.now();
    S.sinceMs = Date.now() - status.seconds_in_state * 1000;
  }
  renderAgent();
}

function agentEvent(env) {
  if (env.agent_id !== ME) return;
  const d = env.data || {};
  const a = S.agent ? { ...S.agent } : { user_id: ME, state: "logged_out" };
  if (env.type === "agent_state") {
    a.state = d.new;
    a.reason = d.reason || null;
    S.sinceMs = serverMs(env.at);
    if (d.new === "not_ready" && S.codes.not_ready.some((c) => c.code === d.reason)) $("nr-reason").value = d.reason;
    if (d.new === "wrap_up") startWrapUp(env);
  } else if (env.type === "agent_login") {
    a.extension = d.extension || a.extension;
    a.state = a.state === "logged_out" ? "not_ready" : a.state;
  } else if (env.type === "agent_logout") {
    a.extension = null;
    a.state = "logged_out";
    a.reason = null;
    S.sinceMs = serverMs(env.at);
  }
  S.agent = a;
  renderAgent();
}

function renderAgent() {
  const a = S.agent;
  const loggedIn = a && a.state !== "logged_out" && a.extension;
  $("login-form").hidden = Boolean(loggedIn);
  $("agent-bar").hidden = !loggedIn;
  document.body.dataset.agentState = a ? a.state : "logged_out";
  if (!loggedIn) {
    renderClock();
    return;
  }
  $("bar-ext").textContent = a.extension;
  const badge = $("state-badge");
  badge.textContent = stateLabel(a.state);
  badge.className = `state-badge st-${a.state}`;
  $("state-reason").textContent = a.state === "not_ready" && a.reason ? codeLabel("not_ready", a.reason) : "";
  $("btn-ready").disabled = a.state === "available";
  $("btn-not-ready").disabled = a.state === "not_ready" && a.reason === $("nr-reason").value;
  renderClock();
}

async function login(ev) {
  ev.preventDefault();
  const extension = $("login-ext").value.trim();
  if (!extension) return;
  const status = await act("POST", `/api/v1/agents/${ME}/login`, { extension, ready: $("login-ready").checked });
  if (status) setAgent(status);
}

async function ready() {
  if (!S.agent || S.agent.state === "logged_out") return;
  const status = await act("POST", `/api/v1/agents/${ME}/ready`);
  if (status) setAgent(status);
}

async function notReady() {
  if (!S.agent || S.agent.state === "logged_out") return;
  const reason = $("nr-reason").value;
  const status = await act("POST", `/api/v1/agents/${ME}/not-ready`, { reason });
  if (status) setAgent(status);
}

async function logout() {
  const status = await act("POST", `/api/v1/agents/${ME}/logout`);
  if (status) setAgent(status);
}

// -- the call ------------------------------------------------------------------------------------

const LIVE_STATES = new Set(["ringing", "connected", "held", "consulting", "conference", "dialing"]);

/** A CallLive document (REST answer or snapshot item) for my current call. */
function setCallDoc(doc) {
  if (!doc || !doc.id) return;
  if (doc.agent_id !== undefined && doc.agent_id !== null && doc.agent_id !== ME) return;
  if (doc.state === "ended" || doc.state === "wrap_up") {
    if (S.call && S.call.id === doc.id) endCall(doc.id);
    return;
  }
  const c = S.call && S.call.id === doc.id ? S.call : { id: doc.id };
  c.state = doc.state || c.state;
  c.caller = doc.caller ?? c.caller;
  c.dialed = doc.dialed ?? c.dialed;
  c.queue = doc.queue ?? c.queue;
  c.on_hold = Boolean(doc.on_hold);
  c.muted = Boolean(doc.muted);
  c.transfer = doc.transfer || null;
  c.supervisors = (doc.supervisors || []).map((x) => ({ id: x.user_id, mode: x.mode }));
  c.direction = doc.direction || c.direction;
  if (doc.data && typeof doc.data === "object") c.data = doc.data;
  if (doc.connected_at) c.connected_ms = serverMs(doc.connected_at);
  if (doc.started_at && !c.started_ms) c.started_ms = serverMs(doc.started_at);
  S.call = c;
  renderCall();
}

/** A call was offered to me: show the toast with what we know, fill the pop from the CDR. */
function offered(callId, env, info = {}) {
  const c = S.call && S.call.id === callId ? S.call : { id: callId, data: {} };
  if (S.call && S.call.id !== callId && LIVE_STATES.has(S.call.state) && S.call.state !== "ringing") return;
  c.state = "ringing";
  c.offered_ms = c.offered_ms || serverMs(env.at);
  if (info.caller) c.caller = info.caller;
  if (info.queue || env.queue) c.queue = info.queue || env.queue;
  if (typeof info.wait === "number") c.wait_base = { wait: info.wait, at: serverMs(env.at) };
  if (info.caller_name) c.caller_name = info.caller_name;
  if (info.queue_name) c.queue_name = info.queue_name;
  if (info.data) c.data = { ...(c.data || {}), ...info.data };
  if (info.pop) {
    // the pop's own fields (menu choice, account) win over the raw variables' absence
    for (const k of ["menu_choice", "account"]) if (info.pop[k] !== null && info.pop[k] !== undefined) c.data[k] = info.pop[k];
    if (Array.isArray(info.pop.menu_path)) c.ivr_path = info.pop.menu_path;
    const transfers = Array.isArray(info.pop.transfers) ? info.pop.transfers : [];
    if (info.pop.transferred && transfers.length) c.transferred_by = transfers[transfers.length - 1].by;
  }
  if (info.pop) c.popped = true;
  S.call = c;
  if (S.wrap && S.wrap.call_id !== callId) hideWrapUp(); // a new call ends the old wrap-up form
  renderCall();
}

/** Fill the pop (caller, queue, IVR variables and path) from the call's record. */
function fetchPop(c) {
  if (c.fetched || c.popped) return;
  c.fetched = true;
  const callId = c.id;
  // the live call document (scoped so that an agent sees the calls they are on)
  api("GET", "/api/v1/calls/live", undefined, { quiet: true })
    .then((calls) => {
      const doc = (calls || []).find((x) => x.id === callId);
      if (!doc || !S.call || S.call.id !== callId) return;
      S.call.caller = S.call.caller || doc.caller;
      S.call.queue = S.call.queue || doc.queue;
      S.call.data = { ...(doc.data || {}), ...(S.call.data || {}) };
      renderCall();
    })
    .catch(() => {});
}

function endCall(callId) {
  if (!S.call || S.call.id !== callId) return;
  const wasConnected = Boolean(S.call.connected_ms);
  if (wasConnected) rememberHandled(summaryOf(S.call));
  const queue = S.call.queue;
  const last = S.call;
  S.call = null;
  if (wasConnected && !S.wrap) prepareWrapUp(callId, queue, last);
  renderCall();
  loadHistory();
}

/** The call an event is about: ACD task ids of a call's later queue entries are "<call>/t<n>". */
function callOf(env) {
  return String(env.call_id || "").split("/")[0];
}

/** I am the consulted agent and the call became mine (transfer completed or conference). */
function takeOver(callId) {
  api("GET", "/api/v1/calls/live", undefined, { quiet: true })
    .then((calls) => {
      const doc = (calls || []).find((x) => x.id === callId);
      if (doc && (doc.agent_id === ME || doc.state === "conference")) {
        setCallDoc({ ...doc, agent_id: ME });
        fetchPop(S.call);
      }
    })
    .catch(() => {});
}

function callEvent(env) {
  const d = env.data || {};
  const toMe = env.type === "transfer" && d.to && Number(d.to.agent) === ME;
  if (toMe && (d.state === "completed" || d.state === "answered") && (!S.call || S.call.id !== callOf(env))) {
    if (d.state === "completed") takeOver(callOf(env));
    return;
  }
  if (env.type === "conference" && d.to && Number(d.to.agent) === ME) {
    takeOver(callOf(env));
    return;
  }
  const mine = env.agent_id === ME || (S.call && callOf(env) === S.call.id);
  if (!mine) return;
  if (d.call && typeof d.call === "object") setCallDoc(d.call);
  const id = callOf(env);
  customerPanel(env, id); // the customer panel (screen pop, verification)
  deskTickets(env, id, S.call); // the "new work order" panel (pre-filled from the call)
  switch (env.type) {
    case "offer":
      if (env.agent_id === ME) offered(id, env);
      break;
    case "call_ringing":
      if (env.agent_id === ME || !env.agent_id) {
        offered(id, env, {
          caller: d.caller,
          caller_name: d.caller_name,
          queue: env.queue || d.queue,
          queue_name: d.queue_name,
          wait: d.wait,
          data: d.variables || d.ivr || d.data,
          pop: d,
        });
      }
      break;
    case "offer_withdrawn":
      if (S.call && S.call.id === id && !S.call.connected_ms) {
        S.call = null;
        renderCall();
      }
      break;
    case "connect":
    case "call_answered":
      if (env.agent_id === ME || (S.call && S.call.id === id)) {
        if (!S.call || S.call.id !== id) S.call = { id, data: {}, queue: env.queue };
        S.call.state = "connected";
        S.call.connected_ms = S.call.connected_ms || serverMs(env.at);
        fetchPop(S.call); // a call answered elsewhere (pickup) has no pop yet
        renderCall();
      }
      break;
    case "call_hold":
      if (S.call && S.call.id === id) Object.assign(S.call, { on_hold: true, state: "held" });
      renderCall();
      break;
    case "call_resume":
      if (S.call && S.call.id === id) Object.assign(S.call, { on_hold: false, state: "connected" });
      renderCall();
      break;
    case "call_mute":
      if (S.call && S.call.id === id) S.call.muted = Boolean(d.muted);
      renderCall();
      break;
    case "transfer":
      if (toMe && S.call && S.call.id === id) {
        // I was consulted (and in a conference): the call stays with me now
        if (d.state === "completed") Object.assign(S.call, { state: "connected", transfer: null });
        renderCall();
        break;
      }
      if (S.call && S.call.id === id) {
        if (d.mode === "blind" && d.state === "started") {
          endCall(id); // the agent leaves at once
          return;
        }
        if (d.state === "started" || d.state === "answered") {
          S.call.transfer = { ...(S.call.transfer || {}), ...d, state: d.state === "answered" ? "talking" : "ringing" };
          S.call.state = "consulting";
        } else if (d.state === "completed") {
          endCall(id);
          return;
        } else if (d.state === "cancelled" || d.state === "failed") {
          S.call.transfer = null;
          S.call.state = S.call.on_hold ? "held" : "connected";
        } else {
          S.call.transfer = d;
        }
        renderCall();
      }
      break;
    case "conference":
      if (S.call && S.call.id === id) Object.assign(S.call, { state: "conference", transfer: null });
      renderCall();
      break;
    case "dial":
      if (env.agent_id === ME) {
        if (d.state === "failed" || d.state === "ended") {
          endCall(id);
        } else {
          const c = S.call && S.call.id === id ? S.call : { id, data: {}, direction: "outbound" };
          c.caller = d.number || c.caller;
          c.state = d.state === "connected" ? "connected" : "dialing";
          if (d.state === "connected") c.connected_ms = c.connected_ms || serverMs(env.at);
          S.call = c;
          renderCall();
        }
      }
      break;
    case "supervise":
      if (S.call && S.call.id === id) {
        S.call.supervisors = d.state === "ended" ? [] : [{ id: d.supervisor_id, mode: d.mode }];
        renderCall();
      }
      break;
    case "complete": // the ACD task of one agent (after a transfer, the colleague's part goes on)
      if (env.agent_id === ME) endCall(id);
      break;
    case "call_hangup":
    case "call_ended":
    case "call_released":
    case "abandon":
      endCall(id);
      break;
    case "disposition":
      if (env.agent_id === ME && handledCalls().some((c) => c.id === id)) {
        rememberHandled({ id, disposition: d.disposition });
      }
      if (S.wrap && S.wrap.call_id === id) hideWrapUp();
      loadHistory();
      break;
    default:
      break;
  }
}

function renderCall() {
  const c = S.call;
  const live = Boolean(c);
  $("call-empty").hidden = live;
  $("call-info").hidden = !live;
  const ringing = live && c.state === "ringing";
  const connected = live && ["connected", "held", "consulting", "conference"].includes(c.state);
  if (live) {
    $("call-caller-label").textContent = c.direction === "outbound" ? T.desk_dialed : T.desk_caller;
    $("call-caller").textContent = c.caller_name ? `${c.caller} (${c.caller_name})` : c.caller || "—";
    $("call-queue").textContent = c.queue_name || queueLabel(c.queue) || "—";
    $("call-state").textContent = callStateLabel(c.state);
    const flags = [];
    if (c.muted) flags.push(T.desk_muted);
    // silent monitoring stays silent: only a supervisor the agent hears is shown
    if ((c.supervisors || []).some((x) => x.mode === "whisper" || x.mode === "barge")) flags.push(T.desk_supervised);
    $("call-flags").textContent = flags.join(" · ");
  } else {
    $("call-flags").textContent = "";
  }
  $("call-card").dataset.state = live ? c.state : "";
  $("btn-answer").disabled = !ringing;
  $("btn-hangup").disabled = !live || ringing;
  const hold = $("btn-hold");
  hold.disabled = !connected || c.state === "consulting";
  const held = live && (c.on_hold || c.state === "held");
  hold.setAttribute("aria-pressed", String(held));
  hold.firstChild.textContent = `${held ? T.desk_resume : T.desk_hold} `;
  const mute = $("btn-mute");
  mute.disabled = !connected;
  mute.setAttribute("aria-pressed", String(Boolean(live && c.muted)));
  mute.firstChild.textContent = `${live && c.muted ? T.desk_unmute : T.desk_mute} `;
  $("btn-transfer").disabled = !connected || c.state === "consulting";
  for (const b of document.querySelectorAll("#dtmf button")) b.disabled = !connected;
  const consulting = live && c.transfer && c.transfer.mode === "consult";
  $("consult-bar").hidden = !consulting;
  if (consulting) {
    $("consult-text").textContent = fmt("desk_consulting", { to: targetLabel(c.transfer.to) });
    const talking = c.transfer.state === "talking";
    $("btn-xfer-complete").disabled = !talking;
    $("btn-xfer-conference").disabled = !talking;
  }
  renderToast();
  renderPop();
  renderClock();
}

function targetLabel(to) {
  if (!to || typeof to !== "object") return String(to || "");
  if (to.agent) {
    const a = S.agents.get(Number(to.agent));
    return a ? a.name : `#${to.agent}`;
  }
  if (to.queue) return queueLabel(to.queue);
  return to.flow || to.number || "";
}

function renderToast() {
  const c = S.call;
  const toast = $("incoming");
  const show = Boolean(c && c.state === "ringing");
  if (show) {
    $("in-caller").textContent = c.caller_name ? `${c.caller} (${c.caller_name})` : c.caller || "—";
    $("in-queue").textContent = c.queue_name || queueLabel(c.queue) || "—";
    const pop = $("in-pop");
    const by = c.transferred_by ? S.agents.get(Number(c.transferred_by)) : null;
    pop.replaceChildren(
      c.transferred_by
        ? el("p", { class: "transferred", text: fmt("desk_transferred_from", { name: by ? by.name : `#${c.transferred_by}` }) })
        : "",
      popList(c.data || {}, 4),
    );
  }
  if (toast.hidden === show) toast.hidden = !show;
}

const KNOWN_VARS = ["menu_choice", "account", "account_checked", "verified", "topic", "language", "outage_notice", "ivr_error"];

function varValue(v) {
  if (v === true) return T.desk_yes;
  if (v === false) return T.desk_no;
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** The IVR variables as a definition list: known ones first (labelled), then the rest. */
function popList(data, limit = Infinity) {
  const keys = Object.keys(data || {});
  if (!keys.length) return el("p", { class: "muted", text: T.desk_pop_none });
  keys.sort((a, b) => {
    const ia = KNOWN_VARS.indexOf(a);
    const ib = KNOWN_VARS.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  const dl = el("dl", { class: "kv pop-vars" });
  for (const k of keys.slice(0, limit)) {
    dl.append(el("dt", { text: T[`desk_var_${k}`] || k }), el("dd", { text: varValue(data[k]), "data-var": k }));
  }
  return dl;
}

function renderPop() {
  const body = $("pop-body");
  const c = S.call || (S.wrap && S.wrap.last);
  if (!c) {
    body.replaceChildren(el("p", { class: "muted", text: T.desk_pop_empty }));
    return;
  }
  const parts = [];
  if (c.transferred_by) {
    const by = S.agents.get(Number(c.transferred_by));
    parts.push(el("p", { class: "transferred", text: fmt("desk_transferred_from", { name: by ? by.name : `#${c.transferred_by}` }) }));
  }
  parts.push(el("h3", { text: T.desk_pop_ivr }), popList(c.data || {}));
  if (c.ivr_path && c.ivr_path.length) {
    const steps = c.ivr_path.map((p) => (typeof p === "object" ? p.node || JSON.stringify(p) : p));
    parts.push(el("p", { class: "muted ivr-path", text: steps.join(" → ") }));
  }
  body.replaceChildren(...parts);
}


async function answer() {
  if (!S.call || S.call.state !== "ringing") return;
  const doc = await act("POST", `/api/v1/agents/${ME}/answer`, {});
  if (doc) setCallDoc(doc);
}

async function callAction(path, body) {
  if (!S.call) return null;
  const doc = await act("POST", `/api/v1/calls/${encodeURIComponent(S.call.id)}/${path}`, body);
  if (doc) setCallDoc(doc);
  return doc;
}

const hangup = () => S.call && S.call.state !== "ringing" && callAction("hangup");
const toggleHold = () => {
  if (!S.call || $("btn-hold").disabled) return;
  callAction(S.call.on_hold || S.call.state === "held" ? "resume" : "hold");
};
const toggleMute = () => {
  if (!S.call || $("btn-mute").disabled) return;
  callAction("mute", { muted: !S.call.muted });
};

// keys pressed in quick succession are sent one request after the other, so the far end gets the
// digits in the order they were pressed (concurrent requests may be answered in any order)
let dtmfQueue = Promise.resolve();

function sendDtmf(key) {
  dtmfQueue = dtmfQueue.then(async () => {
    const doc = await callAction("dtmf", { digits: key });
    if (doc !== null) {
      const out = $("dtmf-sent");
      out.dataset.digits = ((out.dataset.digits || "") + key).slice(-16);
      out.textContent = `${T.desk_dtmf_sent}: ${out.dataset.digits}`;
    }
  }).catch(() => {});
  return dtmfQueue;
}

async function dial(ev) {
  ev.preventDefault();
  const number = $("dial-number").value.trim();
  if (!number) return;
  const out = await act("POST", `/api/v1/agents/${ME}/dial`, { number });
  const doc = out && out.call ? out.call : out;
  if (doc) {
    setCallDoc({ ...doc, state: doc.state || "dialing" });
    $("dial-number").value = "";
  }
}

// -- transfer dialog -----------------------------------------------------------------------------

function openTransfer() {
  if ($("btn-transfer").disabled) return;
  const agentSel = $("xfer-agent");
  agentSel.replaceChildren(
    ...[...S.agents.values()]
      .filter((a) => a.user_id !== ME && a.state !== "logged_out")
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((a) => el("option", { value: String(a.user_id), text: `${a.name} (${stateLabel(a.state)})` })),
  );
  const queueSel = $("xfer-queue");
  queueSel.replaceChildren(
    ...[...S.queues.entries()].map(([name, q]) => el("option", { value: name, text: q.display_name || name })),
  );
  showKind();
  $("transfer-dialog").showModal();
  $("xfer-kind").focus();
}

function showKind() {
  const kind = $("xfer-kind").value;
  for (const node of document.querySelectorAll("#transfer-form [data-kind]")) node.hidden = node.dataset.kind !== kind;
}

async function submitTransfer(ev) {
  ev.preventDefault();
  const form = $("transfer-form");
  const mode = form.querySelector("input[name=mode]:checked").value;
  const kind = $("xfer-kind").value;
  const raw = $(`xfer-${kind}`).value.trim();
  if (!raw) {
    $(`xfer-${kind}`).focus();
    return;
  }
  const to = { [kind]: kind === "agent" ? Number(raw) : raw };
  const doc = await callAction("transfer", { mode, to });
  if (doc !== null) {
    $("transfer-dialog").close();
    if (mode === "consult" && S.call) {
      S.call.transfer = S.call.transfer || { mode, to, state: "started" };
      renderCall();
    }
  }
}

// -- wrap-up -------------------------------------------------------------------------------------

function prepareWrapUp(callId, queue, last = null) {
  const q = S.queues.get(queue);
  S.wrap = {
    call_id: callId,
    queue,
    last, // the ended call (its pop stays visible while the agent writes the notes)
    started_ms: Date.now(),
    seconds: q ? q.wrap_up : undefined, // null: the queue has manual wrap-up
  };
  renderWrapUp(true);
}

/** The agent entered wrap-up (agent_state event): time the countdown from the event. */
function startWrapUp(env) {
  if (!S.wrap) {
    const id = S.call ? S.call.id : (S.agent && S.agent.wrap_up_call) || null;
    if (!id) return;
    prepareWrapUp(String(id).split("/")[0], S.call ? S.call.queue : "", S.call);
  }
  S.wrap.started_ms = serverMs(env.at);
  renderWrapUp(false);
}

/** Reloaded during wrap-up: the form again, the countdown from the queue of the call. */
function resumeWrapUp(status) {
  if (status.state !== "wrap_up" || !status.wrap_up_call || S.wrap) return;
  const id = String(status.wrap_up_call).split("/")[0];
  const known = S.history.find((c) => c.id === id);
  prepareWrapUp(id, known ? known.queue : "", null);
  S.wrap.started_ms = Date.now() - status.seconds_in_state * 1000;
  if (!known) S.wrap.seconds = undefined; // queue unknown: no countdown
  renderWrapUp(false);
}

function renderWrapUp(focus) {
  const form = $("wrapup-form");
  if (!S.wrap) {
    form.hidden = true;
    return;
  }
  const wasHidden = form.hidden;
  form.hidden = false;
  $("wrapup-call").textContent = S.wrap.call_id;
  if (wasHidden) {
    $("wrapup-notes").value = ticketNotes(S.wrap.call_id); // work orders created or urged on the call
    $("wrapup-disposition").value = "";
  }
  renderClock();
  if (focus && wasHidden && !document.querySelector("dialog[open]")) $("wrapup-disposition").focus();
}

function hideWrapUp() {
  S.wrap = null;
  $("wrapup-form").hidden = true;
  renderPop();
}

async function submitWrapUp(ev) {
  ev.preventDefault();
  if (!S.wrap) return;
  const callId = S.wrap.call_id;
  const disposition = $("wrapup-disposition").value;
  if (!disposition) {
    $("wrapup-disposition").focus();
    return;
  }
  const button = $("btn-wrapup");
  button.disabled = true;
  const status = await act("POST", `/api/v1/agents/${ME}/wrap-up`, {
    disposition,
    notes: $("wrapup-notes").value,
    call_id: callId,
    ready: $("wrapup-ready").checked,
  });
  button.disabled = false;
  if (status) {
    if (handledCalls().some((c) => c.id === callId)) rememberHandled({ id: callId, disposition });
    if (S.wrap && S.wrap.call_id === callId) hideWrapUp();
    setAgent(status);
    loadHistory();
  }
}

// -- messages ------------------------------------------------------------------------------------

function addMessage(m) {
  if (!m || m.id === undefined || S.messages.has(m.id)) return;
  S.messages.set(m.id, m);
  renderMessages();
  if (m.priority === "emergency") showEmergency();
  else if (m.priority === "urgent") urgentToast(m);
}

function messageFrom(m) {
  const at = m.created_at ? ` · ${timeFmt.format(new Date(serverMs(m.created_at)))}` : "";
  return fmt("desk_from", { sender: m.sender || `#${m.sender_id}` }) + at;
}

function renderMessages() {
  const list = $("msg-list");
  const items = [...S.messages.values()].sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
  list.replaceChildren(
    ...items.map((m) => {
      const btn = el("button", { type: "button", class: "secondary small", text: T.desk_mark_read });
      btn.addEventListener("click", () => markRead(m.id));
      return el(
        "li",
        { class: `msg prio-${m.priority}` },
        el("p", { class: "msg-meta", text: messageFrom(m) }),
        el("p", { class: "msg-text", text: m.text }),
        btn,
      );
    }),
  );
  $("msg-empty").hidden = items.length > 0;
  const count = $("msg-count");
  count.hidden = items.length === 0;
  count.textContent = String(items.length);
}

async function markRead(id) {
  try {
    await api("POST", `/api/v1/messages/${id}/read`);
  } catch {
    return; // shown to the user; the message stays
  }
  S.messages.delete(id);
  renderMessages();
}

function showEmergency() {
  const dlg = $("emergency-dialog");
  if (dlg.open) return;
  const m = [...S.messages.values()].find((x) => x.priority === "emergency");
  if (!m) return;
  dlg.dataset.id = String(m.id);
  $("emg-from").textContent = messageFrom(m);
  $("emg-text").textContent = m.text;
  dlg.showModal();
  $("btn-emg-ack").focus();
}

async function ackEmergency() {
  const dlg = $("emergency-dialog");
  const id = Number(dlg.dataset.id);
  try {
    await api("POST", `/api/v1/messages/${id}/read`);
  } catch {
    return; // shown; the dialog stays until the acknowledgement is stored
  }
  S.messages.delete(id);
  renderMessages();
  dlg.close();
  showEmergency(); // the next one, if any
}

function urgentToast(m) {
  const box = el(
    "div",
    { class: "toast urgent", role: "alert" },
    el("h2", { text: T.desk_urgent }),
    el("p", { class: "msg-meta", text: messageFrom(m) }),
    el("p", { class: "msg-text", text: m.text }),
  );
  const close = el("button", { type: "button", class: "secondary small", text: T.desk_close });
  close.addEventListener("click", () => box.remove());
  box.append(close);
  $("toasts").append(box);
  setTimeout(() => box.remove(), 30000);
}

const FORCED_STATE = { ready: "available", not_ready: "not_ready", logout: "logged_out", login: "not_ready" };

/** A supervisor changed my state: say so (the state bar follows the agent_state event). */
function forcedToast(d) {
  let state = stateLabel(FORCED_STATE[d.action] || d.action);
  if (d.reason) state += ` (${codeLabel("not_ready", d.reason)})`;
  const box = el(
    "div",
    { class: "toast info", role: "status" },
    el("p", { class: "msg-text", text: fmt("desk_forced", { state }) }),
    d.by ? el("p", { class: "msg-meta", text: fmt("desk_from", { sender: (S.agents.get(d.by) || {}).name || d.by_name }) }) : null,
  );
  const close = el("button", { type: "button", class: "secondary small", text: T.desk_close });
  close.addEventListener("click", () => box.remove());
  box.append(close);
  $("toasts").append(box);
  setTimeout(() => box.remove(), 10000);
}

// -- history -------------------------------------------------------------------------------------

let historyLoading = null;

// Calls the agent handled but passed on (after a transfer the colleague is the call's agent, so
// neither ?agent_id= nor GET /calls/{id} finds them for this agent): a summary of each is kept
// per day in this browser and shown with the server's list.
function handledKey() {
  const d = new Date();
  const day = `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
  return `hotline.desk.handled.${ME}.${day}`;
}

function handledCalls() {
  try {
    const items = JSON.parse(localStorage.getItem(handledKey()) || "[]");
    return Array.isArray(items) ? items : [];
  } catch {
    return [];
  }
}

function rememberHandled(summary) {
  const items = handledCalls().filter((x) => x.id !== summary.id);
  const old = handledCalls().find((x) => x.id === summary.id) || {};
  items.push({ ...old, ...summary });
  try {
    localStorage.setItem(handledKey(), JSON.stringify(items.slice(-200)));
  } catch {
    /* storage full or disabled: the history shows only the calls the server lists */
  }
}

function summaryOf(c) {
  const iso = (ms) => (ms ? new Date(ms + S.skewMs).toISOString() : null);
  return {
    id: c.id,
    started_at: iso(c.offered_ms || c.started_ms || c.connected_ms),
    answered_at: iso(c.connected_ms),
    ended_at: iso(Date.now()),
    talk_seconds: c.connected_ms ? (Date.now() - c.connected_ms) / 1000 : null,
    caller: c.caller || "",
    dialed: c.dialed || "",
    direction: c.direction || "inbound",
    queue: c.queue || "",
    disposition: "",
  };
}

let historyAgain = false;

async function loadHistory() {
  if (historyLoading) {
    historyAgain = true; // something changed while the list was loading: load it once more
    return historyLoading;
  }
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const params = new URLSearchParams({ agent_id: String(ME), since: midnight.toISOString(), limit: "100" });
  historyLoading = api("GET", `/api/v1/calls?${params}`, undefined, { quiet: true })
    .then((page) => {
      const items = page.items || [];
      const have = new Set(items.map((c) => c.id));
      const extra = handledCalls().filter((c) => !have.has(c.id) && c.started_at);
      S.history = [...items, ...extra].sort((a, b) => String(b.started_at).localeCompare(String(a.started_at)));
      renderHistory();
    })
    .catch(() => {})
    .finally(() => {
      historyLoading = null;
      if (historyAgain) {
        historyAgain = false;
        loadHistory();
      }
    });
  return historyLoading;
}

function renderHistory() {
  const body = $("hist-body");
  body.replaceChildren(
    ...S.history.map((c) => {
      const talk = c.talk_seconds ?? (c.answered_at && c.ended_at ? (Date.parse(c.ended_at) - Date.parse(c.answered_at)) / 1000 : null);
      const result = c.disposition ? codeLabel("disposition", c.disposition) : c.answered_at ? T.desk_answered : T.desk_missed;
      const number = c.direction === "outbound" ? c.dialed : c.caller;
      const when = new Date(Date.parse(c.started_at));
      return el(
        "tr",
        { "data-call": c.id },
        el("td", {}, el("time", { dateTime: c.started_at, text: timeFmt.format(when), title: dateTimeFmt.format(when) })),
        el("td", { text: number || "—", title: queueLabel(c.queue) }),
        el("td", { text: talk === null ? "—" : duration(talk) }),
        el("td", { text: result }),
      );
    }),
  );
  $("hist-empty").hidden = S.history.length > 0;
}

// -- the clock (the only timer) ------------------------------------------------------------------

function renderClock() {
  const now = Date.now();
  if (S.agent && S.agent.state !== "logged_out") $("state-timer").textContent = duration((now - S.sinceMs) / 1000);
  const c = S.call;
  if (c) {
    const from = c.connected_ms || c.offered_ms || c.started_ms;
    $("call-timer").textContent = from ? duration((now - from) / 1000) : "00:00";
    if (c.state === "ringing") {
      const w = c.wait_base ? c.wait_base.wait + (now - c.wait_base.at) / 1000 : (now - (c.offered_ms || now)) / 1000;
      $("in-wait").textContent = duration(w);
    }
  }
  if (S.wrap) {
    const cd = $("wrapup-countdown");
    if (S.wrap.seconds === undefined) {
      cd.textContent = "";
      cd.dataset.left = "";
    } else if (S.wrap.seconds === null) {
      cd.textContent = T.desk_wrapup_manual;
      cd.dataset.left = "";
    } else {
      const left = Math.min(S.wrap.seconds, Math.ceil(S.wrap.seconds - (now - S.wrap.started_ms) / 1000));
      cd.textContent = left > 0 ? fmt("desk_wrapup_left", { s: left }) : T.desk_wrapup_over;
      cd.dataset.left = String(Math.max(0, left));
      cd.classList.toggle("low", left <= 5);
    }
  }
}

// -- keyboard ------------------------------------------------------------------------------------

const ACTIONS = {
  answer,
  hangup,
  hold: toggleHold,
  mute: toggleMute,
  transfer: openTransfer,
  ready,
  not_ready: notReady,
  dial: () => $("dial-number").focus(),
};

function onKey(ev) {
  if (!ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
  const sc = CFG.shortcuts.find((s) => s.code === ev.code);
  if (!sc) return;
  ev.preventDefault();
  if ($("emergency-dialog").open) return;
  ACTIONS[sc.action]();
}

// -- the event stream ----------------------------------------------------------------------------

/** A queue (GET /api/v1/queues item): its name and wrap-up seconds (null: manual, default 15). */
function queueInfo(q) {
  const settings = q.settings || {};
  return { display_name: q.display_name, wrap_up: "wrap_up" in settings ? settings.wrap_up : 15 };
}

function snapshot(data) {
  for (const a of data.agents || []) S.agents.set(a.user_id, a);
  const me = (data.agents || []).find((a) => a.user_id === ME);
  if (me) setAgent(me);
  for (const q of data.queues || []) {
    S.queues.set(q.name, queueInfo(q));
  }
  const mine = (data.calls || []).find((c) => c.agent_id === ME && c.state !== "ended" && c.state !== "wrap_up");
  const ringing = (data.calls || []).find((c) => (c.ringing_agents || []).includes(ME));
  if (mine) setCallDoc(mine);
  else if (ringing) {
    offered(ringing.id, { at: new Date(Date.now() + S.skewMs).toISOString() }, {
      caller: ringing.caller,
      queue: ringing.queue,
      data: ringing.data,
    });
  }
  else if (S.call && !(data.calls || []).some((c) => c.id === S.call.id)) {
    endCall(S.call.id);
  }
  renderCall();
}

function otherAgent(env) {
  if (!env.agent_id || env.agent_id === ME) return;
  const a = S.agents.get(env.agent_id);
  if (!a) return;
  if (env.type === "agent_state") a.state = env.data.new;
  else if (env.type === "agent_logout") a.state = "logged_out";
}

function onEvent(env) {
  if (env.type.startsWith("agent_")) {
    otherAgent(env);
    agentEvent(env);
    if (env.type === "agent_forced" && env.agent_id === ME) {
      forcedToast(env.data || {});
      // the state change itself arrives as agent_state; refresh to be sure of reason and since
      api("GET", `/api/v1/agents/${ME}`, undefined, { quiet: true }).then(setAgent).catch(() => {});
    }
    return;
  }
  if (env.type === "message") {
    addMessage({ ...env.data, id: env.data.id });
    return;
  }
  if (env.type === "stats") return;
  if (env.call_id) callEvent(env);
}

// -- start ---------------------------------------------------------------------------------------

async function start() {
  $("login-form").addEventListener("submit", login);
  $("btn-ready").addEventListener("click", ready);
  $("btn-not-ready").addEventListener("click", notReady);
  $("nr-reason").addEventListener("change", renderAgent);
  $("btn-logout").addEventListener("click", logout);
  $("btn-answer").addEventListener("click", answer);
  $("btn-toast-answer").addEventListener("click", answer);
  $("btn-hangup").addEventListener("click", hangup);
  $("btn-hold").addEventListener("click", toggleHold);
  $("btn-mute").addEventListener("click", toggleMute);
  $("btn-transfer").addEventListener("click", openTransfer);
  $("btn-xfer-complete").addEventListener("click", () => callAction("transfer/complete"));
  $("btn-xfer-cancel").addEventListener("click", () => callAction("transfer/cancel"));
  $("btn-xfer-conference").addEventListener("click", () => callAction("conference"));
  $("xfer-kind").addEventListener("change", showKind);
  $("transfer-form").addEventListener("submit", submitTransfer);
  $("btn-xfer-close").addEventListener("click", () => $("transfer-dialog").close());
  $("wrapup-form").addEventListener("submit", submitWrapUp);
  $("dial-form").addEventListener("submit", dial);
  $("btn-emg-ack").addEventListener("click", ackEmergency);
  $("emergency-dialog").addEventListener("cancel", (ev) => ev.preventDefault()); // Esc does not dismiss
  for (const b of document.querySelectorAll("#dtmf button")) b.addEventListener("click", () => sendDtmf(b.dataset.key));
  document.addEventListener("keydown", onKey);

  renderAgent();
  renderCall();
  renderMessages();

  // the desk shows no statistics: the server need not send it the 2-second stats ticks
  const stream = new EventStream({ strings: T, skip: ["stats"] });
  stream.on("snapshot", snapshot).on("event", onEvent);
  stream.on("resumed", () => {
    // the stream replays what was missed; the agent's own status is cheap to re-read
    api("GET", `/api/v1/agents/${ME}`, undefined, { quiet: true }).then(setAgent).catch(() => {});
  });
  stream.start();
  window.deskStream = stream; // for tests and debugging

  const [codes, queues, agents, me] = await Promise.all([
    api("GET", "/api/v1/codes", undefined, { quiet: true }).catch(() => []),
    api("GET", "/api/v1/queues", undefined, { quiet: true }).catch(() => []),
    api("GET", "/api/v1/agents", undefined, { quiet: true }).catch(() => []),
    api("GET", `/api/v1/agents/${ME}`).catch(() => null),
  ]);
  S.codes.disposition = codes.filter((c) => c.kind === "disposition");
  S.codes.not_ready = codes.filter((c) => c.kind === "not_ready" && c.code !== "login");
  const label = (c) => (LANG === "en" ? c.label_en : c.label_zh);
  $("nr-reason").replaceChildren(...S.codes.not_ready.map((c) => el("option", { value: c.code, text: label(c) })));
  $("wrapup-disposition").replaceChildren(
    el("option", { value: "", text: T.desk_choose }),
    ...S.codes.disposition.map((c) => el("option", { value: c.code, text: label(c) })),
  );
  for (const q of queues) {
    if (!S.queues.has(q.name)) {
      S.queues.set(q.name, queueInfo(q));
    }
  }
  for (const a of agents) if (!S.agents.has(a.user_id)) S.agents.set(a.user_id, a);
  if (me) setAgent(me);
  else renderAgent();
  if (me && me.state !== "logged_out" && !S.call) {
    const now = { at: new Date(Date.now() + S.skewMs).toISOString() };
    if (me.offers && me.offers.length) {
      offered(String(me.offers[0]).split("/")[0], now);
      fetchPop(S.call);
    }
    else if (me.current_call) callEvent({ ...now, type: "connect", agent_id: ME, call_id: me.current_call, data: {} });
  }
  loadHistory().then(() => me && resumeWrapUp(me));
  api("GET", "/api/v1/messages?unread=true", undefined, { quiet: true })
    .then((items) => {
      for (const m of Array.isArray(items) ? items : items.items || []) addMessage(m);
    })
    .catch(() => {});
  setInterval(renderClock, 1000);
  document.body.dataset.deskReady = "1";
}

start();
