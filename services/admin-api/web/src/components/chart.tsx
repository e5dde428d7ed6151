// A time-series chart (uPlot, drawn on a canvas), with a caption and a text legend for people
// who cannot see it: the figure is an image with a label, the legend lists the latest values.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface SeriesSpec {
  label: string;
  color: string;
}

export function TimeChart(props: { title: string; series: SeriesSpec[]; data: [number[], ...number[][]]; unit: string; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = props.series.map((s) => s.label).join('|');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: props.height ?? 220,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ stroke: '#374151', grid: { stroke: '#e5e7eb' } }, { stroke: '#374151', grid: { stroke: '#e5e7eb' }, size: 56 }],
      series: [{}, ...props.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: false } }))],
    };
    plot.current = new uPlot(opts, props.data as uPlot.AlignedData, el);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(280, el.clientWidth), height: props.height ?? 220 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Recreated only when the set of series changes; data updates go through setData below.
  }, [key]);

  useEffect(() => {
    plot.current?.setData(props.data as uPlot.AlignedData);
  }, [props.data]);

  const latest = props.series.map((s, i) => {
    const col = props.data[i + 1] ?? [];
    return { ...s, value: col.length ? col[col.length - 1]! : 0 };
  });
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} class="chart-canvas" role="img" aria-label={`${props.title}: ${latest.map((l) => `${l.label} ${l.value} ${props.unit}`).join(', ')}`} />
      <ul class="legend">
        {latest.map((l) => (
          <li key={l.label}>
            <span class={`swatch swatch-${l.label.replace(/[^a-z-]/gi, '').toLowerCase()}`} aria-hidden="true" />
            {l.label}: <strong>{l.value}</strong> {props.unit}
          </li>
        ))}
      </ul>
    </figure>
  );
}
