/*
 * Chart.js (the vendored UMD build, window.Chart) for every chart: created once and updated in
 * place, a colour-blind-safe palette, one colour per model name on every page, and time buckets that
 * are only partly inside the range hatched.
 */
const Chart = window.Chart;

// Okabe–Ito: distinguishable with the common colour-vision deficiencies; errors never rely on red vs green.
export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
export const DASHES = [[], [6, 4], [2, 3], [8, 3, 2, 3]];
// Models: the same hues, with olive for the yellow, which is too faint for a line on white.
const MODEL_PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999933", "#000000"];
const MODEL_POINTS = ["circle", "triangle", "rect", "rectRot"];

/** FNV-1a: a stable 32-bit hash of a model name, the same on every page, range and visit. */
function hashName(name) {
  let h = 0x811c9dc5;
  for (const ch of String(name)) h = Math.imul(h ^ ch.codePointAt(0), 0x01000193) >>> 0;
  return h;
}

/**
 * A model's colour: from its name, not its rank in the current answer, so it keeps its colour when a
 * range or a filter changes which models appear. Two models may share a colour; their point styles
 * (modelPoint) come from other bits of the hash, so they rarely share both.
 */
export const modelColor = (name) => MODEL_PALETTE[hashName(name) % MODEL_PALETTE.length];
export const modelPoint = (name) => MODEL_POINTS[Math.floor(hashName(name) / MODEL_PALETTE.length) % MODEL_POINTS.length];

/** A translucent colour for the same model (#rrggbb + alpha). */
export const fade = (hex, alpha) => hex + Math.round(alpha * 255).toString(16).padStart(2, "0");

/** Start (a Date) of the UTC bucket after the one starting at `start`, as the API buckets. */
export function bucketEnd(start, groupBy) {
  if (groupBy === "month") return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
  const step = { minute: 60e3, hour: 3600e3, day: 86400e3, week: 7 * 86400e3 }[groupBy];
  return new Date(start.getTime() + step);
}

/**
 * For each bucket start (ISO text), true when the bucket is incomplete: the range covers only part
 * of it, or it is not over yet (a preset's last bucket holds "now").
 */
export function partialBuckets(periods, groupBy, range) {
  const end = Math.min(range.end.getTime(), Date.now());
  return periods.map((iso) => {
    const start = new Date(iso);
    return start < range.start || bucketEnd(start, groupBy).getTime() > end;
  });
}

/** The note under a time chart that explains its hatched buckets; hidden when none is partial. */
export function partialNote(node, flags, groupBy) {
  if (!node) return;
  const first = flags.length > 0 && flags[0], last = flags.length > 1 && flags[flags.length - 1];
  node.hidden = !(first || last);
  if (node.hidden) { node.textContent = ""; return; }
  const both = first && last;
  const which = both ? `first and last ${groupBy}s are` : `${first ? "first" : "last"} ${groupBy} is`;
  node.textContent = `Hatched: the ${which} incomplete (partly outside the range, or not over yet); a lower value there is not a drop.`;
}

let hatchTile = null;

function hatchPattern(ctx) {
  if (!hatchTile) {
    hatchTile = document.createElement("canvas");
    hatchTile.width = hatchTile.height = 8;
    const t = hatchTile.getContext("2d");
    t.fillStyle = "rgba(255, 255, 255, 0.55)"; // lightens what is underneath
    t.fillRect(0, 0, 8, 8);
    t.strokeStyle = "rgba(71, 85, 105, 0.45)";
    t.lineWidth = 1;
    t.beginPath();
    t.moveTo(0, 8); t.lineTo(8, 0);
    t.moveTo(-2, 2); t.lineTo(2, -2);
    t.moveTo(6, 10); t.lineTo(10, 6);
    t.stroke();
  }
  return ctx.createPattern(hatchTile, "repeat");
}

/** [left, right] pixels of category `i`'s slot on the x axis, within the chart area. */
function slotOf(chart, i) {
  const x = chart.scales.x, area = chart.chartArea, n = chart.data.labels.length;
  const centre = x.getPixelForValue(i);
  const half = n > 1 ? Math.abs(x.getPixelForValue(1) - x.getPixelForValue(0)) / 2 : area.width / 2;
  return [Math.max(area.left, centre - half), Math.min(area.right, centre + half)];
}

// Module code runs once per page, however many scripts import this module.
Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
Chart.defaults.color = "#334155";
// Updates in place without animation: the refreshed figure appears at once, and tests see it drawn.
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;
Chart.register({
  id: "obsDrawn",
  afterRender(chart) {
    chart.canvas.dataset.drawn = String(Number(chart.canvas.dataset.drawn || 0) + 1);
    chart.canvas.dataset.points = String(chart.data.datasets.reduce((n, d) => n + (d.data || []).length, 0));
    const flags = chart.$obsPartial || [];
    chart.canvas.dataset.partial = flags.map((on, i) => (on ? i : -1)).filter((i) => i >= 0).join(",");
  },
});
// Time buckets only partly inside the range are hatched over, so that a short first or last
// bucket does not read as a drop (updateChart's `partial`).
Chart.register({
  id: "obsPartial",
  afterDatasetsDraw(chart) {
    const flags = chart.$obsPartial;
    if (!flags || !flags.some(Boolean) || !chart.scales.x) return;
    const { ctx, chartArea: area } = chart;
    ctx.save();
    ctx.fillStyle = hatchPattern(ctx);
    flags.forEach((on, i) => {
      if (!on || i >= chart.data.labels.length) return;
      const [left, right] = slotOf(chart, i);
      ctx.fillRect(left, area.top, right - left, area.bottom - area.top);
    });
    ctx.restore();
  },
});

/** The chart on this canvas, created on first use only. */
export function chart(canvas, config) {
  return Chart.getChart(canvas) || new Chart(canvas, config);
}

/**
 * Replace labels and dataset values in place (keeps the chart object, its options and colours).
 * `partial`: one flag per label, true for a time bucket only partly inside the range (hatched).
 */
export function updateChart(instance, labels, datasets, { partial = null } = {}) {
  instance.data.labels = labels;
  datasets.forEach((values, i) => {
    if (!instance.data.datasets[i]) instance.data.datasets[i] = {};
    Object.assign(instance.data.datasets[i], values);
  });
  instance.data.datasets.length = datasets.length;
  instance.$obsPartial = partial;
  instance.update();
}
