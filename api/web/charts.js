// Small SVG charts for the dashboard: grouped horizontal bars and lines. No library: the charts
// need little, and every drawn figure carries its data (`data-kpi`, `data-cell`, `data-measure`,
// and `data-value` or `data-suppressed="true"`) so that tests and assistive tools read the same
// numbers the eye sees.
//
// A suppressed figure is never drawn as zero: a bar becomes a hatched bar across the plot with
// the word "suppressed", a line point becomes a hatched marker above the plot and the line breaks
// there. An undefined figure (a share of nobody) is drawn as nothing and labelled "–".

import { formatValue, t } from "/web/common.js";

const SVG = "http://www.w3.org/2000/svg";
let patternCount = 0;

function element(name, attributes = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function hatch(svg) {
  patternCount += 1;
  const id = `hatch-${patternCount}`;
  const pattern = element("pattern", { id, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
  pattern.append(element("rect", { width: 6, height: 6, fill: "#eef0f4" }));
  pattern.append(element("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#8a93a3", "stroke-width": 2 }));
  const defs = element("defs");
  defs.append(pattern);
  svg.append(defs);
  return `url(#${id})`;
}

// Twelve distinguishable colours, enough for the arrival cohorts of a decade and more.
export const SERIES_COLOURS = [
  "#1f5fa8", "#d1651c", "#2e8540", "#8e44ad", "#b8860b", "#555f6e",
  "#c0392b", "#16a085", "#7f8c8d", "#e377c2", "#17becf", "#6b3e26",
];

function data(node, point) {
  node.classList.add("point");
  node.dataset.kpi = point.kpi;
  node.dataset.cell = point.cell;
  node.dataset.measure = point.measure;
  if (point.suppressed) node.dataset.suppressed = "true";
  else if (point.value !== null && point.value !== undefined) node.dataset.value = String(point.value);
  else node.dataset.undefined = "true";
  const title = element("title", {}, `${point.label ?? point.cell} · ${point.measure}: ${point.suppressed ? t("chart.suppressed") : formatValue(point.value, point.unit)}`);
  node.append(title);
}

// Grouped horizontal bars: `rows` is [{label, points: [{kpi, cell, measure, value, suppressed,
// unit}]}]; every row has one bar per entry of `measures` (by position), coloured by measure.
export function barChart({ rows, measures, unit, title }) {
  const labelWidth = 170;
  const valueWidth = 110;
  const width = 640;
  const plot = width - labelWidth - valueWidth;
  const barHeight = 14;
  const rowHeight = barHeight * measures.length + 8;
  const height = Math.max(rowHeight * rows.length, 24) + 4;
  const svg = element("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  svg.classList.add("chart-svg");
  const fill = hatch(svg);
  const values = rows.flatMap((row) => row.points).filter((p) => !p.suppressed && p.value != null).map((p) => p.value);
  const max = unit === "share" ? 1 : Math.max(1, ...values);
  rows.forEach((row, rowIndex) => {
    const top = 2 + rowIndex * rowHeight;
    svg.append(element("text", { x: labelWidth - 6, y: top + rowHeight / 2 + 3, "text-anchor": "end", "font-size": 11 }, row.label));
    row.points.forEach((point, index) => {
      const y = top + 2 + index * barHeight;
      if (point.suppressed) {
        const rect = element("rect", { x: labelWidth, y, width: plot, height: barHeight - 3, fill, stroke: "#8a93a3" });
        data(rect, { ...point, label: row.label });
        svg.append(rect);
        svg.append(element("text", { x: labelWidth + plot + 4, y: y + barHeight - 5, "font-size": 10, "font-style": "italic" }, t("chart.suppressed")));
        return;
      }
      const length = point.value == null ? 0 : Math.max(0, Math.min(1, point.value / max)) * plot;
      const rect = element("rect", { x: labelWidth, y, width: length.toFixed(2), height: barHeight - 3, fill: SERIES_COLOURS[index % SERIES_COLOURS.length] });
      data(rect, { ...point, label: row.label });
      svg.append(rect);
      svg.append(element("text", { x: labelWidth + length + 4, y: y + barHeight - 5, "font-size": 10 }, formatValue(point.value, unit)));
    });
  });
  return svg;
}

// Lines over a numeric x axis: `series` is [{name, points: [{x, kpi, cell, measure, value,
// suppressed}]}] with shares (0..1) as values.
export function lineChart({ series, unit, title, xLabel }) {
  const width = 640;
  const height = 300;
  const left = 48;
  const right = 16;
  const top = 28;
  const bottom = 36;
  const svg = element("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  svg.classList.add("chart-svg");
  const fill = hatch(svg);
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const xMin = Math.min(0, ...xs);
  const xMax = Math.max(1, ...xs);
  const values = series.flatMap((s) => s.points).filter((p) => !p.suppressed && p.value != null).map((p) => p.value);
  const yMax = unit === "share" ? 1 : Math.max(1, ...values);
  const px = (x) => left + ((x - xMin) / (xMax - xMin)) * (width - left - right);
  const py = (value) => top + (1 - value / yMax) * (height - top - bottom);
  // Axes and grid.
  for (let step = 0; step <= 4; step += 1) {
    const value = (yMax * step) / 4;
    svg.append(element("line", { x1: left, x2: width - right, y1: py(value), y2: py(value), stroke: "#e1e5ec" }));
    svg.append(element("text", { x: left - 4, y: py(value) + 3, "text-anchor": "end", "font-size": 10 }, formatValue(value, unit)));
  }
  for (let x = xMin; x <= xMax; x += 1) {
    svg.append(element("text", { x: px(x), y: height - bottom + 14, "text-anchor": "middle", "font-size": 10 }, String(x)));
  }
  svg.append(element("text", { x: (left + width - right) / 2, y: height - 6, "text-anchor": "middle", "font-size": 11 }, xLabel));
  // The suppressed markers sit in a band above the plot, never on the zero line.
  series.forEach((line, index) => {
    const colour = SERIES_COLOURS[index % SERIES_COLOURS.length];
    let path = "";
    let pen = false;
    for (const point of [...line.points].sort((a, b) => a.x - b.x)) {
      if (point.suppressed || point.value == null) {
        pen = false;
        continue;
      }
      path += `${pen ? "L" : "M"}${px(point.x).toFixed(1)},${py(point.value).toFixed(1)}`;
      pen = true;
    }
    if (path) svg.append(element("path", { d: path, fill: "none", stroke: colour, "stroke-width": 2 }));
    for (const point of line.points) {
      if (point.suppressed) {
        const marker = element("rect", { x: px(point.x) - 5, y: 6 + index * 4, width: 10, height: 10, fill, stroke: colour });
        data(marker, { ...point, label: `${line.name} · ${point.x}` });
        svg.append(marker);
      } else if (point.value != null) {
        const dot = element("circle", { cx: px(point.x), cy: py(point.value), r: 3.5, fill: colour });
        data(dot, { ...point, label: `${line.name} · ${point.x}` });
        svg.append(dot);
      }
    }
  });
  return svg;
}

// A legend for the measures or series of a chart.
export function legend(names) {
  const list = document.createElement("ul");
  list.className = "legend";
  names.forEach((name, index) => {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = SERIES_COLOURS[index % SERIES_COLOURS.length];
    item.append(swatch, name);
    list.append(item);
  });
  return list;
}
