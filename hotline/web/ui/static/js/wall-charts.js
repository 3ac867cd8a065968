// Interval charts of the wallboard (uPlot, vendored): calls per 15 minutes and the SL trend.
import uPlot from "/static/vendor/uPlot-1.6.32.esm.js";
import { toPercent } from "./wall-format.js";

const COLORS = { offered: "#0b6bcb", answered: "#1a7f37", abandoned: "#b42318", sl: "#6f42c1", warn: "#b7791f", alarm: "#b42318" };

function width(el) {
  return Math.max(280, Math.floor(el.getBoundingClientRect().width) - 4);
}

/** Column arrays for uPlot from GET /api/v1/stats/intervals rows. */
export function columns(rows) {
  const xs = [], offered = [], answered = [], abandoned = [], sl = [];
  for (const r of rows) {
    xs.push(Date.parse(r.start) / 1000);
    offered.push(r.offered ?? 0);
    answered.push(r.answered ?? 0);
    abandoned.push(r.abandoned ?? 0);
    sl.push(toPercent(r.sl));
  }
  return { xs, offered, answered, abandoned, sl };
}

/** x-axis labels as local hh:mm in the page's language (uPlot's own are English). */
function timeAxis(lang) {
  const fmt = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", hour12: false });
  return { values: (u, splits) => splits.map((s) => fmt.format(new Date(s * 1000))) };
}

export class Charts {
  constructor(callsEl, slEl, t, lang, height = 220) {
    this.lang = lang;
    this.callsEl = callsEl;
    this.slEl = slEl;
    this.t = t;
    this.height = height;
    this.calls = null;
    this.sl = null;
    this.thresholds = null;
    window.addEventListener("resize", () => this.resize());
  }

  resize() {
    if (this.calls) this.calls.setSize({ width: width(this.callsEl), height: this.height });
    if (this.sl) this.sl.setSize({ width: width(this.slEl), height: this.height });
  }

  draw(rows, thresholds) {
    const c = columns(rows);
    const n = c.xs.length;
    const slLevels = (thresholds && thresholds.sl) || [null, null];
    const warn = new Array(n).fill(toPercent(slLevels[0]));
    const alarm = new Array(n).fill(toPercent(slLevels[1]));
    const t = this.t;
    if (!this.calls) {
      const bars = uPlot.paths.bars;
      this.calls = new uPlot(
        {
          width: width(this.callsEl),
          height: this.height,
          scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, max + 1)] } },
          legend: { live: false },
          axes: [timeAxis(this.lang), { label: t.wb_chart_calls_axis, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }],
          series: [
            { label: t.wb_time },
            { label: t.wb_offered, stroke: COLORS.offered, width: 2, points: { show: true } },
            { label: t.wb_answered, stroke: COLORS.answered, fill: COLORS.answered + "99", paths: bars({ size: [0.35, 40], align: -1 }), points: { show: false } },
            { label: t.wb_abandoned, stroke: COLORS.abandoned, fill: COLORS.abandoned + "99", paths: bars({ size: [0.35, 40], align: 1 }), points: { show: false } },
          ],
        },
        [c.xs, c.offered, c.answered, c.abandoned],
        this.callsEl,
      );
      this.sl = new uPlot(
        {
          width: width(this.slEl),
          height: this.height,
          scales: { x: { time: true }, y: { range: [0, 100] } },
          legend: { live: false },
          axes: [timeAxis(this.lang), { label: "%", values: (u, ticks) => ticks.map((v) => `${v}%`) }],
          series: [
            { label: t.wb_time },
            { label: t.wb_sl, stroke: COLORS.sl, width: 2, spanGaps: true, points: { show: true } },
            { label: t.wb_level_warn, stroke: COLORS.warn, dash: [6, 4], width: 1, points: { show: false } },
            { label: t.wb_level_alarm, stroke: COLORS.alarm, dash: [2, 4], width: 1, points: { show: false } },
          ],
        },
        [c.xs, c.sl, warn, alarm],
        this.slEl,
      );
    } else {
      this.calls.setData([c.xs, c.offered, c.answered, c.abandoned]);
      this.sl.setData([c.xs, c.sl, warn, alarm]);
    }
  }
}
