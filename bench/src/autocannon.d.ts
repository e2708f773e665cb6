// The parts of autocannon 8's programmatic API that the benchmarks use; the package ships no
// types of its own. See node_modules/autocannon/README.md ("API") for the full shape.
declare module 'autocannon' {
  export interface AutocannonRequest {
    method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    /** Called each time the request is about to be sent; what it answers is encoded and sent instead. */
    setupRequest?: (request: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest | null;
  }

  interface AutocannonOptions {
    url: string;
    connections?: number;
    pipelining?: number;
    /** Seconds. */
    duration?: number;
    /** Requests to send in all, instead of a duration. */
    amount?: number;
    /** Seconds without a response before a request counts as a timeout. */
    timeout?: number;
    method?: AutocannonRequest['method'];
    headers?: Record<string, string>;
    body?: string | Buffer;
    /** Sent in turn on every connection; each is encoded once, before the run. */
    requests?: AutocannonRequest[];
  }

  /** One histogram summary: percentiles are properties such as `p50`, `p97_5`, `p99`. */
  interface Histogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    total: number;
    p50: number;
    p90: number;
    p99: number;
    [percentile: string]: number;
  }

  interface AutocannonResult {
    /** Seconds, as measured by autocannon. */
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
    /** Milliseconds (recorded with 1 ms resolution). */
    latency: Histogram;
    /** Requests per second, sampled each second. */
    requests: Histogram & { sent: number };
    /** Bytes per second, sampled each second. */
    throughput: Histogram;
  }

  function autocannon(options: AutocannonOptions): Promise<AutocannonResult>;
  export default autocannon;
}
