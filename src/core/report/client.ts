// The browser half of report.html: turns the chart specs html.ts wrote into uPlot charts.
// Plain ES5-ish JavaScript in a string, because it runs in the page, not in Node; it reads the
// specs from a JSON <script> block and leaves the charts on window.flashsaleCharts so a person
// (or the browser test) can look at what was drawn.

/** One chart, as html.ts describes it: data only, no code. */
export interface ChartSpec {
  id: string;
  title: string;
  kind: 'line' | 'bars';
  xLabel: string;
  yLabel: string;
  /** Line charts: x values (seconds from the start). Bars: 0..n-1, one per category. */
  x: number[];
  categories?: string[];
  series: { label: string; color: string; values: (number | null)[] }[];
}

export const CLIENT_SCRIPT = `
(function () {
  var specs = JSON.parse(document.getElementById('flashsale-charts').textContent);
  var charts = (window.flashsaleCharts = []);
  var fromZero = function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; };
  specs.forEach(function (s) {
    var el = document.getElementById(s.id);
    var bars = s.kind === 'bars';
    var cats = s.categories || [];
    var n = s.series.length;
    var series = [{ label: s.xLabel }];
    s.series.forEach(function (ser, i) {
      var o = { label: ser.label, stroke: ser.color, width: bars ? 0 : 2, spanGaps: false };
      if (bars) {
        o.fill = ser.color;
        o.points = { show: false };
        // grouped bars: the first series left of the category, the second right of it
        o.paths = uPlot.paths.bars({ size: [n > 1 ? 0.35 : 0.6, 80], align: n > 1 ? (i === 0 ? -1 : 1) : 0 });
      }
      series.push(o);
    });
    var xAxis = { label: s.xLabel };
    var scales = { x: { time: false }, y: { range: fromZero } };
    if (bars) {
      scales.x.range = function () { return [-0.5, cats.length - 0.5]; };
      xAxis.splits = function () { return cats.map(function (_, i) { return i; }); };
      xAxis.values = function (u, splits) { return splits.map(function (i) { return cats[i] === undefined ? '' : cats[i]; }); };
      xAxis.grid = { show: false };
      if (cats.length > 5) { xAxis.rotate = -30; xAxis.size = 90; }
    } else {
      xAxis.values = function (u, splits) { return splits.map(function (v) { return v + ' s'; }); };
    }
    var opts = {
      title: s.title,
      width: Math.max(320, el.clientWidth || 900),
      height: 280,
      series: series,
      scales: scales,
      axes: [xAxis, { label: s.yLabel, size: 60 }],
      // labels only: a page read at rest (or a screenshot) has no cursor whose values to show
      legend: { show: true, live: false },
    };
    var data = [s.x].concat(s.series.map(function (ser) { return ser.values; }));
    charts.push({ id: s.id, kind: s.kind, colors: s.series.map(function (ser) { return ser.color; }), plot: new uPlot(opts, data, el) });
  });
})();
`;
