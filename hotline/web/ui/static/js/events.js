// Live CTI events in the browser: one WebSocket to /api/v1/events (see the CTI contract).
//
//   import { EventStream } from "/static/js/events.js";
//   const stream = new EventStream({ strings });   // strings: {live_conn_lost, live_conn_back}
//   stream.on("snapshot", (data) => …);            // {agents, queues, calls}: replace your state
//   stream.on("event", (env) => …);                // every envelope {seq, type, at, call_id, queue, agent_id, data}
//   stream.on("agent_state", (env) => …);          // envelopes of one type
//   stream.on("status", (s) => …);                 // "connecting" | "open" | "lost" | "denied" | "idle"
//   stream.start();
//
// Protocol: the server greets with {type: "hello", seq, epoch, resumed}. A fresh connection (or a
// resume the server could not serve) is followed by {type: "snapshot", seq, data}; a resumed one
// by the envelopes missed since `since`. Reconnects send ?since=<last seq>&epoch=<epoch>, with
// exponential backoff and full jitter. A ping every `pingEvery` ms; no frame for `deadAfter` ms
// (or the browser going offline) counts as a lost connection. While lost, a banner
// (role=alert) says so; it disappears when the stream is back.

const DEFAULT_STRINGS = {
  live_conn_lost: "Connection lost — reconnecting…",
  live_conn_back: "Connection restored",
  live_signed_out: "You are signed out. Reload the page to sign in again.",
};

//: close codes after which retrying cannot help (4401 not authenticated, 4403 foreign Origin,
//: 4400 bad query): the stream stops and the banner says why
const FATAL_CODES = new Set([4400, 4401, 4403]);

function readPageStrings() {
  const el = document.getElementById("page-strings");
  if (!el) return {};
  try {
    return JSON.parse(el.textContent || "{}");
  } catch {
    return {};
  }
}

export class EventStream {
  constructor(options = {}) {
    this.path = options.path || "/api/v1/events";
    // event types this page does not want (the server then never sends them), e.g. ["stats"]
    this.skip = options.skip || [];
    this.strings = { ...DEFAULT_STRINGS, ...readPageStrings(), ...(options.strings || {}) };
    this.pingEvery = options.pingEvery ?? 15000;
    this.deadAfter = options.deadAfter ?? 25000;
    this.backoffMin = options.backoffMin ?? 500;
    this.backoffMax = options.backoffMax ?? 15000;
    this.bannerDelay = options.bannerDelay ?? 400;
    this.seq = null; // last sequence number seen (null before the first hello)
    this.epoch = null;
    this.status = "idle";
    this.attempt = 0;
    this.handlers = new Map();
    this.ws = null;
    this.stopped = true;
    this._timers = { retry: 0, ping: 0, dead: 0, banner: 0 };
    this._banner = options.banner || null;
    this._onOffline = () => this._lost("offline");
    this._onOnline = () => {
      if (this.status === "lost") this._retryNow();
    };
  }

  /** Register a handler for "hello", "snapshot", "event", "status", "resumed" or an event type. */
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
    return this;
  }

  start() {
    if (!this.stopped) return this;
    this.stopped = false;
    window.addEventListener("offline", this._onOffline);
    window.addEventListener("online", this._onOnline);
    if (!this._pageHooks) {
      // leaving the page closes the socket; coming back from the back/forward cache reopens it
      this._pageHooks = true;
      window.addEventListener("pagehide", () => this.stop());
      window.addEventListener("pageshow", (ev) => {
        if (ev.persisted && this.stopped && this.status !== "denied") this.start();
      });
    }
    this._connect();
    return this;
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("offline", this._onOffline);
    window.removeEventListener("online", this._onOnline);
    this._clearTimers();
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000, "bye");
      this.ws = null;
    }
    if (this.status !== "denied") this._setStatus("idle");
  }

  /** Send a JSON frame (true when it went out). */
  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  // -- internals ------------------------------------------------------------------------------

  _emit(type, arg) {
    for (const fn of this.handlers.get(type) || []) {
      try {
        fn(arg);
      } catch (err) {
        console.error(`event handler for ${type} failed`, err);
      }
    }
  }

  _url() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const url = new URL(this.path, `${proto}//${location.host}`);
    if (this.skip.length) url.searchParams.set("skip", this.skip.join(","));
    if (this.seq !== null && this.epoch) {
      url.searchParams.set("since", String(this.seq));
      url.searchParams.set("epoch", this.epoch);
    }
    return url.toString();
  }

  _connect() {
    if (this.stopped) return;
    this._clearTimers();
    if (this.status !== "lost") this._setStatus("connecting");
    let ws;
    try {
      ws = new WebSocket(this._url());
    } catch (err) {
      console.error("cannot open the event stream", err);
      this._lost("error");
      return;
    }
    this.ws = ws;
    this._greeted = false;
    ws.onmessage = (msg) => this._frame(ws, msg.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      if (FATAL_CODES.has(ev.code)) this._fatal(ev);
      else this._lost("closed");
    };
    ws.onerror = () => {}; // onclose follows
    this._armDead();
  }

  _frame(ws, raw) {
    if (ws !== this.ws) return;
    this._armDead();
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      console.warn("ignoring a malformed event frame", raw);
      return;
    }
    if (frame.type === "hello" && !("at" in frame)) {
      this._greeted = true;
      this.attempt = 0;
      const epochChanged = this.epoch !== null && frame.epoch !== this.epoch;
      this.epoch = frame.epoch;
      if (frame.resumed && !epochChanged) {
        this._emit("resumed", frame);
      } else {
        // a snapshot follows; events after it are newer than snapshot.seq
        this.seq = null;
      }
      this._emit("hello", frame);
      this._setStatus("open");
      this._schedulePing();
      return;
    }
    if (frame.type === "snapshot" && !("at" in frame)) {
      this.seq = frame.seq;
      this._emit("snapshot", frame.data || {});
      return;
    }
    if (frame.type === "pong") return;
    if (typeof frame.seq === "number") {
      if (this.seq !== null && frame.seq <= this.seq) return; // already seen (replayed twice)
      this.seq = frame.seq;
      this._emit("event", frame);
      this._emit(frame.type, frame);
    }
  }

  _schedulePing() {
    clearTimeout(this._timers.ping);
    this._timers.ping = setTimeout(() => {
      this.send({ op: "ping" });
      this._schedulePing();
    }, this.pingEvery);
  }

  _armDead() {
    clearTimeout(this._timers.dead);
    this._timers.dead = setTimeout(() => this._lost("silent"), this.deadAfter);
  }

  _lost(why) {
    if (this.stopped) return;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try {
        ws.close(4000, why);
      } catch {
        /* already closed */
      }
    }
    this._clearTimers();
    this._setStatus("lost");
    const cap = Math.min(this.backoffMax, this.backoffMin * 2 ** this.attempt);
    const delay = this.backoffMin / 2 + Math.random() * (cap - this.backoffMin / 2); // jitter
    this.attempt += 1;
    this._timers.retry = setTimeout(() => this._connect(), navigator.onLine === false ? this.backoffMax : delay);
  }

  _fatal(ev) {
    console.warn(`event stream refused (${ev.code}): ${ev.reason}`);
    this.ws = null;
    this.stop();
    this._setStatus("denied");
    const el = this._bannerEl();
    el.textContent = ev.code === 4401 ? this.strings.live_signed_out : `${this.strings.live_conn_lost} (${ev.reason})`;
    el.hidden = false;
    document.body.classList.add("conn-lost");
  }

  _retryNow() {
    clearTimeout(this._timers.retry);
    this._connect();
  }

  _clearTimers() {
    for (const key of ["retry", "ping", "dead"]) clearTimeout(this._timers[key]);
  }

  _setStatus(status) {
    if (status === this.status) return;
    const was = this.status;
    this.status = status;
    this._emit("status", status);
    if (status === "lost") {
      clearTimeout(this._timers.banner);
      this._timers.banner = setTimeout(() => {
        if (this.status === "lost" || this.status === "connecting") this._showBanner(true);
      }, this.bannerDelay);
    } else if (status === "open") {
      clearTimeout(this._timers.banner);
      if (was === "lost" || was === "connecting") this._showBanner(false);
    }
  }

  _bannerEl() {
    if (this._banner) return this._banner;
    let el = document.getElementById("conn-banner");
    if (!el) {
      el = document.createElement("div");
      el.id = "conn-banner";
      el.className = "conn-banner";
      el.setAttribute("role", "alert");
      el.setAttribute("aria-live", "assertive");
      el.hidden = true;
      document.body.prepend(el);
    }
    this._banner = el;
    return el;
  }

  _showBanner(show) {
    const el = this._bannerEl();
    if (show) {
      el.textContent = this.strings.live_conn_lost;
      el.hidden = false;
      document.body.classList.add("conn-lost");
    } else if (!el.hidden) {
      el.hidden = true;
      el.textContent = "";
      document.body.classList.remove("conn-lost");
    }
  }
}
