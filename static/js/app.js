// Small progressive enhancements; no inline handlers (the CSP forbids them).
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.dataset && form.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Charts: <canvas data-chart='{"type": "bar"|"pareto", "labels": [...], "values": [...]}'>.
// The figures are computed on the server; numbers here only place bars on the canvas.
const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

function tickFormat(format) {
  if (format === "money") return (value) => money.format(value);
  if (format === "percent") return (value) => `${value}%`;
  return (value) => value;
}

function drawChart(canvas) {
  if (!window.Chart || canvas.dataset.drawn) return;
  const spec = JSON.parse(canvas.dataset.chart);
  // One bar series (label, values) or several (series: [{label, values, colour}]), stacked
  // when spec.stacked.
  const series = spec.series || [{ label: spec.label, values: spec.values, colour: "#0172ad" }];
  const datasets = series.map((s) => ({ type: "bar", label: s.label, data: s.values, yAxisID: "y",
                                        backgroundColor: s.colour }));
  const stacked = Boolean(spec.stacked);
  // counts (campaigns) take whole-number ticks only
  const ticks = { callback: tickFormat(spec.format), precision: spec.format === "count" ? 0 : undefined };
  const scales = { y: { beginAtZero: true, stacked, ticks }, x: { stacked } };
  if (spec.type === "pareto") {
    datasets.push({ type: "line", label: "Running share of the total", data: spec.cumulative,
                    yAxisID: "share", borderColor: "#d97706", pointRadius: 0 });
    scales.share = { position: "right", min: 0, max: 100,
                     ticks: { callback: tickFormat("percent") }, grid: { drawOnChartArea: false } };
    scales.x = { ticks: { display: spec.labels.length <= 60 } };
  }
  new window.Chart(canvas, {
    data: { labels: spec.labels, datasets },
    options: { animation: false, responsive: true, maintainAspectRatio: false, scales,
               plugins: { legend: { display: spec.type === "pareto" || series.length > 1 } } },
  });
  canvas.dataset.drawn = "1";
}

function drawCharts(root) {
  root.querySelectorAll("canvas[data-chart]").forEach(drawChart);
}

document.addEventListener("DOMContentLoaded", () => drawCharts(document));
document.addEventListener("htmx:afterSwap", (event) => drawCharts(event.target));
