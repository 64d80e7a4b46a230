// Page behaviour kept out of the HTML so the CSP can forbid inline scripts.
"use strict";

// A form marked .js-once disables its buttons on submit: a double tap sends one request.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.classList.contains("js-once")) return;
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
  setTimeout(() => form.querySelectorAll("button").forEach((b) => { b.disabled = true; }), 0);
});

// The cumulative realized P&L curve on the trading page, from the canvas's data-points.
function drawPnlChart() {
  const canvas = document.getElementById("pnl-chart");
  if (!canvas || typeof Chart === "undefined") return;
  const points = JSON.parse(canvas.dataset.points || "[]");
  canvas.closest(".chart-box").classList.toggle("is-empty", points.length === 0);
  if (points.length === 0) return;
  const rupees = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR" });
  new Chart(canvas, {
    type: "line",
    data: {
      labels: points.map((p) => p[0]),
      datasets: [{ label: "Cumulative realized P&L", data: points.map((p) => p[1]),
                   borderColor: "#0d6efd", pointRadius: points.length > 60 ? 0 : 2 }],
    },
    options: {
      maintainAspectRatio: false,
      plugins: { legend: { display: false },
                 tooltip: { callbacks: { label: (c) => rupees.format(c.parsed.y) } } },
      scales: { y: { ticks: { callback: (v) => rupees.format(v) } },
                x: { ticks: { maxTicksLimit: 8 } } },
    },
  });
}

document.addEventListener("DOMContentLoaded", drawPnlChart);
