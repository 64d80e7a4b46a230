// The backtest report's equity and drawdown charts, from the run's series.json (no inline JS).
"use strict";

function lineChart(canvas, labels, lines, format) {
  const datasets = lines.map(([label, data, color, dash]) => ({
    label, data, borderColor: color, borderDash: dash || [], pointRadius: 0, borderWidth: 1.5,
    fill: false, tension: 0 }));
  new Chart(canvas, {
    type: "line",
    data: { labels, datasets },
    options: {
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: lines.length > 1 },
                 tooltip: { callbacks: { label: (c) => format(c.parsed.y) } } },
      scales: { y: { ticks: { callback: (v) => format(v) } },
                x: { ticks: { maxTicksLimit: 8 } } },
    },
  });
}

async function drawBacktestCharts() {
  const equity = document.getElementById("backtest-equity");
  const drawdown = document.getElementById("backtest-drawdown");
  if (!equity || !drawdown || typeof Chart === "undefined") return;
  const response = await fetch(equity.dataset.src, { credentials: "same-origin" });
  if (!response.ok) return;
  const series = await response.json();
  const rupees = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR",
                                                  maximumFractionDigits: 0 });
  const lines = [["Strategy", series.equity, "#0d6efd"]];
  if (series.buy_and_hold) {
    lines.push(["Buy and hold, equal weight", series.buy_and_hold, "#6c757d", [6, 4]]);
  }
  lineChart(equity, series.dates, lines, (v) => rupees.format(v));
  lineChart(drawdown, series.dates, [["Drawdown", series.drawdown_pct, "#dc3545"]],
            (v) => `${v.toFixed(1)}%`);
}

document.addEventListener("DOMContentLoaded", drawBacktestCharts);
