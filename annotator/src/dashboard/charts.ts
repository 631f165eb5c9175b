// Charts of the dashboards: Chart.js (canvas) with only the parts the pages use registered, no
// animation (a chart shows its numbers at once), colours for the dark theme. Each chart is kept
// so that leaving a view destroys it.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);
Chart.defaults.animation = false;
Chart.defaults.color = "#c9d3dd";
Chart.defaults.borderColor = "#2a3642";
Chart.defaults.font.size = 11;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.datasets.bar.maxBarThickness = 48;
Chart.defaults.plugins.legend.labels.filter = (item) => Boolean(item.text); // unnamed: band edges

/** A palette that reads on the dark background. */
export const PALETTE = [
  "#4fa3e0",
  "#f2a541",
  "#7bc47f",
  "#e06c75",
  "#b392f0",
  "#56c2c2",
  "#d7ba7d",
];
export const THRESHOLD = "#ff6b6b";
export const BAND = "rgba(79, 163, 224, 0.18)";

const live: Chart[] = [];

export function draw(canvas: HTMLCanvasElement, config: ChartConfiguration): Chart {
  const chart = new Chart(canvas, config);
  live.push(chart);
  canvas.dataset.chart = config.type;
  return chart;
}

/** Destroy every chart drawn so far (a view is being replaced). */
export function destroyAll(): void {
  for (const chart of live.splice(0)) chart.destroy();
}

/** A value's interval as a shaded band: the upper end filled down to the lower one. */
export function bandDatasets(
  label: string,
  lo: (number | null)[],
  hi: (number | null)[],
): ChartConfiguration<"line">["data"]["datasets"] {
  return [
    {
      label: `${label} 95 % interval`,
      data: hi,
      borderWidth: 0,
      pointRadius: 0,
      backgroundColor: BAND,
      fill: "+1",
      spanGaps: true,
    },
    { label: "", data: lo, borderWidth: 0, pointRadius: 0, fill: false, spanGaps: true },
  ];
}
