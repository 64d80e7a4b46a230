// The Trading page's cumulative realized P&L curve, drawn from the canvas's data-points
// ([day, rupees] pairs; the first is the zero the curve starts from). Kept out of the HTML so
// the CSP can forbid inline scripts.
"use strict";

function drawPnlChart() {
  const canvas = document.getElementById("pnl-chart");
  if (!canvas || typeof Chart === "undefined") return;
  const points = JSON.parse(canvas.dataset.points || "[]");
  canvas.closest(".chart-box").classList.toggle("is-empty", points.length === 0);
  if (points.length === 0) return;
  const rupees = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR",
                                                  maximumFractionDigits: 0 });
  const paise = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR" });
  const day = new Intl.DateTimeFormat("en-IN", { day: "2-digit", month: "short",
                                                 timeZone: "Asia/Kolkata" });
  new Chart(canvas, {
    type: "line",
    data: {
      labels: points.map((p) => day.format(new Date(`${p[0]}T12:00:00+05:30`))),
      datasets: [{ label: "Cumulative realized P&L", data: points.map((p) => p[1]),
                   borderColor: "#0d6efd", backgroundColor: "rgba(13, 110, 253, 0.1)",
                   fill: "origin", tension: 0,
                   pointRadius: points.length > 60 ? 0 : 3 }],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: { legend: { display: false },
                 tooltip: { callbacks: { label: (c) => paise.format(c.parsed.y) } } },
      // The axis always shows zero, so one day of P&L reads as a rise or a fall from it.
      scales: { y: { beginAtZero: true, grace: "10%", ticks: { callback: (v) => rupees.format(v) },
                     grid: { color: (c) => (c.tick.value === 0 ? "#6c757d" : "#e9ecef") } },
                x: { ticks: { maxTicksLimit: 8 } } },
    },
  });
}

document.addEventListener("DOMContentLoaded", drawPnlChart);
