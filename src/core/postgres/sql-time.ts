// Time in SQL is the caller's clock, never the database's now(): tests and simulations move
// time, and latencies are measured on the caller's clock. These turn epoch ms to and from
// timestamptz, exact to the millisecond, for every schema flashsale writes.

/** Epoch ms (the caller's clock, never the database's now()) as a timestamptz, exact to the ms. */
export const msToTs = (param: string): string => `(timestamptz 'epoch' + ${param}::bigint * interval '1 millisecond')`;
export const tsToMs = (column: string): string => `(extract(epoch FROM ${column}) * 1000)::float8`;
