import type { UsageHistoryBucket } from '@keymaster/contract';
import type { ReactElement } from 'react';
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatCount } from '../../ui/format';

const day = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
const hour = new Intl.DateTimeFormat('en-US', { hour: 'numeric', timeZone: 'UTC' });
const dayHour = new Intl.DateTimeFormat('en-US', {
  month: 'short',
  day: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
  timeZone: 'UTC',
});

/** A bucket's start as an axis tick (`Jan 5`, `3 PM`) or in full for the tooltip. */
export function bucketLabel(iso: string, granularity: string, full = false): string {
  const date = new Date(iso);
  if (granularity === 'hour') return full ? `${dayHour.format(date)} UTC` : hour.format(date);
  return day.format(date);
}

/**
 * The usage bars of one feature (recharts, loaded with the customer page's first chart rather
 * than with the console). The caller labels it (`label`) and gives the same numbers as text; the
 * chart itself is one labelled image to assistive technology, without keyboard stops of its own.
 */
export function UsageChart(props: {
  buckets: readonly UsageHistoryBucket[];
  granularity: string;
  label: string;
  unit: string;
}): ReactElement {
  const data = props.buckets.map((bucket) => ({ start: bucket.start, usage: bucket.usage }));
  return (
    <div role="img" aria-label={props.label} style={{ width: '100%', height: 200 }}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={data} accessibilityLayer={false} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="#d9dce3" />
          <XAxis
            dataKey="start"
            tickFormatter={(value: string) => bucketLabel(value, props.granularity)}
            minTickGap={16}
            tick={{ fontSize: 12, fill: '#5b6170' }}
          />
          <YAxis
            allowDecimals={false}
            width={56}
            tickFormatter={(value: number) => formatCount(value)}
            tick={{ fontSize: 12, fill: '#5b6170' }}
          />
          <Tooltip
            labelFormatter={(value) => bucketLabel(String(value), props.granularity, true)}
            formatter={(value) => [`${formatCount(Number(value))} ${props.unit}`.trim(), 'Usage']}
          />
          <Bar dataKey="usage" fill="#3246c8" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
