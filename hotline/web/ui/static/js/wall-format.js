// Pure helpers of the wallboard: durations, percentages, threshold levels, local times.

/** Seconds as m:ss or h:mm:ss ("–" when unknown). */
export function duration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "–";
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** A service level as a percentage number (accepts a fraction 0..1 or a percentage). */
export function toPercent(v) {
  if (v == null || !isFinite(v)) return null;
  return v <= 1 ? v * 100 : v;
}

export function percent(v) {
  const p = toPercent(v);
  return p == null ? "–" : `${Math.round(p)}%`;
}

/** ok | warn | alarm for a value against [warn, alarm]; `lowIsBad` for service levels. */
export function level(value, pair, lowIsBad = false) {
  if (value == null || !Array.isArray(pair) || pair.length !== 2) return "ok";
  let [warn, alarm] = pair;
  if (lowIsBad) {
    value = toPercent(value);
    warn = toPercent(warn);
    alarm = toPercent(alarm);
    if (alarm != null && value < alarm) return "alarm";
    if (warn != null && value < warn) return "warn";
    return "ok";
  }
  if (alarm != null && value >= alarm) return "alarm";
  if (warn != null && value >= warn) return "warn";
  return "ok";
}

/** The worse of two levels. */
export function worst(a, b) {
  const rank = { ok: 0, warn: 1, alarm: 2 };
  return (rank[b] ?? 0) > (rank[a] ?? 0) ? b : a;
}

/** Seconds since an ISO-8601 instant, given the clock skew (server − local, ms). */
export function since(iso, now = Date.now(), skew = 0) {
  if (!iso) return null;
  const t = Date.parse(iso);
  if (isNaN(t)) return null;
  return (now + skew - t) / 1000;
}

/** A local wall-clock time (hh:mm:ss in the browser's time zone). */
export function localTime(date, lang) {
  return new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }).format(date);
}

/** "{name} …" placeholders filled from an object. */
export function fill(template, values) {
  return String(template).replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}
