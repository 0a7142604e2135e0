// Result rows and the markdown table.
//
// A row: { case, name, value, unit, reference, refValue, ratio, target, pass, detail }
//   pass: true / false for a target, null for an informational row.

import { median, round } from './measure.mjs';

export function info(caseName, name, value, unit, extra = {}) {
  return { case: caseName, name, value: round(value, 2), unit, reference: null, refValue: null, ratio: null, target: null, pass: null, detail: '', ...extra };
}

/** Median of per-run ratios a[i] / b[i] (runs of the two targets were taken next to each other). */
export function pairedRatio(a, b) {
  const n = Math.min(a.length, b.length);
  return median(Array.from({ length: n }, (_, i) => a[i] / b[i]));
}

/**
 * value / refValue against a minimum ratio (or, with `min` undefined, informational).
 * With `extra.runs = [ours[], reference[]]` the ratio is the median of the per-run ratios, which
 * cancels most of the drift when other processes load the machine for a while.
 */
export function ratioRow(caseName, name, value, unit, reference, refValue, min, extra = {}) {
  const { runs, ...rest } = extra;
  extra = rest;
  const ratio = runs ? pairedRatio(runs[0], runs[1]) : value / refValue;
  return {
    case: caseName,
    name,
    value: round(value, 2),
    unit,
    reference,
    refValue: round(refValue, 2),
    ratio: round(ratio, 3),
    target: min === undefined ? null : `≥ ${min}× ${reference}`,
    pass: min === undefined ? null : Number.isFinite(ratio) && ratio >= min,
    detail: '',
    ...extra,
  };
}

/** value below `limit` (latency, memory). */
export function limitRow(caseName, name, value, unit, limit, extra = {}) {
  return {
    case: caseName,
    name,
    value: round(value, 2),
    unit,
    reference: null,
    refValue: null,
    ratio: null,
    target: `< ${limit} ${unit}`,
    pass: Number.isFinite(value) && value < limit,
    detail: '',
    ...extra,
  };
}

/**
 * A figure beside the same figure measured on a reference in the same run (PostgreSQL beside
 * SQLite): the ratio is informational, the pass comes from `limit` (value below it), if given.
 */
export function limitRatioRow(caseName, name, value, unit, reference, refValue, limit, extra = {}) {
  const base = limit === undefined ? info(caseName, name, value, unit) : limitRow(caseName, name, value, unit, limit);
  return { ...base, reference, refValue: round(refValue, 2), ratio: round(value / refValue, 3), ...extra };
}

export function errorRow(caseName, err) {
  return {
    case: caseName,
    name: 'case failed',
    value: null,
    unit: '',
    reference: null,
    refValue: null,
    ratio: null,
    target: 'runs',
    pass: false,
    detail: String(err?.message ?? err).replace(/\s+/g, ' ').slice(0, 300),
  };
}

const fmtNum = (x) => {
  if (x === null || x === undefined) return '';
  if (!Number.isFinite(x)) return String(x);
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
};

const cell = (s) => String(s ?? '').replace(/\|/g, '\\|');

export function markdownTable(rows) {
  const out = ['| Case | Measure | Value | Reference | Ratio | Target | Result | Notes |', '|---|---|---:|---|---:|---|---|---|'];
  for (const r of rows) {
    const value = r.value === null ? '—' : `${fmtNum(r.value)} ${r.unit}`;
    const ref = r.reference ? `${r.reference}${r.refValue !== null ? ` (${fmtNum(r.refValue)} ${r.unit})` : ''}` : '';
    const ratio = r.ratio === null ? '' : `${fmtNum(r.ratio)}×`;
    const result = r.pass === null ? 'info' : r.pass ? 'PASS' : '**MISS**';
    out.push(`| ${cell(r.case)} | ${cell(r.name)} | ${cell(value)} | ${cell(ref)} | ${cell(ratio)} | ${cell(r.target ?? '')} | ${result} | ${cell(r.detail)} |`);
  }
  return out.join('\n');
}
