// The backtest report's equity and drawdown charts, from the run's series.json (no inline JS).
"use strict";

function lineChart(canvas, labels, values, label, color, format) {
  new Chart(canvas, {
    type: "line",
    data: { labels, datasets: [{ label, data: values, borderColor: color, pointRadius: 0,
                                 borderWidth: 1.5, fill: false, tension: 0 }] },
    options: {
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: false },
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
  lineChart(equity, series.dates, series.equity, "Equity", "#0d6efd", (v) => rupees.format(v));
  lineChart(drawdown, series.dates, series.drawdown_pct, "Drawdown", "#dc3545",
            (v) => `${v.toFixed(1)}%`);
}

document.addEventListener("DOMContentLoaded", drawBacktestCharts);
