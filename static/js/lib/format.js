/*
 * Numbers, money, durations and times as the pages show them. Times are shown in the browser's
 * zone, with UTC on hover (utc()); buckets of a day or more are UTC calendar buckets.
 */

export const DASH = "—";
const isNum = (v) => v !== null && v !== undefined && v !== "" && !Number.isNaN(Number(v));

export function int(v) {
  return isNum(v) ? Math.round(Number(v)).toLocaleString("en-US") : DASH;
}

/** A count in few characters: 850, 1.2k, 149k, 2.3M. */
export function compact(v) {
  if (!isNum(v)) return DASH;
  const n = Number(v), a = Math.abs(n);
  const units = [[1e9, "B"], [1e6, "M"], [1e3, "k"]];
  for (const [size, suffix] of units) {
    if (a >= size) {
      const scaled = n / size;
      return (Math.abs(scaled) >= 100 ? Math.round(scaled) : Number(scaled.toFixed(1))) + suffix;
    }
  }
  return Number.isInteger(n) ? String(n) : Number(n.toFixed(2)).toString();
}

export function cost(v) {
  if (!isNum(v)) return DASH;
  const n = Number(v);
  if (n === 0) return "$0";
  const a = Math.abs(n);
  if (a >= 1) return "$" + n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  // Cents hide the difference between two models; two significant digits keep it ($0.0042).
  return "$" + Number(n.toPrecision(2)).toLocaleString("en-US", { maximumFractionDigits: 8 });
}

export function ms(v) {
  if (!isNum(v)) return DASH;
  const n = Number(v);
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60000) return `${(n / 1000).toFixed(1)} s`;
  return `${(n / 60000).toFixed(1)} min`;
}

export function pct(v, digits = 2) {
  if (!isNum(v)) return DASH;
  return `${Number(Number(v).toFixed(digits))}%`;
}

export function time(iso) {
  if (!iso) return DASH;
  return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" }).format(new Date(iso));
}

export function utc(iso) {
  if (!iso) return "";
  return new Date(iso).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, " UTC");
}

/** Label of a time bucket: hours in the browser's zone; days and months are UTC calendar buckets. */
export function period(iso, groupBy) {
  const d = new Date(iso);
  if (groupBy === "month") return new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", timeZone: "UTC" }).format(d);
  if (groupBy === "day" || groupBy === "week") return new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" }).format(d);
  return new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(d);
}
