import { describe, expect, it } from 'vitest';
import { type SseEvent, SseParser } from './sse-parser.js';

function parse(chunks: string[], lastEventId = ''): { events: SseEvent[]; retries: number[]; comments: string[] } {
  const events: SseEvent[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const parser = new SseParser(
    {
      onEvent: (e) => events.push(e),
      onRetry: (ms) => retries.push(ms),
      onComment: (text) => comments.push(text),
    },
    lastEventId,
  );
  for (const chunk of chunks) parser.push(chunk);
  return { events, retries, comments };
}

describe('SseParser', () => {
  it.each([
    ['LF', ['event: customer\nid: 7\ndata: {"a":1}\n\n']],
    ['CRLF', ['event: customer\r\nid: 7\r\ndata: {"a":1}\r\n\r\n']],
    ['CR', ['event: customer\rid: 7\rdata: {"a":1}\r\r']],
    ['split anywhere', ['event: cus', 'tomer\r', '\nid: 7\r', '\ndata: {"a"', ':1}\r', '\n\r', '\n']],
  ])('parses one event with %s line ends', (_name, chunks) => {
    expect(parse(chunks).events).toEqual([{ event: 'customer', data: '{"a":1}', lastEventId: '7' }]);
  });

  it('skips comments, joins data lines, keeps the id across events and drops events without data', () => {
    const { events, retries } = parse([
      ': keepalive\n\nretry: 2000\nretry: x\nid: 3\n\ndata: a\ndata:b\n\nevent: usage\n\n',
    ]);
    expect(events).toEqual([{ event: 'message', data: 'a\nb', lastEventId: '3' }]);
    expect(retries).toEqual([2000]);
  });

  it('hands over each comment line, also one split across chunks or inside an event', () => {
    const { events, comments } = parse([': keepalive\n\n:', 'no space\r\ndata: a\n:  two spaces\n:\n\n']);
    expect(comments).toEqual(['keepalive', 'no space', ' two spaces', '']);
    expect(events).toEqual([{ event: 'message', data: 'a', lastEventId: '' }]);
  });

  it('ignores ids with NUL and unknown fields, and drops an event cut off by the end of the stream', () => {
    const { events } = parse(['id: 1\u00002\nfoo: bar\ndata\n\ndata: unfinished'], '9');
    expect(events).toEqual([{ event: 'message', data: '', lastEventId: '9' }]);
  });
});
